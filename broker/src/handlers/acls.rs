//! CreateAcls, DescribeAcls, DeleteAcls: the ACLs the authorizer enforces, kept in the
//! cluster metadata. Without an authorizer (`authorizer.class.name` empty) they answer
//! SECURITY_DISABLED, as Kafka does.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, msg};
use crate::broker::Broker;
use crate::security::acl::{
    AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType,
};
use crate::security::authorizer::tenant_may_see;

const DISABLED: &str = "no authorizer is configured on the broker; set authorizer.class.name=fjord";

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Converts one AclCreation; the error says which field is wrong.
fn binding(c: &create_acls_request::AclCreation) -> Result<AclBinding, String> {
    let resource_type = ResourceType::from_code(c.resource_type).ok_or(format!(
        "resource type {} is not a concrete type",
        c.resource_type
    ))?;
    let pattern_type = match c.resource_pattern_type {
        3 => PatternType::Literal,
        4 => PatternType::Prefixed,
        p => {
            return Err(format!(
                "pattern type {p} must be LITERAL (3) or PREFIXED (4)"
            ));
        }
    };
    let operation = Operation::from_code(c.operation).ok_or(format!(
        "operation {} is not a concrete operation",
        c.operation
    ))?;
    let permission = Permission::from_code(c.permission_type).ok_or(format!(
        "permission type {} must be DENY (2) or ALLOW (3)",
        c.permission_type
    ))?;
    let b = AclBinding {
        resource_type,
        resource_name: c.resource_name.to_string(),
        pattern_type,
        principal: c.principal.to_string(),
        host: c.host.to_string(),
        operation,
        permission,
    };
    b.validate()?;
    Ok(b)
}

pub(crate) async fn create_acls(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let mut resp = CreateAclsResponse::default();
    let refuse = |code: ResponseError, message: String| {
        let mut r = AclCreationResult::default();
        r.error_code = code.code();
        r.error_message = msg(message);
        r
    };
    if !broker.authorizer_enabled() {
        resp.results = req
            .creations
            .iter()
            .map(|_| refuse(ResponseError::SecurityDisabled, DISABLED.into()))
            .collect();
        return resp;
    }
    if !ctx.may_on_cluster(broker, Operation::Alter) {
        resp.results = req
            .creations
            .iter()
            .map(|_| {
                refuse(
                    ResponseError::ClusterAuthorizationFailed,
                    format!(
                        "{} may not create ACLs (needs ALTER on Cluster)",
                        ctx.principal
                    ),
                )
            })
            .collect();
        return resp;
    }
    let parsed: Vec<Result<AclBinding, String>> = req.creations.iter().map(binding).collect();
    let valid: Vec<AclBinding> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
    let stored = if valid.is_empty() {
        Ok(())
    } else {
        broker.create_acls(valid.clone()).await
    };
    if let Err(e) = &stored {
        tracing::warn!(error = %e.message, "failed to store ACLs");
    } else {
        for b in &valid {
            tracing::info!(by = %ctx.principal, acl = %b, "ACL created");
        }
    }
    resp.results = parsed
        .into_iter()
        .map(|p| match (p, &stored) {
            (Err(reason), _) => refuse(ResponseError::InvalidRequest, reason),
            (Ok(_), Err(e)) => refuse(e.code, e.message.clone()),
            (Ok(_), Ok(())) => AclCreationResult::default(),
        })
        .collect();
    resp
}

pub(crate) async fn describe_acls(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let mut resp = DescribeAclsResponse::default();
    if !broker.authorizer_enabled() {
        resp.error_code = ResponseError::SecurityDisabled.code();
        resp.error_message = msg(DISABLED);
        return resp;
    }
    if !ctx.may_on_cluster(broker, Operation::Describe) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message = msg(format!(
            "{} may not describe ACLs (needs DESCRIBE on Cluster)",
            ctx.principal
        ));
        return resp;
    }
    let filter = match AclFilter::from_wire(
        req.resource_type_filter,
        req.resource_name_filter.as_ref().map(|s| s.as_str()),
        req.pattern_type_filter,
        req.principal_filter.as_ref().map(|s| s.as_str()),
        req.host_filter.as_ref().map(|s| s.as_str()),
        req.operation,
        req.permission_type,
    ) {
        Ok(f) => f,
        Err(reason) => {
            resp.error_code = ResponseError::InvalidRequest.code();
            resp.error_message = msg(reason);
            return resp;
        }
    };
    resp.resources = describe_resources(
        broker
            .acls()
            .iter()
            .filter(|b| filter.matches(b) && tenant_may_see(&ctx.principal, b)),
    );
    resp
}

/// Groups bindings by resource pattern, as DescribeAcls answers them.
fn describe_resources<'a>(
    bindings: impl Iterator<Item = &'a AclBinding>,
) -> Vec<DescribeAclsResource> {
    let mut by_resource: BTreeMap<(ResourceType, &str, PatternType), Vec<AclDescription>> =
        BTreeMap::new();
    for b in bindings {
        let mut d = AclDescription::default();
        d.principal = sb(&b.principal);
        d.host = sb(&b.host);
        d.operation = b.operation.code();
        d.permission_type = b.permission.code();
        by_resource
            .entry((b.resource_type, &b.resource_name, b.pattern_type))
            .or_default()
            .push(d);
    }
    by_resource
        .into_iter()
        .map(|((rt, name, pattern), acls)| {
            let mut r = DescribeAclsResource::default();
            r.resource_type = rt.code();
            r.resource_name = sb(name);
            r.pattern_type = pattern.code();
            r.acls = acls;
            r
        })
        .collect()
}

pub(crate) async fn delete_acls(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let mut resp = DeleteAclsResponse::default();
    let refuse = |code: ResponseError, message: &str| {
        let mut r = DeleteAclsFilterResult::default();
        r.error_code = code.code();
        r.error_message = msg(message);
        r
    };
    let denial = format!(
        "{} may not delete ACLs (needs ALTER on Cluster)",
        ctx.principal
    );
    let up_front = if !broker.authorizer_enabled() {
        Some((ResponseError::SecurityDisabled, DISABLED))
    } else if !ctx.may_on_cluster(broker, Operation::Alter) {
        Some((ResponseError::ClusterAuthorizationFailed, denial.as_str()))
    } else {
        None
    };
    if let Some((code, message)) = up_front {
        resp.filter_results = req.filters.iter().map(|_| refuse(code, message)).collect();
        return resp;
    }
    let parsed: Vec<Result<AclFilter, String>> = req
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_ref().map(|s| s.as_str()),
                f.pattern_type_filter,
                f.principal_filter.as_ref().map(|s| s.as_str()),
                f.host_filter.as_ref().map(|s| s.as_str()),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclFilter> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
    let removed = match broker.delete_acls(&valid).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e.message, "failed to delete ACLs");
            let message = e.message.clone();
            resp.filter_results = req
                .filters
                .iter()
                .map(|_| refuse(ResponseError::UnknownServerError, &message))
                .collect();
            return resp;
        }
    };
    let mut removed = removed.into_iter();
    resp.filter_results = parsed
        .into_iter()
        .map(|p| match p {
            Err(reason) => refuse(ResponseError::InvalidRequest, &reason),
            Ok(_) => {
                let mut r = DeleteAclsFilterResult::default();
                r.matching_acls = removed
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| {
                        tracing::info!(by = %ctx.principal, acl = %b, "ACL deleted");
                        let mut m = DeleteAclsMatchingAcl::default();
                        m.resource_type = b.resource_type.code();
                        m.resource_name = sb(&b.resource_name);
                        m.pattern_type = b.pattern_type.code();
                        m.principal = sb(&b.principal);
                        m.host = sb(&b.host);
                        m.operation = b.operation.code();
                        m.permission_type = b.permission.code();
                        m
                    })
                    .collect();
                r
            }
        })
        .collect();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{encodes, versions};

    #[test]
    fn described_bindings_group_by_resource_and_encode() {
        let b = |name: &str, principal: &str| AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: "*".into(),
            operation: Operation::Read,
            permission: Permission::Allow,
        };
        let all = [b("a", "User:x"), b("b", "User:x"), b("a", "User:y")];
        let resources = describe_resources(all.iter());
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0].resource_name.as_str(), "a");
        assert_eq!(resources[0].acls.len(), 2);
        assert_eq!(resources[0].acls[1].principal.as_str(), "User:y");
        assert_eq!(resources[0].pattern_type, 3);
        for v in versions(ApiKey::DescribeAcls) {
            let mut resp = DescribeAclsResponse::default();
            resp.resources = resources.clone();
            encodes(ApiKey::DescribeAcls, v, ResponseKind::DescribeAcls(resp));
        }
    }

    #[test]
    fn creations_are_checked_field_by_field() {
        let mut c = create_acls_request::AclCreation::default();
        c.resource_type = 2;
        c.resource_name = sb("t");
        c.resource_pattern_type = 3;
        c.principal = sb("User:alice");
        c.host = sb("*");
        c.operation = 3;
        c.permission_type = 3;
        assert_eq!(binding(&c).unwrap().operation, Operation::Read);
        let mut bad = c.clone();
        bad.resource_pattern_type = 2; // MATCH is a filter, not a pattern
        assert!(binding(&bad).unwrap_err().contains("LITERAL"));
        let mut bad = c.clone();
        bad.operation = 1; // ANY
        assert!(binding(&bad).is_err());
        let mut bad = c;
        bad.principal = sb("alice");
        assert!(binding(&bad).is_err());
    }
}
