from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="UsageRow")


@_attrs_define
class UsageRow:
    """One period of one cluster (and topic).

    Attributes:
        period_start (str): Start of the period (RFC 3339, UTC).
        cluster_id (str): The cluster.
        bytes_in (int): Record-batch bytes produced.
        records_in (int): Records produced.
        bytes_out (int): Record-batch bytes consumed.
        records_out (int): Records consumed.
        storage_gb_hours (float): Storage in GB-hours (10^9 bytes kept for one hour).
        partition_hours (float): Partition-hours (as the brokers metered them).
        cluster_hours (float): Hours the cluster was `ready` or `updating` (from its state history; on the rows of
            `group_by=cluster` only).
        topic (None | str | Unset): The topic (with `group_by=topic`).
    """

    period_start: str
    cluster_id: str
    bytes_in: int
    records_in: int
    bytes_out: int
    records_out: int
    storage_gb_hours: float
    partition_hours: float
    cluster_hours: float
    topic: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        period_start = self.period_start

        cluster_id = self.cluster_id

        bytes_in = self.bytes_in

        records_in = self.records_in

        bytes_out = self.bytes_out

        records_out = self.records_out

        storage_gb_hours = self.storage_gb_hours

        partition_hours = self.partition_hours

        cluster_hours = self.cluster_hours

        topic: None | str | Unset
        if isinstance(self.topic, Unset):
            topic = UNSET
        else:
            topic = self.topic

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "period_start": period_start,
                "cluster_id": cluster_id,
                "bytes_in": bytes_in,
                "records_in": records_in,
                "bytes_out": bytes_out,
                "records_out": records_out,
                "storage_gb_hours": storage_gb_hours,
                "partition_hours": partition_hours,
                "cluster_hours": cluster_hours,
            }
        )
        if topic is not UNSET:
            field_dict["topic"] = topic

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        period_start = d.pop("period_start")

        cluster_id = d.pop("cluster_id")

        bytes_in = d.pop("bytes_in")

        records_in = d.pop("records_in")

        bytes_out = d.pop("bytes_out")

        records_out = d.pop("records_out")

        storage_gb_hours = d.pop("storage_gb_hours")

        partition_hours = d.pop("partition_hours")

        cluster_hours = d.pop("cluster_hours")

        def _parse_topic(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        topic = _parse_topic(d.pop("topic", UNSET))

        usage_row = cls(
            period_start=period_start,
            cluster_id=cluster_id,
            bytes_in=bytes_in,
            records_in=records_in,
            bytes_out=bytes_out,
            records_out=records_out,
            storage_gb_hours=storage_gb_hours,
            partition_hours=partition_hours,
            cluster_hours=cluster_hours,
            topic=topic,
        )

        usage_row.additional_properties = d
        return usage_row

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
