from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="PageApiKeyItemsItem")


@_attrs_define
class PageApiKeyItemsItem:
    """An API key, without its secret.

    Attributes:
        id (str): Key id (the part after `fjk_`).
        principal_id (str): The user or service account it authenticates.
        name (str): A label.
        created_at (str): Creation time (RFC 3339).
        revoked_at (None | str | Unset): Revocation time, when revoked.
    """

    id: str
    principal_id: str
    name: str
    created_at: str
    revoked_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        principal_id = self.principal_id

        name = self.name

        created_at = self.created_at

        revoked_at: None | str | Unset
        if isinstance(self.revoked_at, Unset):
            revoked_at = UNSET
        else:
            revoked_at = self.revoked_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "principal_id": principal_id,
                "name": name,
                "created_at": created_at,
            }
        )
        if revoked_at is not UNSET:
            field_dict["revoked_at"] = revoked_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        principal_id = d.pop("principal_id")

        name = d.pop("name")

        created_at = d.pop("created_at")

        def _parse_revoked_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        revoked_at = _parse_revoked_at(d.pop("revoked_at", UNSET))

        page_api_key_items_item = cls(
            id=id,
            principal_id=principal_id,
            name=name,
            created_at=created_at,
            revoked_at=revoked_at,
        )

        page_api_key_items_item.additional_properties = d
        return page_api_key_items_item

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
