from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.alter_topic_configs import AlterTopicConfigs


T = TypeVar("T", bound="AlterTopic")


@_attrs_define
class AlterTopic:
    """Config changes: a value sets, `null` resets to the default.

    Attributes:
        configs (AlterTopicConfigs): Configs to set (string) or reset (`null`).
    """

    configs: AlterTopicConfigs

    def to_dict(self) -> dict[str, Any]:
        configs = self.configs.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "configs": configs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.alter_topic_configs import AlterTopicConfigs  # noqa: PLC0415

        d = dict(src_dict)
        configs = AlterTopicConfigs.from_dict(d.pop("configs"))

        alter_topic = cls(
            configs=configs,
        )

        return alter_topic
