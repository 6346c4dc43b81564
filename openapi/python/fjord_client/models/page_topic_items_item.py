from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.page_topic_items_item_configs import PageTopicItemsItemConfigs


T = TypeVar("T", bound="PageTopicItemsItem")


@_attrs_define
class PageTopicItemsItem:
    """A topic.

    Attributes:
        name (str): Topic name.
        topic_id (str): Kafka's stable topic id.
        partitions (int): Number of partitions.
        replication_factor (int): Replication factor.
        configs (PageTopicItemsItemConfigs): Configs set on the topic (defaults are not listed).
    """

    name: str
    topic_id: str
    partitions: int
    replication_factor: int
    configs: PageTopicItemsItemConfigs
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        topic_id = self.topic_id

        partitions = self.partitions

        replication_factor = self.replication_factor

        configs = self.configs.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "topic_id": topic_id,
                "partitions": partitions,
                "replication_factor": replication_factor,
                "configs": configs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.page_topic_items_item_configs import PageTopicItemsItemConfigs  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        topic_id = d.pop("topic_id")

        partitions = d.pop("partitions")

        replication_factor = d.pop("replication_factor")

        configs = PageTopicItemsItemConfigs.from_dict(d.pop("configs"))

        page_topic_items_item = cls(
            name=name,
            topic_id=topic_id,
            partitions=partitions,
            replication_factor=replication_factor,
            configs=configs,
        )

        page_topic_items_item.additional_properties = d
        return page_topic_items_item

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
