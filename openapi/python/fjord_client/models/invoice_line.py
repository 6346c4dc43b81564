from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.dimension import Dimension

T = TypeVar("T", bound="InvoiceLine")


@_attrs_define
class InvoiceLine:
    """One line: a cluster's use of one dimension, priced by one price book version.

    Attributes:
        cluster_id (str): The cluster.
        dimension (Dimension): What is billed.
        quantity (str): Quantity (decimal string, at most 9 decimal places).
        unit (str): Unit of the quantity: `GB`, `GB-month`, `partition-hour` or `cluster-hour`.
        unit_price (str): Price per unit (decimal string).
        price_book_version (int): The price book version of the unit price.
        amount (str): quantity × unit price, rounded half-even to cents (decimal string).
    """

    cluster_id: str
    dimension: Dimension
    quantity: str
    unit: str
    unit_price: str
    price_book_version: int
    amount: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cluster_id = self.cluster_id

        dimension = self.dimension.value

        quantity = self.quantity

        unit = self.unit

        unit_price = self.unit_price

        price_book_version = self.price_book_version

        amount = self.amount

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cluster_id": cluster_id,
                "dimension": dimension,
                "quantity": quantity,
                "unit": unit,
                "unit_price": unit_price,
                "price_book_version": price_book_version,
                "amount": amount,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cluster_id = d.pop("cluster_id")

        dimension = Dimension(d.pop("dimension"))

        quantity = d.pop("quantity")

        unit = d.pop("unit")

        unit_price = d.pop("unit_price")

        price_book_version = d.pop("price_book_version")

        amount = d.pop("amount")

        invoice_line = cls(
            cluster_id=cluster_id,
            dimension=dimension,
            quantity=quantity,
            unit=unit,
            unit_price=unit_price,
            price_book_version=price_book_version,
            amount=amount,
        )

        invoice_line.additional_properties = d
        return invoice_line

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
