from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.message import Message


T = TypeVar("T", bound="MessagePage")


@_attrs_define
class MessagePage:
    """Records of one partition.

    Attributes:
        topic (str): Topic name.
        partition (int): Partition.
        log_start_offset (int): First offset still in the partition.
        high_watermark (int): Offset the next produced record will get.
        next_offset (int): Offset to ask for to read on after this page.
        truncated (bool): Whether the page stopped before `limit` records because of the byte bound.
        messages (list[Message]): Records, by offset.
    """

    topic: str
    partition: int
    log_start_offset: int
    high_watermark: int
    next_offset: int
    truncated: bool
    messages: list[Message]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        topic = self.topic

        partition = self.partition

        log_start_offset = self.log_start_offset

        high_watermark = self.high_watermark

        next_offset = self.next_offset

        truncated = self.truncated

        messages = []
        for messages_item_data in self.messages:
            messages_item = messages_item_data.to_dict()
            messages.append(messages_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "topic": topic,
                "partition": partition,
                "log_start_offset": log_start_offset,
                "high_watermark": high_watermark,
                "next_offset": next_offset,
                "truncated": truncated,
                "messages": messages,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.message import Message  # noqa: PLC0415

        d = dict(src_dict)
        topic = d.pop("topic")

        partition = d.pop("partition")

        log_start_offset = d.pop("log_start_offset")

        high_watermark = d.pop("high_watermark")

        next_offset = d.pop("next_offset")

        truncated = d.pop("truncated")

        messages = []
        _messages = d.pop("messages")
        for messages_item_data in _messages:
            messages_item = Message.from_dict(messages_item_data)

            messages.append(messages_item)

        message_page = cls(
            topic=topic,
            partition=partition,
            log_start_offset=log_start_offset,
            high_watermark=high_watermark,
            next_offset=next_offset,
            truncated=truncated,
            messages=messages,
        )

        message_page.additional_properties = d
        return message_page

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
