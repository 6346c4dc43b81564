from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.invoice_kind import InvoiceKind
from ..models.invoice_status import InvoiceStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.invoice_line import InvoiceLine


T = TypeVar("T", bound="Invoice")


@_attrs_define
class Invoice:
    """An invoice.

    Attributes:
        id (str): `YYYY-MM` for the month's invoice, `YYYY-MM-A<n>` for its adjustments.
        tenant_id (str): The tenant.
        kind (InvoiceKind): A month's invoice or an adjustment of it.
        status (InvoiceStatus): Draft or final.
        period_start (str): Start of the month (RFC 3339).
        period_end (str): End of the month (RFC 3339, exclusive).
        computed_until (str): Usage up to (RFC 3339): now for a draft, the period's end for a final invoice.
        currency (str): ISO 4217 code.
        total (str): Sum of the lines' amounts (decimal string).
        lines (list[InvoiceLine]): Lines, by cluster and dimension.
        issued_at (None | str | Unset): When it was finalised (RFC 3339).
        adjusts (None | str | Unset): The invoice an adjustment corrects.
    """

    id: str
    tenant_id: str
    kind: InvoiceKind
    status: InvoiceStatus
    period_start: str
    period_end: str
    computed_until: str
    currency: str
    total: str
    lines: list[InvoiceLine]
    issued_at: None | str | Unset = UNSET
    adjusts: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        tenant_id = self.tenant_id

        kind = self.kind.value

        status = self.status.value

        period_start = self.period_start

        period_end = self.period_end

        computed_until = self.computed_until

        currency = self.currency

        total = self.total

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        issued_at: None | str | Unset
        if isinstance(self.issued_at, Unset):
            issued_at = UNSET
        else:
            issued_at = self.issued_at

        adjusts: None | str | Unset
        if isinstance(self.adjusts, Unset):
            adjusts = UNSET
        else:
            adjusts = self.adjusts

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "tenant_id": tenant_id,
                "kind": kind,
                "status": status,
                "period_start": period_start,
                "period_end": period_end,
                "computed_until": computed_until,
                "currency": currency,
                "total": total,
                "lines": lines,
            }
        )
        if issued_at is not UNSET:
            field_dict["issued_at"] = issued_at
        if adjusts is not UNSET:
            field_dict["adjusts"] = adjusts

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.invoice_line import InvoiceLine  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        tenant_id = d.pop("tenant_id")

        kind = InvoiceKind(d.pop("kind"))

        status = InvoiceStatus(d.pop("status"))

        period_start = d.pop("period_start")

        period_end = d.pop("period_end")

        computed_until = d.pop("computed_until")

        currency = d.pop("currency")

        total = d.pop("total")

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = InvoiceLine.from_dict(lines_item_data)

            lines.append(lines_item)

        def _parse_issued_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        issued_at = _parse_issued_at(d.pop("issued_at", UNSET))

        def _parse_adjusts(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        adjusts = _parse_adjusts(d.pop("adjusts", UNSET))

        invoice = cls(
            id=id,
            tenant_id=tenant_id,
            kind=kind,
            status=status,
            period_start=period_start,
            period_end=period_end,
            computed_until=computed_until,
            currency=currency,
            total=total,
            lines=lines,
            issued_at=issued_at,
            adjusts=adjusts,
        )

        invoice.additional_properties = d
        return invoice

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
