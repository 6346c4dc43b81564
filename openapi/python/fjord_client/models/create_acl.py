from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.acl_operation import AclOperation
from ..models.acl_permission import AclPermission
from ..models.pattern_type import PatternType
from ..models.resource_type import ResourceType

T = TypeVar("T", bound="CreateAcl")


@_attrs_define
class CreateAcl:
    """An ACL to create.

    Attributes:
        principal (str): `User:<username>`, e.g. a credential's username, or `User:*`.
        resource_type (ResourceType): Kafka resource types.
        pattern_type (PatternType): How `resource_name` matches.
        resource_name (str): Resource name (or prefix); `kafka-cluster` for the cluster.
        operation (AclOperation): Kafka operations.
        permission (AclPermission): Allow or deny.
    """

    principal: str
    resource_type: ResourceType
    pattern_type: PatternType
    resource_name: str
    operation: AclOperation
    permission: AclPermission

    def to_dict(self) -> dict[str, Any]:
        principal = self.principal

        resource_type = self.resource_type.value

        pattern_type = self.pattern_type.value

        resource_name = self.resource_name

        operation = self.operation.value

        permission = self.permission.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "principal": principal,
                "resource_type": resource_type,
                "pattern_type": pattern_type,
                "resource_name": resource_name,
                "operation": operation,
                "permission": permission,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        principal = d.pop("principal")

        resource_type = ResourceType(d.pop("resource_type"))

        pattern_type = PatternType(d.pop("pattern_type"))

        resource_name = d.pop("resource_name")

        operation = AclOperation(d.pop("operation"))

        permission = AclPermission(d.pop("permission"))

        create_acl = cls(
            principal=principal,
            resource_type=resource_type,
            pattern_type=pattern_type,
            resource_name=resource_name,
            operation=operation,
            permission=permission,
        )

        return create_acl
