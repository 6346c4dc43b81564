from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.granularity import Granularity
from ..models.group_by import GroupBy

if TYPE_CHECKING:
    from ..models.usage_row import UsageRow


T = TypeVar("T", bound="UsageReport")


@_attrs_define
class UsageReport:
    """The usage report.

    Attributes:
        from_ (str): Start (RFC 3339).
        to (str): End (RFC 3339).
        granularity (Granularity): Period length of the report's rows.
        group_by (GroupBy): What the report's rows are split by, besides the period.
        items (list[UsageRow]): Rows, by period, cluster and topic.
    """

    from_: str
    to: str
    granularity: Granularity
    group_by: GroupBy
    items: list[UsageRow]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from_ = self.from_

        to = self.to

        granularity = self.granularity.value

        group_by = self.group_by.value

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "from": from_,
                "to": to,
                "granularity": granularity,
                "group_by": group_by,
                "items": items,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.usage_row import UsageRow  # noqa: PLC0415

        d = dict(src_dict)
        from_ = d.pop("from")

        to = d.pop("to")

        granularity = Granularity(d.pop("granularity"))

        group_by = GroupBy(d.pop("group_by"))

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = UsageRow.from_dict(items_item_data)

            items.append(items_item)

        usage_report = cls(
            from_=from_,
            to=to,
            granularity=granularity,
            group_by=group_by,
            items=items,
        )

        usage_report.additional_properties = d
        return usage_report

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
