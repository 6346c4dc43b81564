from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.encoding import Encoding

T = TypeVar("T", bound="Payload")


@_attrs_define
class Payload:
    """A key, value or header value.

    Attributes:
        encoding (Encoding): How a payload's `data` is written.
        data (str): The bytes (the first 65536 at most).
        size (int): Size of the whole payload in bytes.
        truncated (bool): Whether `data` holds only the first bytes.
    """

    encoding: Encoding
    data: str
    size: int
    truncated: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        encoding = self.encoding.value

        data = self.data

        size = self.size

        truncated = self.truncated

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "encoding": encoding,
                "data": data,
                "size": size,
                "truncated": truncated,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        encoding = Encoding(d.pop("encoding"))

        data = d.pop("data")

        size = d.pop("size")

        truncated = d.pop("truncated")

        payload = cls(
            encoding=encoding,
            data=data,
            size=size,
            truncated=truncated,
        )

        payload.additional_properties = d
        return payload

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
