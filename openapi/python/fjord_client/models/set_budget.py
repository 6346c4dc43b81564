from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="SetBudget")


@_attrs_define
class SetBudget:
    """A budget to set.

    Attributes:
        monthly_amount (str): Spending limit per calendar month (decimal string > 0, at most 2 decimal places).
        webhook_url (None | str | Unset): `http://host:port/path` to POST alerts to (https is not supported yet).
    """

    monthly_amount: str
    webhook_url: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        monthly_amount = self.monthly_amount

        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "monthly_amount": monthly_amount,
            }
        )
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        monthly_amount = d.pop("monthly_amount")

        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))

        set_budget = cls(
            monthly_amount=monthly_amount,
            webhook_url=webhook_url,
        )

        return set_budget
