from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.unit_prices import UnitPrices


T = TypeVar("T", bound="NewPriceBook")


@_attrs_define
class NewPriceBook:
    """A new price book version (also the format of the `--price-book` file, JSON).

    Attributes:
        currency (str): ISO 4217 code: three capital letters.
        prices (UnitPrices): Unit prices, as decimal strings (no floating point).
        effective_from (None | str | Unset): In force from (RFC 3339, a whole UTC hour); default: the start of the next
            hour.
            A version changing the currency must start at the start of a UTC month (an invoice
            has one currency).
        note (None | str | Unset): A note for the record.
    """

    currency: str
    prices: UnitPrices
    effective_from: None | str | Unset = UNSET
    note: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        prices = self.prices.to_dict()

        effective_from: None | str | Unset
        if isinstance(self.effective_from, Unset):
            effective_from = UNSET
        else:
            effective_from = self.effective_from

        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "currency": currency,
                "prices": prices,
            }
        )
        if effective_from is not UNSET:
            field_dict["effective_from"] = effective_from
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.unit_prices import UnitPrices  # noqa: PLC0415

        d = dict(src_dict)
        currency = d.pop("currency")

        prices = UnitPrices.from_dict(d.pop("prices"))

        def _parse_effective_from(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        effective_from = _parse_effective_from(d.pop("effective_from", UNSET))

        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        note = _parse_note(d.pop("note", UNSET))

        new_price_book = cls(
            currency=currency,
            prices=prices,
            effective_from=effective_from,
            note=note,
        )

        return new_price_book
