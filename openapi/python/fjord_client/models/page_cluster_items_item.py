from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.cluster_state import ClusterState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cluster_limits import ClusterLimits


T = TypeVar("T", bound="PageClusterItemsItem")


@_attrs_define
class PageClusterItemsItem:
    """A Kafka-compatible cluster of a tenant.

    Attributes:
        id (str): Cluster id.
        tenant_id (str): Owning tenant.
        name (str): Name, unique among the tenant's clusters that are not deleted.
        state (ClusterState): Where a cluster is in its life.
        state_reason (str): Why the cluster is in this state.
        brokers (int): Number of brokers.
        limits (ClusterLimits): A cluster's limits.
        created_at (str): Creation time (RFC 3339).
        updated_at (str): Last change (RFC 3339).
        bootstrap (None | str | Unset): `bootstrap.servers` for Kafka clients, once provisioned.
        ca_cert_pem (None | str | Unset): PEM of the CA clients must trust (`ssl.ca.location`), once provisioned.
    """

    id: str
    tenant_id: str
    name: str
    state: ClusterState
    state_reason: str
    brokers: int
    limits: ClusterLimits
    created_at: str
    updated_at: str
    bootstrap: None | str | Unset = UNSET
    ca_cert_pem: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        tenant_id = self.tenant_id

        name = self.name

        state = self.state.value

        state_reason = self.state_reason

        brokers = self.brokers

        limits = self.limits.to_dict()

        created_at = self.created_at

        updated_at = self.updated_at

        bootstrap: None | str | Unset
        if isinstance(self.bootstrap, Unset):
            bootstrap = UNSET
        else:
            bootstrap = self.bootstrap

        ca_cert_pem: None | str | Unset
        if isinstance(self.ca_cert_pem, Unset):
            ca_cert_pem = UNSET
        else:
            ca_cert_pem = self.ca_cert_pem

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "tenant_id": tenant_id,
                "name": name,
                "state": state,
                "state_reason": state_reason,
                "brokers": brokers,
                "limits": limits,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )
        if bootstrap is not UNSET:
            field_dict["bootstrap"] = bootstrap
        if ca_cert_pem is not UNSET:
            field_dict["ca_cert_pem"] = ca_cert_pem

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cluster_limits import ClusterLimits  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        tenant_id = d.pop("tenant_id")

        name = d.pop("name")

        state = ClusterState(d.pop("state"))

        state_reason = d.pop("state_reason")

        brokers = d.pop("brokers")

        limits = ClusterLimits.from_dict(d.pop("limits"))

        created_at = d.pop("created_at")

        updated_at = d.pop("updated_at")

        def _parse_bootstrap(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        bootstrap = _parse_bootstrap(d.pop("bootstrap", UNSET))

        def _parse_ca_cert_pem(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ca_cert_pem = _parse_ca_cert_pem(d.pop("ca_cert_pem", UNSET))

        page_cluster_items_item = cls(
            id=id,
            tenant_id=tenant_id,
            name=name,
            state=state,
            state_reason=state_reason,
            brokers=brokers,
            limits=limits,
            created_at=created_at,
            updated_at=updated_at,
            bootstrap=bootstrap,
            ca_cert_pem=ca_cert_pem,
        )

        page_cluster_items_item.additional_properties = d
        return page_cluster_items_item

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
