from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.cluster_state import ClusterState
from ..types import UNSET, Unset

T = TypeVar("T", bound="PageClusterEventItemsItem")


@_attrs_define
class PageClusterEventItemsItem:
    """One state transition of a cluster.

    Attributes:
        id (str): Event id.
        to_state (ClusterState): Where a cluster is in its life.
        reason (str): Why.
        created_at (str): When (RFC 3339).
        from_state (ClusterState | None | Unset):
    """

    id: str
    to_state: ClusterState
    reason: str
    created_at: str
    from_state: ClusterState | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        to_state = self.to_state.value

        reason = self.reason

        created_at = self.created_at

        from_state: None | str | Unset
        if isinstance(self.from_state, Unset):
            from_state = UNSET
        elif isinstance(self.from_state, ClusterState):
            from_state = self.from_state.value
        else:
            from_state = self.from_state

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "to_state": to_state,
                "reason": reason,
                "created_at": created_at,
            }
        )
        if from_state is not UNSET:
            field_dict["from_state"] = from_state

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        to_state = ClusterState(d.pop("to_state"))

        reason = d.pop("reason")

        created_at = d.pop("created_at")

        def _parse_from_state(data: object) -> ClusterState | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                from_state_type_0 = ClusterState(data)

                return from_state_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ClusterState | None | Unset, data)

        from_state = _parse_from_state(d.pop("from_state", UNSET))

        page_cluster_event_items_item = cls(
            id=id,
            to_state=to_state,
            reason=reason,
            created_at=created_at,
            from_state=from_state,
        )

        page_cluster_event_items_item.additional_properties = d
        return page_cluster_event_items_item

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
