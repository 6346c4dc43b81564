from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.message_header import MessageHeader
    from ..models.payload import Payload


T = TypeVar("T", bound="Message")


@_attrs_define
class Message:
    """One record.

    Attributes:
        offset (int): Offset in the partition.
        headers (list[MessageHeader]): Headers, in order.
        timestamp (None | str | Unset): The record's timestamp (RFC 3339), when it has one.
        key (None | Payload | Unset):
        value (None | Payload | Unset):
    """

    offset: int
    headers: list[MessageHeader]
    timestamp: None | str | Unset = UNSET
    key: None | Payload | Unset = UNSET
    value: None | Payload | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.payload import Payload  # noqa: PLC0415

        offset = self.offset

        headers = []
        for headers_item_data in self.headers:
            headers_item = headers_item_data.to_dict()
            headers.append(headers_item)

        timestamp: None | str | Unset
        if isinstance(self.timestamp, Unset):
            timestamp = UNSET
        else:
            timestamp = self.timestamp

        key: dict[str, Any] | None | Unset
        if isinstance(self.key, Unset):
            key = UNSET
        elif isinstance(self.key, Payload):
            key = self.key.to_dict()
        else:
            key = self.key

        value: dict[str, Any] | None | Unset
        if isinstance(self.value, Unset):
            value = UNSET
        elif isinstance(self.value, Payload):
            value = self.value.to_dict()
        else:
            value = self.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "offset": offset,
                "headers": headers,
            }
        )
        if timestamp is not UNSET:
            field_dict["timestamp"] = timestamp
        if key is not UNSET:
            field_dict["key"] = key
        if value is not UNSET:
            field_dict["value"] = value

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.message_header import MessageHeader  # noqa: PLC0415
        from ..models.payload import Payload  # noqa: PLC0415

        d = dict(src_dict)
        offset = d.pop("offset")

        headers = []
        _headers = d.pop("headers")
        for headers_item_data in _headers:
            headers_item = MessageHeader.from_dict(headers_item_data)

            headers.append(headers_item)

        def _parse_timestamp(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        timestamp = _parse_timestamp(d.pop("timestamp", UNSET))

        def _parse_key(data: object) -> None | Payload | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                key_type_0 = Payload.from_dict(data)

                return key_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Payload | Unset, data)

        key = _parse_key(d.pop("key", UNSET))

        def _parse_value(data: object) -> None | Payload | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                value_type_0 = Payload.from_dict(data)

                return value_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Payload | Unset, data)

        value = _parse_value(d.pop("value", UNSET))

        message = cls(
            offset=offset,
            headers=headers,
            timestamp=timestamp,
            key=key,
            value=value,
        )

        message.additional_properties = d
        return message

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
