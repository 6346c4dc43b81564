//! The broker's authorizer: tenant isolation first, then super users, then ACLs.
//!
//! Tenant isolation (`fjord.tenant.isolation`) holds whatever the ACLs say and whether or not
//! the authorizer is on: a principal with a tenant may only name topics, groups and
//! transactional ids of its tenant, and on the cluster may only create (topics in its
//! namespace), write idempotently and describe. Managing ACLs, credentials, quotas or broker
//! configs is for principals without a tenant (operators and the control plane).

use std::net::IpAddr;
use std::sync::Arc;

use super::Principal;
use super::acl::{AclBinding, AclFilter, Decision, Operation, ResourceType, decide};
use crate::broker::{ApiError, Broker};
use crate::cluster::rpc::{ControllerRequest, ControllerResult};

/// The name of the cluster resource.
pub const CLUSTER: &str = "kafka-cluster";

impl Broker {
    /// Every stored ACL.
    pub fn acls(&self) -> Arc<Vec<AclBinding>> {
        self.acls.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether ACLs are enforced (`authorizer.class.name` is set).
    pub fn authorizer_enabled(&self) -> bool {
        self.config.security.authorizer
    }

    /// Stores validated bindings through the controller; ones already present are kept once.
    pub async fn create_acls(&self, bindings: Vec<AclBinding>) -> Result<(), ApiError> {
        let reply = self
            .quorum
            .submit(ControllerRequest::CreateAcls(bindings))
            .await?;
        self.wait_published(reply.index).await;
        Ok(())
    }

    /// Removes every binding matching each filter through the controller; returns, per
    /// filter, what it removed.
    pub async fn delete_acls(
        &self,
        filters: &[AclFilter],
    ) -> Result<Vec<Vec<AclBinding>>, ApiError> {
        let reply = self
            .quorum
            .submit(ControllerRequest::DeleteAcls(filters.to_vec()))
            .await?;
        self.wait_published(reply.index).await;
        match reply.result {
            ControllerResult::DeletedAcls(removed) => Ok(removed),
            _ => Err(ApiError::new(
                kafka_protocol::ResponseError::UnknownServerError,
                "the controller answered DeleteAcls oddly",
            )),
        }
    }

    /// Whether `principal`, connected from `host`, may perform `operation` on the named
    /// resource. Denials are logged at debug level (list filtering asks often).
    pub fn authorize(
        &self,
        principal: &Principal,
        host: IpAddr,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !tenant_may(principal, operation, resource_type, name) {
            tracing::debug!(principal = %principal, %host, ?operation, ?resource_type, resource = name, "denied: outside the principal's tenant");
            return false;
        }
        let security = &self.config.security;
        if !security.authorizer || security.is_super_user(principal) {
            return true;
        }
        let decision = decide(
            &self.acls(),
            &principal.to_string(),
            &host.to_string(),
            operation,
            resource_type,
            name,
            security.allow_if_no_acl,
        );
        if decision != Decision::Allow {
            tracing::debug!(principal = %principal, %host, ?operation, ?resource_type, resource = name, ?decision, "denied by ACLs");
        }
        decision == Decision::Allow
    }
}

impl Broker {
    /// Whether `principal` may perform `operation` on at least one resource of the type
    /// (Kafka's `authorizeByResourceType`: an idempotent producer needs WRITE on some topic
    /// or IDEMPOTENT_WRITE on the cluster). Deny bindings on single resources do not count
    /// against it; the per-resource checks of the requests that follow still apply.
    pub fn authorize_any(
        &self,
        principal: &Principal,
        host: IpAddr,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        let security = &self.config.security;
        if !security.authorizer || security.is_super_user(principal) {
            return true;
        }
        let (who, from) = (principal.to_string(), host.to_string());
        self.acls().iter().any(|b| {
            b.resource_type == resource_type
                && b.permission == super::acl::Permission::Allow
                && (b.operation == operation || b.operation == Operation::All)
                && b.matches_principal(&who)
                && b.matches_host(&from)
                && tenant_may(principal, operation, resource_type, &b.resource_name)
        })
    }
}

/// The tenant-isolation rule (true for principals without a tenant).
fn tenant_may(
    principal: &Principal,
    operation: Operation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if principal.tenant.is_none() {
        return true;
    }
    match resource_type {
        ResourceType::Topic | ResourceType::Group | ResourceType::TransactionalId => {
            principal.owns(name)
        }
        ResourceType::Cluster => matches!(
            operation,
            Operation::Create | Operation::IdempotentWrite | Operation::Describe
        ),
        ResourceType::DelegationToken | ResourceType::User => false,
    }
}

/// Whether a tenant principal may see `b` in DescribeAcls: bindings on its own resources only.
pub fn tenant_may_see(principal: &Principal, b: &AclBinding) -> bool {
    match (&principal.tenant, b.resource_type) {
        (None, _) => true,
        (Some(_), ResourceType::Topic | ResourceType::Group | ResourceType::TransactionalId) => {
            principal.owns(&b.resource_name)
        }
        (Some(_), _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_confined_whatever_the_operation() {
        let acme = Principal::tenant_user("acme.alice");
        assert!(tenant_may(
            &acme,
            Operation::Read,
            ResourceType::Topic,
            "acme.t"
        ));
        assert!(!tenant_may(
            &acme,
            Operation::Read,
            ResourceType::Topic,
            "globex.t"
        ));
        assert!(!tenant_may(
            &acme,
            Operation::Describe,
            ResourceType::Group,
            "g"
        ));
        assert!(tenant_may(
            &acme,
            Operation::Create,
            ResourceType::Cluster,
            CLUSTER
        ));
        assert!(!tenant_may(
            &acme,
            Operation::Alter,
            ResourceType::Cluster,
            CLUSTER
        ));
        assert!(!tenant_may(
            &acme,
            Operation::AlterConfigs,
            ResourceType::Cluster,
            CLUSTER
        ));
        assert!(tenant_may(
            &Principal::user("admin"),
            Operation::Alter,
            ResourceType::Cluster,
            CLUSTER
        ));
    }
}
