from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.topic_configs import TopicConfigs


T = TypeVar("T", bound="Topic")


@_attrs_define
class Topic:
    """A topic.

    Attributes:
        name (str): Topic name.
        topic_id (str): Kafka's stable topic id.
        partitions (int): Number of partitions.
        replication_factor (int): Replication factor.
        configs (TopicConfigs): Configs set on the topic (defaults are not listed).
    """

    name: str
    topic_id: str
    partitions: int
    replication_factor: int
    configs: TopicConfigs
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
        from ..models.topic_configs import TopicConfigs  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        topic_id = d.pop("topic_id")

        partitions = d.pop("partitions")

        replication_factor = d.pop("replication_factor")

        configs = TopicConfigs.from_dict(d.pop("configs"))

        topic = cls(
            name=name,
            topic_id=topic_id,
            partitions=partitions,
            replication_factor=replication_factor,
            configs=configs,
        )

        topic.additional_properties = d
        return topic

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
