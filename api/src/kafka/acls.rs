//! ACL administration: CreateAcls, DescribeAcls and DeleteAcls, over the broker's own ACL
//! types (`fjord_broker::security::acl`), so both sides agree on every code.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use fjord_broker::security::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};

use super::{AdminClient, KafkaError};

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Filter codes meaning "any".
const ANY: i8 = 1;

fn decode_binding(
    resource_type: i8,
    resource_name: &StrBytes,
    pattern_type: i8,
    principal: &StrBytes,
    host: &StrBytes,
    operation: i8,
    permission: i8,
) -> Result<AclBinding, KafkaError> {
    let bad = |what: &str, code: i8| KafkaError::Protocol(format!("the broker sent {what} {code}"));
    Ok(AclBinding {
        resource_type: ResourceType::from_code(resource_type)
            .ok_or_else(|| bad("resource type", resource_type))?,
        resource_name: resource_name.to_string(),
        pattern_type: match pattern_type {
            3 => PatternType::Literal,
            4 => PatternType::Prefixed,
            other => return Err(bad("pattern type", other)),
        },
        principal: principal.to_string(),
        host: host.to_string(),
        operation: Operation::from_code(operation).ok_or_else(|| bad("operation", operation))?,
        permission: Permission::from_code(permission)
            .ok_or_else(|| bad("permission type", permission))?,
    })
}

impl AdminClient {
    /// CreateAcls for every binding; the first refused one is the error.
    pub async fn create_acls(&mut self, bindings: &[AclBinding]) -> Result<(), KafkaError> {
        let version = self.conn.version_for::<CreateAclsRequest>(1..=3)?;
        let mut request = CreateAclsRequest::default();
        request.creations = bindings
            .iter()
            .map(|b| {
                let mut c = AclCreation::default();
                c.resource_type = b.resource_type.code();
                c.resource_name = str(&b.resource_name);
                c.resource_pattern_type = b.pattern_type.code();
                c.principal = str(&b.principal);
                c.host = str(&b.host);
                c.operation = b.operation.code();
                c.permission_type = b.permission.code();
                c
            })
            .collect();
        let response = self.conn.send(&request, version).await?;
        for (b, r) in bindings.iter().zip(&response.results) {
            KafkaError::check(
                || format!("create ACL {b}"),
                r.error_code,
                r.error_message.as_ref(),
            )?;
        }
        Ok(())
    }

    /// DeleteAcls of exactly this binding (same pattern type, principal, host, operation and
    /// permission); returns how many stored bindings it removed (0 when none was there).
    pub async fn delete_acl(&mut self, b: &AclBinding) -> Result<usize, KafkaError> {
        let version = self.conn.version_for::<DeleteAclsRequest>(1..=3)?;
        let mut filter = DeleteAclsFilter::default();
        filter.resource_type_filter = b.resource_type.code();
        filter.resource_name_filter = Some(str(&b.resource_name));
        // As a filter, a concrete pattern type's code selects exactly that type.
        filter.pattern_type_filter = b.pattern_type.code();
        filter.principal_filter = Some(str(&b.principal));
        filter.host_filter = Some(str(&b.host));
        filter.operation = b.operation.code();
        filter.permission_type = b.permission.code();
        let mut request = DeleteAclsRequest::default();
        request.filters = vec![filter];
        let response = self.conn.send(&request, version).await?;
        let result = response
            .filter_results
            .first()
            .ok_or_else(|| KafkaError::Protocol("DeleteAcls answered no filter".into()))?;
        KafkaError::check(
            || format!("delete ACL {b}"),
            result.error_code,
            result.error_message.as_ref(),
        )?;
        Ok(result.matching_acls.len())
    }

    /// DescribeAcls of every binding the caller may see.
    pub async fn list_acls(&mut self) -> Result<Vec<AclBinding>, KafkaError> {
        let version = self.conn.version_for::<DescribeAclsRequest>(1..=3)?;
        let mut request = DescribeAclsRequest::default();
        request.resource_type_filter = ANY;
        request.resource_name_filter = None;
        request.pattern_type_filter = ANY;
        request.principal_filter = None;
        request.host_filter = None;
        request.operation = ANY;
        request.permission_type = ANY;
        let response = self.conn.send(&request, version).await?;
        KafkaError::check(
            || "describe ACLs".into(),
            response.error_code,
            response.error_message.as_ref(),
        )?;
        let mut out = Vec::new();
        for r in &response.resources {
            for a in &r.acls {
                out.push(decode_binding(
                    r.resource_type,
                    &r.resource_name,
                    r.pattern_type,
                    &a.principal,
                    &a.host,
                    a.operation,
                    a.permission_type,
                )?);
            }
        }
        Ok(out)
    }
}
