from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.unit_prices import UnitPrices


T = TypeVar("T", bound="PriceBook")


@_attrs_define
class PriceBook:
    """A price book version.

    Attributes:
        version (int): Version, from 1 up.
        effective_from (str): In force from (RFC 3339, a whole UTC hour) until a newer version takes over.
        currency (str): ISO 4217 currency code of every price, e.g. `USD`.
        prices (UnitPrices): Unit prices, as decimal strings (no floating point).
        created_at (str): When this version was added (RFC 3339).
        note (None | str | Unset): The operator's note.
    """

    version: int
    effective_from: str
    currency: str
    prices: UnitPrices
    created_at: str
    note: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        version = self.version

        effective_from = self.effective_from

        currency = self.currency

        prices = self.prices.to_dict()

        created_at = self.created_at

        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "version": version,
                "effective_from": effective_from,
                "currency": currency,
                "prices": prices,
                "created_at": created_at,
            }
        )
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.unit_prices import UnitPrices  # noqa: PLC0415

        d = dict(src_dict)
        version = d.pop("version")

        effective_from = d.pop("effective_from")

        currency = d.pop("currency")

        prices = UnitPrices.from_dict(d.pop("prices"))

        created_at = d.pop("created_at")

        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        note = _parse_note(d.pop("note", UNSET))

        price_book = cls(
            version=version,
            effective_from=effective_from,
            currency=currency,
            prices=prices,
            created_at=created_at,
            note=note,
        )

        price_book.additional_properties = d
        return price_book

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
