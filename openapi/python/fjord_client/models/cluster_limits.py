from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ClusterLimits")


@_attrs_define
class ClusterLimits:
    """A cluster's limits.

    Attributes:
        max_partitions (int): Partitions across all topics.
        ingress_mbps (int): Produce throughput, MB/s.
        egress_mbps (int): Consume throughput, MB/s.
    """

    max_partitions: int
    ingress_mbps: int
    egress_mbps: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        max_partitions = self.max_partitions

        ingress_mbps = self.ingress_mbps

        egress_mbps = self.egress_mbps

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "max_partitions": max_partitions,
                "ingress_mbps": ingress_mbps,
                "egress_mbps": egress_mbps,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        max_partitions = d.pop("max_partitions")

        ingress_mbps = d.pop("ingress_mbps")

        egress_mbps = d.pop("egress_mbps")

        cluster_limits = cls(
            max_partitions=max_partitions,
            ingress_mbps=ingress_mbps,
            egress_mbps=egress_mbps,
        )

        cluster_limits.additional_properties = d
        return cluster_limits

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
