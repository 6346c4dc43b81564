from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_topic_configs import CreateTopicConfigs


T = TypeVar("T", bound="CreateTopic")


@_attrs_define
class CreateTopic:
    """A topic to create.

    Attributes:
        name (str): 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-'.
        partitions (int | Unset): Number of partitions, 1 to 10000 (default 1).
        replication_factor (int | None | Unset): Replication factor (default: the cluster's broker count, at most 3).
        configs (CreateTopicConfigs | Unset): Topic configs, e.g. `{"retention.ms": "86400000"}`.
    """

    name: str
    partitions: int | Unset = UNSET
    replication_factor: int | None | Unset = UNSET
    configs: CreateTopicConfigs | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        partitions = self.partitions

        replication_factor: int | None | Unset
        if isinstance(self.replication_factor, Unset):
            replication_factor = UNSET
        else:
            replication_factor = self.replication_factor

        configs: dict[str, Any] | Unset = UNSET
        if not isinstance(self.configs, Unset):
            configs = self.configs.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if partitions is not UNSET:
            field_dict["partitions"] = partitions
        if replication_factor is not UNSET:
            field_dict["replication_factor"] = replication_factor
        if configs is not UNSET:
            field_dict["configs"] = configs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_topic_configs import CreateTopicConfigs  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        partitions = d.pop("partitions", UNSET)

        def _parse_replication_factor(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        replication_factor = _parse_replication_factor(d.pop("replication_factor", UNSET))

        _configs = d.pop("configs", UNSET)
        configs: CreateTopicConfigs | Unset
        if isinstance(_configs, Unset):
            configs = UNSET
        else:
            configs = CreateTopicConfigs.from_dict(_configs)

        create_topic = cls(
            name=name,
            partitions=partitions,
            replication_factor=replication_factor,
            configs=configs,
        )

        return create_topic
