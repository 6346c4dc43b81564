from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.member_kind import MemberKind
from ..models.role import Role
from ..types import UNSET, Unset

T = TypeVar("T", bound="PageMemberItemsItem")


@_attrs_define
class PageMemberItemsItem:
    """A user or service account of a tenant.

    Attributes:
        id (str): Principal id (the `sub` of its tokens).
        tenant_id (str): Owning tenant.
        kind (MemberKind): A user (a person) or a service account (a program).
        name (str): Unique name within the tenant and kind.
        role (Role): What a principal may do.
        created_at (str): Creation time (RFC 3339).
        email (None | str | Unset): E-mail address (users only).
    """

    id: str
    tenant_id: str
    kind: MemberKind
    name: str
    role: Role
    created_at: str
    email: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        tenant_id = self.tenant_id

        kind = self.kind.value

        name = self.name

        role = self.role.value

        created_at = self.created_at

        email: None | str | Unset
        if isinstance(self.email, Unset):
            email = UNSET
        else:
            email = self.email

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "tenant_id": tenant_id,
                "kind": kind,
                "name": name,
                "role": role,
                "created_at": created_at,
            }
        )
        if email is not UNSET:
            field_dict["email"] = email

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        tenant_id = d.pop("tenant_id")

        kind = MemberKind(d.pop("kind"))

        name = d.pop("name")

        role = Role(d.pop("role"))

        created_at = d.pop("created_at")

        def _parse_email(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        email = _parse_email(d.pop("email", UNSET))

        page_member_items_item = cls(
            id=id,
            tenant_id=tenant_id,
            kind=kind,
            name=name,
            role=role,
            created_at=created_at,
            email=email,
        )

        page_member_items_item.additional_properties = d
        return page_member_items_item

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
