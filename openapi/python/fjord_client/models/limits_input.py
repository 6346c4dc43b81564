from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="LimitsInput")


@_attrs_define
class LimitsInput:
    """Limits to set; absent fields keep their value (or the default, at creation).

    Attributes:
        max_partitions (int | None | Unset): Partitions across all topics, 1 to 100000.
        ingress_mbps (int | None | Unset): Produce throughput, MB/s, 1 to 10000.
        egress_mbps (int | None | Unset): Consume throughput, MB/s, 1 to 10000.
    """

    max_partitions: int | None | Unset = UNSET
    ingress_mbps: int | None | Unset = UNSET
    egress_mbps: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        max_partitions: int | None | Unset
        if isinstance(self.max_partitions, Unset):
            max_partitions = UNSET
        else:
            max_partitions = self.max_partitions

        ingress_mbps: int | None | Unset
        if isinstance(self.ingress_mbps, Unset):
            ingress_mbps = UNSET
        else:
            ingress_mbps = self.ingress_mbps

        egress_mbps: int | None | Unset
        if isinstance(self.egress_mbps, Unset):
            egress_mbps = UNSET
        else:
            egress_mbps = self.egress_mbps

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if max_partitions is not UNSET:
            field_dict["max_partitions"] = max_partitions
        if ingress_mbps is not UNSET:
            field_dict["ingress_mbps"] = ingress_mbps
        if egress_mbps is not UNSET:
            field_dict["egress_mbps"] = egress_mbps

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_max_partitions(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_partitions = _parse_max_partitions(d.pop("max_partitions", UNSET))

        def _parse_ingress_mbps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        ingress_mbps = _parse_ingress_mbps(d.pop("ingress_mbps", UNSET))

        def _parse_egress_mbps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        egress_mbps = _parse_egress_mbps(d.pop("egress_mbps", UNSET))

        limits_input = cls(
            max_partitions=max_partitions,
            ingress_mbps=ingress_mbps,
            egress_mbps=egress_mbps,
        )

        return limits_input
