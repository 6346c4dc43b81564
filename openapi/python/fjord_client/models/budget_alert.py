from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BudgetAlert")


@_attrs_define
class BudgetAlert:
    """A threshold of the budget crossed in a month.

    Attributes:
        id (str): Alert id.
        tenant_id (str): The tenant.
        kind (str): Always `budget_threshold_crossed`.
        period_start (str): The month (its start, RFC 3339).
        threshold_percent (int): 50, 80 or 100.
        spent (str): The draft invoice's total when the alert was raised (decimal string).
        budget (str): The budget then (decimal string).
        currency (str): Currency of both.
        created_at (str): When (RFC 3339).
        webhook_state (str): `none` (no webhook), `pending`, `delivered` or `failed` (after the last attempt).
    """

    id: str
    tenant_id: str
    kind: str
    period_start: str
    threshold_percent: int
    spent: str
    budget: str
    currency: str
    created_at: str
    webhook_state: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        tenant_id = self.tenant_id

        kind = self.kind

        period_start = self.period_start

        threshold_percent = self.threshold_percent

        spent = self.spent

        budget = self.budget

        currency = self.currency

        created_at = self.created_at

        webhook_state = self.webhook_state

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "tenant_id": tenant_id,
                "kind": kind,
                "period_start": period_start,
                "threshold_percent": threshold_percent,
                "spent": spent,
                "budget": budget,
                "currency": currency,
                "created_at": created_at,
                "webhook_state": webhook_state,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        tenant_id = d.pop("tenant_id")

        kind = d.pop("kind")

        period_start = d.pop("period_start")

        threshold_percent = d.pop("threshold_percent")

        spent = d.pop("spent")

        budget = d.pop("budget")

        currency = d.pop("currency")

        created_at = d.pop("created_at")

        webhook_state = d.pop("webhook_state")

        budget_alert = cls(
            id=id,
            tenant_id=tenant_id,
            kind=kind,
            period_start=period_start,
            threshold_percent=threshold_percent,
            spent=spent,
            budget=budget,
            currency=currency,
            created_at=created_at,
            webhook_state=webhook_state,
        )

        budget_alert.additional_properties = d
        return budget_alert

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
