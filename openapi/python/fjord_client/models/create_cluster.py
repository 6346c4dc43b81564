from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.limits_input import LimitsInput


T = TypeVar("T", bound="CreateCluster")


@_attrs_define
class CreateCluster:
    """A cluster to create.

    Attributes:
        name (str): 1 to 63 of a-z, 0-9 and '-'.
        limits (LimitsInput | Unset): Limits to set; absent fields keep their value (or the default, at creation).
    """

    name: str
    limits: LimitsInput | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        limits: dict[str, Any] | Unset = UNSET
        if not isinstance(self.limits, Unset):
            limits = self.limits.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if limits is not UNSET:
            field_dict["limits"] = limits

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.limits_input import LimitsInput  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        _limits = d.pop("limits", UNSET)
        limits: LimitsInput | Unset
        if isinstance(_limits, Unset):
            limits = UNSET
        else:
            limits = LimitsInput.from_dict(_limits)

        create_cluster = cls(
            name=name,
            limits=limits,
        )

        return create_cluster
