//! Kafka ACLs: bindings of (resource pattern, principal, host, operation, permission), the
//! filters CreateAcls / DescribeAcls / DeleteAcls use, and the decision every handler asks
//! for through [`crate::broker::Broker::authorize`].
//!
//! The rules are Kafka's `StandardAuthorizer`:
//! - a DENY that matches the operation (or ALL) wins over any ALLOW;
//! - an ALLOW matches the operation, ALL, or an operation that implies it (READ, WRITE,
//!   DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS);
//! - a LITERAL pattern matches its name or, when the name is `*`, every name; a PREFIXED
//!   pattern matches names that start with it; principal `User:*` and host `*` match all;
//! - with no matching ALLOW the answer is no, unless no ACL at all names the resource and
//!   `allow.everyone.if.no.acl.found` is set. Super users are allowed everything.
//!
//! Codes are the wire values of Kafka's `ResourceType`, `PatternType`, `AclOperation` and
//! `AclPermissionType`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an ACL protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceType {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster (resource name `kafka-cluster`).
    Cluster,
    /// A transactional id.
    TransactionalId,
    /// A delegation token.
    DelegationToken,
    /// A user (for CreateTokens on behalf of others).
    User,
}

impl ResourceType {
    /// From the wire code (2..=7); ANY (1) and UNKNOWN are not concrete types.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            2 => ResourceType::Topic,
            3 => ResourceType::Group,
            4 => ResourceType::Cluster,
            5 => ResourceType::TransactionalId,
            6 => ResourceType::DelegationToken,
            7 => ResourceType::User,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
            ResourceType::DelegationToken => 6,
            ResourceType::User => 7,
        }
    }
}

/// How an ACL's resource name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatternType {
    /// The exact name, or every name when it is `*`.
    Literal,
    /// Every name starting with it.
    Prefixed,
}

impl PatternType {
    /// The wire code (LITERAL 3, PREFIXED 4).
    pub fn code(self) -> i8 {
        match self {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }
}

/// An operation on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    /// Every operation.
    All,
    /// Consume; join groups.
    Read,
    /// Produce.
    Write,
    /// Create topics.
    Create,
    /// Delete topics, records, groups.
    Delete,
    /// Add partitions; manage ACLs and credentials (on the cluster).
    Alter,
    /// See that it exists.
    Describe,
    /// Broker-to-broker requests.
    ClusterAction,
    /// Read configs.
    DescribeConfigs,
    /// Change configs.
    AlterConfigs,
    /// Idempotent produce (on the cluster).
    IdempotentWrite,
    /// Create delegation tokens.
    CreateTokens,
    /// Describe delegation tokens.
    DescribeTokens,
}

impl Operation {
    /// From the wire code (2..=14); ANY (1) is only a filter value.
    pub fn from_code(code: i8) -> Option<Self> {
        use Operation::*;
        Some(match code {
            2 => All,
            3 => Read,
            4 => Write,
            5 => Create,
            6 => Delete,
            7 => Alter,
            8 => Describe,
            9 => ClusterAction,
            10 => DescribeConfigs,
            11 => AlterConfigs,
            12 => IdempotentWrite,
            13 => CreateTokens,
            14 => DescribeTokens,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn code(self) -> i8 {
        use Operation::*;
        match self {
            All => 2,
            Read => 3,
            Write => 4,
            Create => 5,
            Delete => 6,
            Alter => 7,
            Describe => 8,
            ClusterAction => 9,
            DescribeConfigs => 10,
            AlterConfigs => 11,
            IdempotentWrite => 12,
            CreateTokens => 13,
            DescribeTokens => 14,
        }
    }

    /// Whether an ALLOW for `self` also allows `wanted`.
    fn allows(self, wanted: Operation) -> bool {
        use Operation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    /// Deny (wins over allow).
    Deny,
    /// Allow.
    Allow,
}

impl Permission {
    /// From the wire code (DENY 2, ALLOW 3).
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(Permission::Deny),
            3 => Some(Permission::Allow),
            _ => None,
        }
    }

    /// The wire code.
    pub fn code(self) -> i8 {
        match self {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }
}

/// One ACL, as stored in the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    /// Resource type.
    pub resource_type: ResourceType,
    /// Resource name (or prefix, or `*`).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// `User:name` or `User:*`.
    pub principal: String,
    /// Client IP address or `*`.
    pub host: String,
    /// Operation.
    pub operation: Operation,
    /// Allow or deny.
    pub permission: Permission,
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} from {} {:?} on {:?}:{:?}:{}",
            self.permission,
            self.principal,
            self.host,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name
        )
    }
}

impl AclBinding {
    /// Checks a binding from CreateAcls; the error says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource_name.is_empty() {
            return Err("resource name must not be empty".into());
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != "kafka-cluster" {
            return Err("the cluster resource is named kafka-cluster".into());
        }
        if self.pattern_type == PatternType::Prefixed && self.resource_name == "*" {
            return Err("a PREFIXED pattern cannot be '*'; use LITERAL '*' for all".into());
        }
        match self.principal.split_once(':') {
            Some(("User", name)) if !name.is_empty() => {}
            _ => {
                return Err(format!(
                    "principal {:?} must look like User:name or User:*",
                    self.principal
                ));
            }
        }
        if self.host.is_empty() {
            return Err("host must be an IP address or '*'".into());
        }
        if self.host != "*" && self.host.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("host {:?} must be an IP address or '*'", self.host));
        }
        Ok(())
    }

    fn matches_resource(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => self.resource_name == "*" || self.resource_name == name,
                PatternType::Prefixed => name.starts_with(&self.resource_name),
            }
    }

    pub(crate) fn matches_principal(&self, principal: &str) -> bool {
        self.principal == "User:*" || self.principal == principal
    }

    pub(crate) fn matches_host(&self, host: &str) -> bool {
        self.host == "*" || self.host == host
    }
}

/// How a filter matches resource patterns (Kafka's `PatternType` as a filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatternFilter {
    /// ANY (1): every pattern whose name equals the filter's name.
    Any,
    /// MATCH (2): every pattern that would match a resource of the filter's name.
    Match,
    /// Exactly this pattern type.
    Exact(PatternType),
}

/// A DescribeAcls / DeleteAcls filter. `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    /// Resource type (None: ANY).
    pub resource_type: Option<ResourceType>,
    /// Resource name.
    pub resource_name: Option<String>,
    /// Pattern match mode.
    pub pattern: PatternFilter,
    /// Principal.
    pub principal: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Operation (None: ANY).
    pub operation: Option<Operation>,
    /// Permission (None: ANY).
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// Builds a filter from wire fields; the error says which field is invalid.
    pub fn from_wire(
        resource_type: i8,
        resource_name: Option<&str>,
        pattern_type: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Result<Self, String> {
        const ANY: i8 = 1;
        let resource_type = match resource_type {
            ANY => None,
            c => Some(ResourceType::from_code(c).ok_or(format!("unknown resource type {c}"))?),
        };
        let pattern = match pattern_type {
            1 => PatternFilter::Any,
            2 => PatternFilter::Match,
            3 => PatternFilter::Exact(PatternType::Literal),
            4 => PatternFilter::Exact(PatternType::Prefixed),
            c => return Err(format!("unknown pattern type {c}")),
        };
        let operation = match operation {
            ANY => None,
            c => Some(Operation::from_code(c).ok_or(format!("unknown operation {c}"))?),
        };
        let permission = match permission {
            ANY => None,
            c => Some(Permission::from_code(c).ok_or(format!("unknown permission type {c}"))?),
        };
        Ok(AclFilter {
            resource_type,
            resource_name: resource_name.map(str::to_string),
            pattern,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation,
            permission,
        })
    }

    /// Whether `b` is selected by this filter.
    pub fn matches(&self, b: &AclBinding) -> bool {
        let resource = match (&self.resource_name, self.pattern) {
            (_, PatternFilter::Exact(p)) if p != b.pattern_type => false,
            (None, _) => true,
            (Some(name), PatternFilter::Any | PatternFilter::Exact(_)) => *name == b.resource_name,
            (Some(name), PatternFilter::Match) => match b.pattern_type {
                PatternType::Literal => b.resource_name == *name || b.resource_name == "*",
                PatternType::Prefixed => name.starts_with(&b.resource_name),
            },
        };
        resource
            && self.resource_type.is_none_or(|t| t == b.resource_type)
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && self.operation.is_none_or(|o| o == b.operation)
            && self.permission.is_none_or(|p| p == b.permission)
    }
}

/// The outcome of an authorization check, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by an ALLOW binding, a super user, or the absence of any ACL with
    /// `allow.everyone.if.no.acl.found`.
    Allow,
    /// Denied by a DENY binding.
    DeniedByAcl,
    /// No ALLOW binding matched.
    NoMatchingAllow,
}

/// Decides whether `principal` (`User:name`) connecting from `host` may perform `operation`
/// on the resource, given every stored binding.
pub fn decide(
    acls: &[AclBinding],
    principal: &str,
    host: &str,
    operation: Operation,
    resource_type: ResourceType,
    name: &str,
    allow_if_no_acl: bool,
) -> Decision {
    let mut any_for_resource = false;
    let mut allowed = false;
    for b in acls {
        if !b.matches_resource(resource_type, name) {
            continue;
        }
        any_for_resource = true;
        if !b.matches_principal(principal) || !b.matches_host(host) {
            continue;
        }
        match b.permission {
            Permission::Deny if b.operation == operation || b.operation == Operation::All => {
                return Decision::DeniedByAcl;
            }
            Permission::Deny => {}
            Permission::Allow => allowed |= b.operation.allows(operation),
        }
    }
    if allowed || (!any_for_resource && allow_if_no_acl) {
        Decision::Allow
    } else {
        Decision::NoMatchingAllow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acl(
        rt: ResourceType,
        name: &str,
        pattern: PatternType,
        principal: &str,
        op: Operation,
        perm: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: perm,
        }
    }

    use Operation::*;
    use PatternType::*;
    use Permission::*;
    use ResourceType::*;

    fn can(acls: &[AclBinding], who: &str, op: Operation, rt: ResourceType, name: &str) -> bool {
        decide(acls, who, "10.0.0.1", op, rt, name, false) == Decision::Allow
    }

    #[test]
    fn literal_prefixed_and_wildcard_patterns_match_as_kafka() {
        let acls = vec![
            acl(Topic, "orders", Literal, "User:alice", Write, Allow),
            acl(Topic, "logs.", Prefixed, "User:alice", Read, Allow),
            acl(Group, "*", Literal, "User:*", Read, Allow),
        ];
        assert!(can(&acls, "User:alice", Write, Topic, "orders"));
        assert!(!can(&acls, "User:alice", Write, Topic, "orders2"));
        assert!(!can(&acls, "User:bob", Write, Topic, "orders"));
        assert!(can(&acls, "User:alice", Read, Topic, "logs.app"));
        assert!(!can(&acls, "User:alice", Read, Topic, "logs"));
        assert!(can(&acls, "User:bob", Read, Group, "anything"));
        assert!(!can(&acls, "User:bob", Delete, Group, "anything"));
    }

    #[test]
    fn implied_operations_and_deny_precedence() {
        let acls = vec![
            acl(Topic, "t", Literal, "User:a", Read, Allow),
            acl(Topic, "t", Literal, "User:a", AlterConfigs, Allow),
            acl(Topic, "*", Literal, "User:b", All, Allow),
            acl(Topic, "secret", Literal, "User:b", Read, Deny),
            acl(Topic, "sealed", Literal, "User:*", All, Deny),
        ];
        assert!(
            can(&acls, "User:a", Describe, Topic, "t"),
            "READ implies DESCRIBE"
        );
        assert!(can(&acls, "User:a", DescribeConfigs, Topic, "t"));
        assert!(!can(&acls, "User:a", Write, Topic, "t"));
        assert!(can(&acls, "User:b", Write, Topic, "secret"));
        assert!(!can(&acls, "User:b", Read, Topic, "secret"), "deny wins");
        // A DENY on READ does not deny the DESCRIBE it would imply (Kafka's rule).
        assert!(can(&acls, "User:b", Describe, Topic, "secret"));
        assert!(!can(&acls, "User:b", Describe, Topic, "sealed"));
    }

    #[test]
    fn hosts_and_the_no_acl_escape_hatch() {
        let mut only_local = acl(Topic, "t", Literal, "User:a", Read, Allow);
        only_local.host = "127.0.0.1".into();
        let acls = vec![only_local];
        assert!(decide(&acls, "User:a", "127.0.0.1", Read, Topic, "t", false) == Decision::Allow);
        assert!(
            !can(&acls, "User:a", Read, Topic, "t"),
            "other hosts do not match"
        );
        // allow.everyone.if.no.acl.found applies only to resources without any ACL.
        assert_eq!(
            decide(&acls, "User:z", "h", Read, Topic, "other", true),
            Decision::Allow
        );
        assert_eq!(
            decide(&acls, "User:z", "h", Read, Topic, "t", true),
            Decision::NoMatchingAllow
        );
    }

    #[test]
    fn filters_select_like_describe_and_delete_acls() {
        let a = acl(Topic, "orders", Literal, "User:alice", Write, Allow);
        let p = acl(Topic, "ord", Prefixed, "User:alice", Read, Allow);
        let w = acl(Topic, "*", Literal, "User:bob", Read, Allow);
        let f = |name: Option<&str>, pattern: i8| {
            AclFilter::from_wire(2, name, pattern, None, None, 1, 1).unwrap()
        };
        let matched = |f: &AclFilter| [&a, &p, &w].into_iter().filter(|b| f.matches(b)).count();
        assert_eq!(matched(&f(None, 1)), 3);
        assert_eq!(matched(&f(Some("orders"), 1)), 1);
        assert_eq!(
            matched(&f(Some("orders"), 2)),
            3,
            "MATCH finds what applies"
        );
        assert_eq!(matched(&f(None, 4)), 1);
        assert_eq!(matched(&f(Some("ord"), 3)), 0);
        let by_principal = AclFilter::from_wire(1, None, 1, Some("User:bob"), None, 1, 1).unwrap();
        assert_eq!(matched(&by_principal), 1);
        assert!(AclFilter::from_wire(9, None, 1, None, None, 1, 1).is_err());
        assert!(AclFilter::from_wire(1, None, 7, None, None, 1, 1).is_err());
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = acl(Topic, "t", Literal, "User:a", Read, Allow);
        assert!(ok.validate().is_ok());
        let mut bad = ok.clone();
        bad.principal = "alice".into();
        assert!(bad.validate().unwrap_err().contains("User:name"));
        let mut bad = ok.clone();
        bad.host = "example.com".into();
        assert!(bad.validate().unwrap_err().contains("IP address"));
        let mut bad = ok.clone();
        bad.resource_type = Cluster;
        assert!(bad.validate().unwrap_err().contains("kafka-cluster"));
        let mut bad = ok;
        bad.pattern_type = Prefixed;
        bad.resource_name = "*".into();
        assert!(bad.validate().is_err());
    }

    fn arb_op() -> impl Strategy<Value = Operation> {
        (2i8..=14).prop_map(|c| Operation::from_code(c).unwrap())
    }

    proptest! {
        /// Adding a DENY for ALL never turns a "no" into a "yes", and always yields "no" for
        /// the principal and resource it names.
        #[test]
        fn deny_all_is_absolute(op in arb_op(), name in "[a-z]{1,6}", allow_op in arb_op()) {
            let mut acls = vec![acl(Topic, &name, Literal, "User:a", allow_op, Allow)];
            acls.push(acl(Topic, &name, Literal, "User:a", All, Deny));
            prop_assert!(!can(&acls, "User:a", op, Topic, &name));
        }

        /// The codes round-trip.
        #[test]
        fn codes_round_trip(op in arb_op(), rt in 2i8..=7, perm in 2i8..=3) {
            prop_assert_eq!(Operation::from_code(op.code()), Some(op));
            prop_assert_eq!(ResourceType::from_code(rt).map(ResourceType::code), Some(rt));
            prop_assert_eq!(Permission::from_code(perm).map(Permission::code), Some(perm));
        }
    }
}
