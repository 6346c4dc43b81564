from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Credential")


@_attrs_define
class Credential:
    """A SASL/SCRAM credential (without its password).

    Attributes:
        id (str): Credential id.
        cluster_id (str): The cluster it authenticates to.
        name (str): The name given at creation.
        username (str): `sasl.username` for Kafka clients.
        mechanisms (list[str]): SASL mechanisms it works with.
        created_at (str): Creation time (RFC 3339).
    """

    id: str
    cluster_id: str
    name: str
    username: str
    mechanisms: list[str]
    created_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        cluster_id = self.cluster_id

        name = self.name

        username = self.username

        mechanisms = self.mechanisms

        created_at = self.created_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "cluster_id": cluster_id,
                "name": name,
                "username": username,
                "mechanisms": mechanisms,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        cluster_id = d.pop("cluster_id")

        name = d.pop("name")

        username = d.pop("username")

        mechanisms = cast(list[str], d.pop("mechanisms"))

        created_at = d.pop("created_at")

        credential = cls(
            id=id,
            cluster_id=cluster_id,
            name=name,
            username=username,
            mechanisms=mechanisms,
            created_at=created_at,
        )

        credential.additional_properties = d
        return credential

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
