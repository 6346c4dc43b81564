from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="CreateApiKey")


@_attrs_define
class CreateApiKey:
    """An API key to create.

    Attributes:
        principal_id (str): The user or service account of this tenant it authenticates.
        name (str): A label, e.g. `ci`.
    """

    principal_id: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        principal_id = self.principal_id

        name = self.name

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "principal_id": principal_id,
                "name": name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        principal_id = d.pop("principal_id")

        name = d.pop("name")

        create_api_key = cls(
            principal_id=principal_id,
            name=name,
        )

        return create_api_key
