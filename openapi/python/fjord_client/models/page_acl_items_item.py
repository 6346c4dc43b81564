from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.acl_operation import AclOperation
from ..models.acl_permission import AclPermission
from ..models.pattern_type import PatternType
from ..models.resource_type import ResourceType

T = TypeVar("T", bound="PageAclItemsItem")


@_attrs_define
class PageAclItemsItem:
    """An ACL.

    Attributes:
        id (str): ACL id.
        cluster_id (str): The cluster.
        principal (str): `User:<username>`.
        resource_type (ResourceType): Kafka resource types.
        pattern_type (PatternType): How `resource_name` matches.
        resource_name (str): Resource name (or prefix).
        operation (AclOperation): Kafka operations.
        permission (AclPermission): Allow or deny.
        created_at (str): Creation time (RFC 3339).
    """

    id: str
    cluster_id: str
    principal: str
    resource_type: ResourceType
    pattern_type: PatternType
    resource_name: str
    operation: AclOperation
    permission: AclPermission
    created_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        cluster_id = self.cluster_id

        principal = self.principal

        resource_type = self.resource_type.value

        pattern_type = self.pattern_type.value

        resource_name = self.resource_name

        operation = self.operation.value

        permission = self.permission.value

        created_at = self.created_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "cluster_id": cluster_id,
                "principal": principal,
                "resource_type": resource_type,
                "pattern_type": pattern_type,
                "resource_name": resource_name,
                "operation": operation,
                "permission": permission,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        cluster_id = d.pop("cluster_id")

        principal = d.pop("principal")

        resource_type = ResourceType(d.pop("resource_type"))

        pattern_type = PatternType(d.pop("pattern_type"))

        resource_name = d.pop("resource_name")

        operation = AclOperation(d.pop("operation"))

        permission = AclPermission(d.pop("permission"))

        created_at = d.pop("created_at")

        page_acl_items_item = cls(
            id=id,
            cluster_id=cluster_id,
            principal=principal,
            resource_type=resource_type,
            pattern_type=pattern_type,
            resource_name=resource_name,
            operation=operation,
            permission=permission,
            created_at=created_at,
        )

        page_acl_items_item.additional_properties = d
        return page_acl_items_item

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
