from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="AddPartitions")


@_attrs_define
class AddPartitions:
    """Grow a topic.

    Attributes:
        partitions (int): The new total number of partitions (more than now; partitions cannot be removed).
    """

    partitions: int

    def to_dict(self) -> dict[str, Any]:
        partitions = self.partitions

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "partitions": partitions,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        partitions = d.pop("partitions")

        add_partitions = cls(
            partitions=partitions,
        )

        return add_partitions
