//! DescribeClientQuotas and AlterClientQuotas (what `kafka-configs --entity-type users
//! --entity-type clients` sends), with Kafka's entity and match rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_client_quotas_request::EntryData as AlterEntry;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, alter_client_quotas_response as alter_resp,
    describe_client_quotas_response as describe_resp,
};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, msg};
use crate::broker::{ApiError, Broker};
use crate::quota::entity::{CLIENT_ID, USER};
use crate::quota::{EntityName, QuotaChange, QuotaEntity, QuotaType, may_alter};

/// Match types of a DescribeClientQuotas filter component.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;
/// Kafka's IP entity type (connection-rate quotas, not supported here).
const IP: &str = "ip";

/// How one entity type of a Describe filter must match.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    /// Exactly this name, or the default entity.
    Exact(EntityName),
    /// Any entity that has this component (named or default).
    Specified,
}

/// A parsed DescribeClientQuotas filter: per entity type, how it must match.
#[derive(Debug, Default)]
struct Filter {
    user: Option<Match>,
    client_id: Option<Match>,
    /// An `ip` component: no stored entity has one.
    ip: bool,
    strict: bool,
}

impl Filter {
    fn parse(req: &DescribeClientQuotasRequest) -> Result<Filter, ApiError> {
        let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
        let mut f = Filter {
            strict: req.strict,
            ..Filter::default()
        };
        for c in &req.components {
            let ty = c.entity_type.as_str();
            let m = match (c.match_type, c._match.as_ref()) {
                (MATCH_EXACT, Some(name)) => Match::Exact(EntityName::Name(name.to_string())),
                (MATCH_EXACT, None) => {
                    return Err(invalid(format!(
                        "{ty}: match type 0 (exact) needs a name; use 1 for the default entity"
                    )));
                }
                (MATCH_DEFAULT, None) => Match::Exact(EntityName::Default),
                (MATCH_SPECIFIED, None) => Match::Specified,
                (MATCH_DEFAULT | MATCH_SPECIFIED, Some(_)) => {
                    return Err(invalid(format!(
                        "{ty}: match type {} takes no name",
                        c.match_type
                    )));
                }
                (other, _) => {
                    return Err(invalid(format!(
                        "{ty}: unknown match type {other}; use 0 (exact), 1 (default) or 2 (any)"
                    )));
                }
            };
            let slot = match ty {
                USER => &mut f.user,
                CLIENT_ID => &mut f.client_id,
                IP => {
                    if f.ip {
                        return Err(invalid(format!("entity type {ty} appears twice")));
                    }
                    f.ip = true;
                    continue;
                }
                other => {
                    return Err(ApiError::new(
                        ResponseError::UnsupportedVersion,
                        format!("unsupported entity type {other:?}; use user or client-id"),
                    ));
                }
            };
            if slot.replace(m).is_some() {
                return Err(invalid(format!("entity type {ty} appears twice")));
            }
        }
        if f.ip && (f.user.is_some() || f.client_id.is_some()) {
            return Err(invalid(
                "an ip component cannot be combined with user or client-id".into(),
            ));
        }
        Ok(f)
    }

    /// Kafka's rule: every component must match, and with `strict` the entity may have no
    /// other component.
    fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.ip {
            return false;
        }
        let one = |want: &Option<Match>, have: &Option<EntityName>| match (want, have) {
            (None, _) => !self.strict || have.is_none(),
            (Some(_), None) => false,
            (Some(Match::Specified), Some(_)) => true,
            (Some(Match::Exact(w)), Some(h)) => w == h,
        };
        one(&self.user, &entity.user) && one(&self.client_id, &entity.client_id)
    }
}

pub(crate) async fn describe_client_quotas(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut resp = DescribeClientQuotasResponse::default();
    if !crate::quota::may_describe(broker, ctx) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message = msg(format!(
            "{} may not describe client quotas (needs DESCRIBE_CONFIGS on Cluster)",
            ctx.principal
        ));
        resp.entries = None;
        return resp;
    }
    let filter = match Filter::parse(&req) {
        Ok(f) => f,
        Err(e) => {
            resp.error_code = e.code.code();
            resp.error_message = msg(e.message);
            resp.entries = None;
            return resp;
        }
    };
    let entries = broker
        .client_quotas()
        .into_iter()
        .filter(|r| filter.matches(&r.entity))
        .map(|r| {
            let mut e = describe_resp::EntryData::default();
            e.entity = wire_entity(&r.entity)
                .map(|(ty, name)| {
                    let mut d = describe_resp::EntityData::default();
                    d.entity_type = StrBytes::from_static_str(ty);
                    d.entity_name = name.map(StrBytes::from_string);
                    d
                })
                .collect();
            e.values = r
                .values
                .iter()
                .map(|(quota, value)| {
                    let mut v = describe_resp::ValueData::default();
                    v.key = StrBytes::from_static_str(quota.key());
                    v.value = *value;
                    v
                })
                .collect();
            e
        })
        .collect();
    resp.entries = Some(entries);
    resp
}

/// An entity's components as the wire has them: (type, name; `None` for the default).
fn wire_entity(entity: &QuotaEntity) -> impl Iterator<Item = (&'static str, Option<String>)> {
    let user = entity
        .user
        .as_ref()
        .map(|n| (USER, n.to_wire().map(str::to_string)));
    let client = entity
        .client_id
        .as_ref()
        .map(|n| (CLIENT_ID, n.to_wire().map(str::to_string)));
    user.into_iter().chain(client)
}

/// Parses and validates one AlterClientQuotas entry.
fn parse_change(entry: &AlterEntry) -> Result<QuotaChange, ApiError> {
    let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
    let mut entity = QuotaEntity {
        user: None,
        client_id: None,
    };
    if entry.entity.is_empty() {
        return Err(invalid("the entity names no user or client-id".into()));
    }
    for c in &entry.entity {
        let name = EntityName::from_wire(c.entity_name.as_ref().map(|n| n.as_str()));
        let slot = match c.entity_type.as_str() {
            USER => &mut entity.user,
            CLIENT_ID => &mut entity.client_id,
            IP => {
                return Err(invalid(
                    "ip quotas (connection_creation_rate) are not supported; use user or client-id"
                        .into(),
                ));
            }
            other => {
                return Err(invalid(format!(
                    "unknown entity type {other:?}; use user or client-id"
                )));
            }
        };
        if slot.replace(name).is_some() {
            return Err(invalid(format!(
                "entity type {} appears twice",
                c.entity_type.as_str()
            )));
        }
    }
    let mut ops = BTreeMap::new();
    for op in &entry.ops {
        let key = op.key.as_str();
        let quota = QuotaType::from_key(key).ok_or_else(|| {
            invalid(format!(
                "unknown quota key {key:?}; use producer_byte_rate, consumer_byte_rate or request_percentage"
            ))
        })?;
        let value = if op.remove {
            None
        } else {
            quota.validate(op.value).map_err(invalid)?;
            Some(op.value)
        };
        if ops.insert(quota, value).is_some() {
            return Err(invalid(format!("{key} is changed twice in one entry")));
        }
    }
    Ok(QuotaChange { entity, ops })
}

pub(crate) async fn alter_client_quotas(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let allowed = may_alter(broker, ctx);
    let mut results: Vec<Result<QuotaChange, ApiError>> = req
        .entries
        .iter()
        .map(|entry| {
            if !allowed {
                return Err(ApiError::new(
                    ResponseError::ClusterAuthorizationFailed,
                    format!("{} may not alter client quotas", ctx.principal),
                ));
            }
            parse_change(entry)
        })
        .collect();
    let changes: Vec<QuotaChange> = results.iter().filter_map(|r| r.clone().ok()).collect();
    if !req.validate_only
        && !changes.is_empty()
        && let Err(e) = broker.alter_client_quotas(&changes).await
    {
        for r in results.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(e.clone());
        }
    }
    let mut resp = AlterClientQuotasResponse::default();
    resp.entries = req
        .entries
        .iter()
        .zip(results)
        .map(|(entry, result)| {
            let mut e = alter_resp::EntryData::default();
            e.entity = entry
                .entity
                .iter()
                .map(|c| {
                    let mut d = alter_resp::EntityData::default();
                    d.entity_type = c.entity_type.clone();
                    d.entity_name = c.entity_name.clone();
                    d
                })
                .collect();
            if let Err(err) = result {
                e.error_code = err.code.code();
                e.error_message = msg(err.message);
            }
            e
        })
        .collect();
    resp
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, OpData};
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    use super::*;
    use crate::handlers::test_support::{encodes, versions};
    use crate::security::Principal;

    async fn open(dir: &std::path::Path, extra: &[(&str, &str)]) -> Arc<Broker> {
        let mut m = BTreeMap::new();
        m.insert("log.dirs".to_string(), dir.display().to_string());
        for (k, v) in extra {
            m.insert((*k).to_string(), (*v).to_string());
        }
        Broker::open_ready(crate::config::BrokerConfig::from_map(m).unwrap())
            .await
            .unwrap()
    }

    fn entry(entity: &[(&str, Option<&str>)], ops: &[(&str, f64, bool)]) -> AlterEntry {
        let mut e = AlterEntry::default();
        e.entity = entity
            .iter()
            .map(|(t, n)| {
                let mut d = EntityData::default();
                d.entity_type = StrBytes::from_string(t.to_string());
                d.entity_name = n.map(|n| StrBytes::from_string(n.to_string()));
                d
            })
            .collect();
        e.ops = ops
            .iter()
            .map(|(k, v, remove)| {
                let mut o = OpData::default();
                o.key = StrBytes::from_string(k.to_string());
                o.value = *v;
                o.remove = *remove;
                o
            })
            .collect();
        e
    }

    fn alter(entries: Vec<AlterEntry>, validate_only: bool) -> AlterClientQuotasRequest {
        let mut r = AlterClientQuotasRequest::default();
        r.entries = entries;
        r.validate_only = validate_only;
        r
    }

    fn filter(
        components: &[(&str, i8, Option<&str>)],
        strict: bool,
    ) -> DescribeClientQuotasRequest {
        let mut r = DescribeClientQuotasRequest::default();
        r.strict = strict;
        r.components = components
            .iter()
            .map(|(t, m, name)| {
                let mut c = ComponentData::default();
                c.entity_type = StrBytes::from_string(t.to_string());
                c.match_type = *m;
                c._match = name.map(|n| StrBytes::from_string(n.to_string()));
                c
            })
            .collect();
        r
    }

    /// Describe's answer as sorted `entity path → [(key, value)]` strings.
    async fn described(b: &Arc<Broker>, req: DescribeClientQuotasRequest) -> Vec<String> {
        let resp = describe_client_quotas(b, &RequestContext::for_test(1), req).await;
        assert_eq!(resp.error_code, 0, "{:?}", resp.error_message);
        let mut out: Vec<String> = resp
            .entries
            .unwrap()
            .iter()
            .map(|e| {
                let entity: Vec<String> = e
                    .entity
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={}",
                            d.entity_type.as_str(),
                            d.entity_name.as_ref().map_or("<default>", |n| n.as_str())
                        )
                    })
                    .collect();
                let values: Vec<String> = e
                    .values
                    .iter()
                    .map(|v| format!("{}:{}", v.key.as_str(), v.value))
                    .collect();
                format!("{} {}", entity.join(","), values.join(","))
            })
            .collect();
        out.sort();
        out
    }

    async fn seed(b: &Arc<Broker>) {
        let req = alter(
            vec![
                entry(
                    &[("user", Some("alice"))],
                    &[("producer_byte_rate", 1024.0, false)],
                ),
                entry(
                    &[("user", Some("alice")), ("client-id", Some("app"))],
                    &[("consumer_byte_rate", 2048.0, false)],
                ),
                entry(&[("user", None)], &[("request_percentage", 50.0, false)]),
                entry(
                    &[("client-id", None)],
                    &[("producer_byte_rate", 10.0, false)],
                ),
            ],
            false,
        );
        let resp = alter_client_quotas(b, &RequestContext::for_test(1), req).await;
        assert!(resp.entries.iter().all(|e| e.error_code == 0), "{resp:?}");
    }

    #[tokio::test]
    async fn describe_matches_exact_default_and_any_with_and_without_strict() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), &[]).await;
        seed(&b).await;
        assert_eq!(
            described(&b, filter(&[], false)).await.len(),
            4,
            "no filter: all"
        );
        assert!(described(&b, filter(&[], true)).await.is_empty());
        assert_eq!(
            described(&b, filter(&[("user", MATCH_EXACT, Some("alice"))], false)).await,
            [
                "user=alice producer_byte_rate:1024",
                "user=alice,client-id=app consumer_byte_rate:2048"
            ]
        );
        assert_eq!(
            described(&b, filter(&[("user", MATCH_EXACT, Some("alice"))], true)).await,
            ["user=alice producer_byte_rate:1024"]
        );
        assert_eq!(
            described(&b, filter(&[("user", MATCH_DEFAULT, None)], false)).await,
            ["user=<default> request_percentage:50"]
        );
        assert_eq!(
            described(&b, filter(&[("client-id", MATCH_SPECIFIED, None)], false)).await,
            [
                "client-id=<default> producer_byte_rate:10",
                "user=alice,client-id=app consumer_byte_rate:2048"
            ]
        );
        assert!(
            described(&b, filter(&[("ip", MATCH_SPECIFIED, None)], false))
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn bad_describe_filters_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), &[]).await;
        for (req, code) in [
            (
                filter(&[("user", MATCH_EXACT, None)], false),
                ResponseError::InvalidRequest,
            ),
            (
                filter(&[("user", MATCH_DEFAULT, Some("x"))], false),
                ResponseError::InvalidRequest,
            ),
            (
                filter(&[("user", 7, None)], false),
                ResponseError::InvalidRequest,
            ),
            (
                filter(
                    &[
                        ("user", MATCH_SPECIFIED, None),
                        ("user", MATCH_DEFAULT, None),
                    ],
                    false,
                ),
                ResponseError::InvalidRequest,
            ),
            (
                filter(
                    &[("ip", MATCH_SPECIFIED, None), ("user", MATCH_DEFAULT, None)],
                    false,
                ),
                ResponseError::InvalidRequest,
            ),
            (
                filter(&[("group", MATCH_SPECIFIED, None)], false),
                ResponseError::UnsupportedVersion,
            ),
        ] {
            let resp = describe_client_quotas(&b, &RequestContext::for_test(1), req).await;
            assert_eq!(resp.error_code, code.code(), "{resp:?}");
            assert!(resp.error_message.is_some());
            assert!(resp.entries.is_none());
        }
    }

    #[tokio::test]
    async fn alter_validates_each_entry_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), &[]).await;
        let req = alter(
            vec![
                entry(
                    &[("user", Some("ok"))],
                    &[("producer_byte_rate", 100.0, false)],
                ),
                entry(
                    &[("user", Some("x"))],
                    &[("controller_mutation_rate", 1.0, false)],
                ),
                entry(
                    &[("user", Some("x"))],
                    &[("producer_byte_rate", 0.0, false)],
                ),
                entry(
                    &[("user", Some("x"))],
                    &[("consumer_byte_rate", 1.5, false)],
                ),
                entry(&[], &[("producer_byte_rate", 1.0, false)]),
                entry(&[("ip", None)], &[("producer_byte_rate", 1.0, false)]),
                entry(
                    &[("user", Some("x")), ("user", Some("y"))],
                    &[("producer_byte_rate", 1.0, false)],
                ),
                entry(
                    &[("user", Some("x"))],
                    &[
                        ("producer_byte_rate", 1.0, false),
                        ("producer_byte_rate", 0.0, true),
                    ],
                ),
            ],
            false,
        );
        let resp = alter_client_quotas(&b, &RequestContext::for_test(1), req).await;
        let codes: Vec<i16> = resp.entries.iter().map(|e| e.error_code).collect();
        let invalid = ResponseError::InvalidRequest.code();
        assert_eq!(
            codes,
            [
                0, invalid, invalid, invalid, invalid, invalid, invalid, invalid
            ]
        );
        let unknown = resp.entries[1].error_message.as_ref().unwrap();
        assert!(unknown.contains("controller_mutation_rate"), "{unknown}");
        assert_eq!(resp.entries[0].entity[0].entity_name.as_deref(), Some("ok"));
        assert_eq!(
            described(&b, filter(&[], false)).await,
            ["user=ok producer_byte_rate:100"]
        );
    }

    #[tokio::test]
    async fn validate_only_changes_nothing_and_remove_lifts_a_quota() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), &[]).await;
        let set = || {
            entry(
                &[("client-id", Some("c"))],
                &[("producer_byte_rate", 5.0, false)],
            )
        };
        let resp =
            alter_client_quotas(&b, &RequestContext::for_test(1), alter(vec![set()], true)).await;
        assert_eq!(resp.entries[0].error_code, 0);
        assert!(b.client_quotas().is_empty(), "validate_only writes nothing");
        alter_client_quotas(&b, &RequestContext::for_test(1), alter(vec![set()], false)).await;
        assert_eq!(b.client_quotas().len(), 1);
        let remove = entry(
            &[("client-id", Some("c"))],
            &[("producer_byte_rate", 0.0, true)],
        );
        let resp =
            alter_client_quotas(&b, &RequestContext::for_test(1), alter(vec![remove], false)).await;
        assert_eq!(resp.entries[0].error_code, 0);
        assert!(b.client_quotas().is_empty());
    }

    #[tokio::test]
    async fn only_super_users_alter_quotas_on_authenticated_listeners() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), &[("super.users", "User:admin")]).await;
        let req = || {
            alter(
                vec![entry(
                    &[("user", None)],
                    &[("producer_byte_rate", 5.0, false)],
                )],
                false,
            )
        };
        let mut ctx = RequestContext::for_test(1);
        ctx.principal = Principal::user("alice");
        let resp = alter_client_quotas(&b, &ctx, req()).await;
        assert_eq!(
            resp.entries[0].error_code,
            ResponseError::ClusterAuthorizationFailed.code()
        );
        assert!(b.client_quotas().is_empty());
        ctx.principal = Principal::user("admin");
        let resp = alter_client_quotas(&b, &ctx, req()).await;
        assert_eq!(resp.entries[0].error_code, 0);
        assert_eq!(b.client_quotas().len(), 1);
    }

    #[tokio::test]
    async fn quotas_survive_a_broker_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), &[]).await;
        seed(&b).await;
        let before = described(&b, filter(&[], false)).await;
        b.stop().await;
        drop(b);
        let b = open(dir.path(), &[]).await;
        assert_eq!(described(&b, filter(&[], false)).await, before);
    }

    #[tokio::test]
    async fn responses_encode_at_every_supported_version() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), &[]).await;
        seed(&b).await;
        for v in versions(ApiKey::DescribeClientQuotas) {
            let ctx = RequestContext::for_test(v);
            let ok = describe_client_quotas(&b, &ctx, filter(&[], false)).await;
            encodes(
                ApiKey::DescribeClientQuotas,
                v,
                ResponseKind::DescribeClientQuotas(ok),
            );
            let bad =
                describe_client_quotas(&b, &ctx, filter(&[("user", MATCH_EXACT, None)], false))
                    .await;
            encodes(
                ApiKey::DescribeClientQuotas,
                v,
                ResponseKind::DescribeClientQuotas(bad),
            );
        }
        for v in versions(ApiKey::AlterClientQuotas) {
            let ctx = RequestContext::for_test(v);
            let req = alter(
                vec![
                    entry(&[("user", None)], &[("request_percentage", 12.5, false)]),
                    entry(&[("user", Some("x"))], &[("nope", 1.0, false)]),
                ],
                false,
            );
            let resp = alter_client_quotas(&b, &ctx, req).await;
            encodes(
                ApiKey::AlterClientQuotas,
                v,
                ResponseKind::AlterClientQuotas(resp),
            );
        }
    }
}
