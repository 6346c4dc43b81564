from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="UnitPrices")


@_attrs_define
class UnitPrices:
    """Unit prices, as decimal strings (no floating point).

    Attributes:
        data_in_per_gb (str): Per GB (10^9 bytes) produced, e.g. `"0.10"`.
        data_out_per_gb (str): Per GB consumed, e.g. `"0.05"`.
        storage_per_gb_month (str): Per GB-month stored (prorated by the hour), e.g. `"0.10"`.
        partition_hour (str): Per partition-hour, e.g. `"0.0015"`.
        cluster_hour (str): Per cluster-hour, e.g. `"0.75"`.
    """

    data_in_per_gb: str
    data_out_per_gb: str
    storage_per_gb_month: str
    partition_hour: str
    cluster_hour: str

    def to_dict(self) -> dict[str, Any]:
        data_in_per_gb = self.data_in_per_gb

        data_out_per_gb = self.data_out_per_gb

        storage_per_gb_month = self.storage_per_gb_month

        partition_hour = self.partition_hour

        cluster_hour = self.cluster_hour

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "data_in_per_gb": data_in_per_gb,
                "data_out_per_gb": data_out_per_gb,
                "storage_per_gb_month": storage_per_gb_month,
                "partition_hour": partition_hour,
                "cluster_hour": cluster_hour,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        data_in_per_gb = d.pop("data_in_per_gb")

        data_out_per_gb = d.pop("data_out_per_gb")

        storage_per_gb_month = d.pop("storage_per_gb_month")

        partition_hour = d.pop("partition_hour")

        cluster_hour = d.pop("cluster_hour")

        unit_prices = cls(
            data_in_per_gb=data_in_per_gb,
            data_out_per_gb=data_out_per_gb,
            storage_per_gb_month=storage_per_gb_month,
            partition_hour=partition_hour,
            cluster_hour=cluster_hour,
        )

        return unit_prices
