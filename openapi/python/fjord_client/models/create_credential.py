from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="CreateCredential")


@_attrs_define
class CreateCredential:
    """A credential to create.

    Attributes:
        name (str): 1 to 63 of a-z, 0-9 and '-'; the username is `<tenant name>.<name>`.
    """

    name: str

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        create_credential = cls(
            name=name,
        )

        return create_credential
