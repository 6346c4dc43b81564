from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.limits_input import LimitsInput


T = TypeVar("T", bound="UpdateCluster")


@_attrs_define
class UpdateCluster:
    """A change of limits.

    Attributes:
        limits (LimitsInput): Limits to set; absent fields keep their value (or the default, at creation).
    """

    limits: LimitsInput

    def to_dict(self) -> dict[str, Any]:
        limits = self.limits.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "limits": limits,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.limits_input import LimitsInput  # noqa: PLC0415

        d = dict(src_dict)
        limits = LimitsInput.from_dict(d.pop("limits"))

        update_cluster = cls(
            limits=limits,
        )

        return update_cluster
