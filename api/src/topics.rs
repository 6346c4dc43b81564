//! Topics of a cluster, managed on the cluster itself through the provisioner's admin
//! client; nothing about topics is stored in the database. The cluster's `max_partitions`
//! limit is enforced here before CreateTopics and CreatePartitions.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{OpenApi, ToSchema};

use crate::auth::{Action, Principal};
use crate::clusters;
use crate::error::{ApiError, Problem, Result};
use crate::extract::{IdempotencyKey, IfMatch, Json, Path, Query};
use crate::idempotency::{self, Begin};
use crate::kafka::{AdminClient, TopicDescription};
use crate::pagination::{Page, PageParams, page_of};
use crate::state::AppState;
use crate::validate;

/// The most partitions one topic may have.
pub const MAX_TOPIC_PARTITIONS: u32 = 10_000;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics",
            get(list_topics).post(create_topic),
        )
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}",
            get(get_topic).patch(alter_topic).delete(delete_topic),
        )
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}/partitions",
            post(add_partitions),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_topic, list_topics, get_topic, alter_topic, add_partitions, delete_topic),
    components(schemas(Topic, CreateTopic, AlterTopic, AddPartitions, Page<Topic>))
)]
pub struct TopicsApi;

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// Kafka's stable topic id.
    pub topic_id: String,
    /// Number of partitions.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u16,
    /// Configs set on the topic (defaults are not listed).
    pub configs: BTreeMap<String, String>,
}

/// A topic to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-'.
    pub name: String,
    /// Number of partitions, 1 to 10000 (default 1).
    #[serde(default = "one")]
    pub partitions: u32,
    /// Replication factor (default: the cluster's broker count, at most 3).
    #[serde(default)]
    pub replication_factor: Option<u16>,
    /// Topic configs, e.g. `{"retention.ms": "86400000"}`.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

/// Config changes: a value sets, `null` resets to the default.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlterTopic {
    /// Configs to set (string) or reset (`null`).
    pub configs: BTreeMap<String, Option<String>>,
}

/// Grow a topic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartitions {
    /// The new total number of partitions (more than now; partitions cannot be removed).
    pub partitions: u32,
}

impl From<TopicDescription> for Topic {
    fn from(t: TopicDescription) -> Self {
        Topic {
            name: t.name,
            topic_id: t.topic_id,
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            configs: t.configs,
        }
    }
}

/// The ETag of a topic: a digest of its partitions and configs.
fn topic_etag(topic: &Topic) -> String {
    let mut hasher = Sha256::new();
    hasher.update(topic.partitions.to_be_bytes());
    for (k, v) in &topic.configs {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn topic_response(status: StatusCode, topic: Topic) -> Response {
    let tag = topic_etag(&topic);
    let mut response = (status, Json(topic)).into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

fn topic_not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("topic {name} not found"))
}

/// An admin client for a serving cluster the principal may act on.
async fn admin_for(
    state: &AppState,
    principal: &Principal,
    tenant_id: &str,
    cluster_id: &str,
    action: Action,
) -> Result<(clusters::store::ClusterRow, AdminClient)> {
    let row = clusters::serving(state, principal, tenant_id, cluster_id, action).await?;
    let admin = state.provisioner.admin(&row.id).await?;
    Ok((row, admin))
}

/// 422 when `extra` more partitions would exceed the cluster's limit.
async fn check_partition_limit(
    admin: &mut AdminClient,
    row: &clusters::store::ClusterRow,
    extra: u32,
) -> Result<()> {
    let used: i64 = admin
        .list_topics()
        .await?
        .iter()
        .map(|t| i64::from(t.partitions))
        .sum();
    let max = row.limits.max_partitions;
    if used + i64::from(extra) > max {
        return Err(ApiError::LimitExceeded(format!(
            "the cluster has {used} of {max} partitions; {extra} more would exceed max_partitions (raise it with PATCH on the cluster)"
        )));
    }
    Ok(())
}

/// Create a topic. Send an `Idempotency-Key` to retry safely.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics", tag = "topics",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    request_body = CreateTopic,
    responses(
        (status = 201, description = "Created", body = Topic),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Exists already, or the cluster is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, partitions, configs, or over the partition limit", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The cluster failed", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_topic(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    key: IdempotencyKey,
    Json(body): Json<CreateTopic>,
) -> Result<Response> {
    let row = clusters::serving(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    validate::topic_name(&body.name)?;
    validate::range(
        "partitions",
        i64::from(body.partitions),
        1..=i64::from(MAX_TOPIC_PARTITIONS),
    )?;
    let max_rf = u16::try_from(row.brokers.clamp(1, 3)).unwrap_or(1);
    let replication_factor = body.replication_factor.unwrap_or(max_rf);
    validate::range(
        "replication_factor",
        i64::from(replication_factor),
        1..=row.brokers,
    )?;
    let path = format!("/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics");
    let reservation = match idempotency::begin(&state.db, &principal, &path, &key, &body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Proceed(reservation) => reservation,
    };
    let outcome = async {
        let mut admin = state.provisioner.admin(&row.id).await?;
        check_partition_limit(&mut admin, &row, body.partitions).await?;
        let created = admin
            .create_topic(
                &body.name,
                body.partitions,
                replication_factor,
                &body.configs,
            )
            .await?;
        Ok((StatusCode::CREATED, Topic::from(created)))
    }
    .await;
    idempotency::finish(&state.db, reservation, outcome).await
}

/// List the cluster's topics (internal topics excluded), by name.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics", tag = "topics",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           PageParams),
    responses(
        (status = 200, description = "A page", body = Page<Topic>),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cluster is not ready", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_topics(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Topic>>> {
    let limit = page.limit()?;
    let after = page.after_name()?;
    let (_, mut admin) = admin_for(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::ReadClusterData,
    )
    .await?;
    let mut topics = admin.list_topics().await?;
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let rest: Vec<TopicDescription> = topics
        .into_iter()
        .filter(|t| t.name > after)
        .take(limit as usize + 1)
        .collect();
    Ok(Json(page_of(rest, limit, |t| t.name.clone(), Topic::from)))
}

/// Describe a topic; its ETag covers partitions and configs, for `If-Match`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}", tag = "topics",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("topic" = String, Path, description = "Topic name")),
    responses(
        (status = 200, description = "The topic", body = Topic),
        (status = 404, description = "No such cluster or topic", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_topic(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id, topic)): Path<(String, String, String)>,
) -> Result<Response> {
    let (_, mut admin) = admin_for(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::ReadClusterData,
    )
    .await?;
    let found = describe(&mut admin, &topic).await?;
    Ok(topic_response(StatusCode::OK, found))
}

async fn describe(admin: &mut AdminClient, name: &str) -> Result<Topic> {
    validate::topic_name(name).map_err(|_| topic_not_found(name))?;
    admin
        .describe_topic(name)
        .await?
        .map(Topic::from)
        .ok_or_else(|| topic_not_found(name))
}

/// Set or reset topic configs. Honours `If-Match`.
#[utoipa::path(patch, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}", tag = "topics",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("topic" = String, Path, description = "Topic name"),
           ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = AlterTopic,
    responses(
        (status = 200, description = "The changed topic", body = Topic),
        (status = 404, description = "No such cluster or topic", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "ETag mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid config", body = Problem, content_type = "application/problem+json"),
    ))]
async fn alter_topic(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id, topic)): Path<(String, String, String)>,
    if_match: IfMatch,
    Json(body): Json<AlterTopic>,
) -> Result<Response> {
    let (_, mut admin) = admin_for(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    let current = describe(&mut admin, &topic).await?;
    if_match.check(&topic_etag(&current))?;
    admin.alter_topic_configs(&topic, &body.configs).await?;
    let changed = describe(&mut admin, &topic).await?;
    Ok(topic_response(StatusCode::OK, changed))
}

/// Grow a topic to a new total number of partitions.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}/partitions", tag = "topics",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("topic" = String, Path, description = "Topic name")),
    request_body = AddPartitions,
    responses(
        (status = 200, description = "The grown topic", body = Topic),
        (status = 404, description = "No such cluster or topic", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not more than now, or over the partition limit", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_partitions(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id, topic)): Path<(String, String, String)>,
    Json(body): Json<AddPartitions>,
) -> Result<Response> {
    let (row, mut admin) = admin_for(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    let current = describe(&mut admin, &topic).await?;
    if body.partitions <= current.partitions || body.partitions > MAX_TOPIC_PARTITIONS {
        return Err(ApiError::Validation(format!(
            "partitions must be more than the current {} and at most {MAX_TOPIC_PARTITIONS} (got {})",
            current.partitions, body.partitions
        )));
    }
    check_partition_limit(&mut admin, &row, body.partitions - current.partitions).await?;
    admin.create_partitions(&topic, body.partitions).await?;
    let grown = describe(&mut admin, &topic).await?;
    Ok(topic_response(StatusCode::OK, grown))
}

/// Delete a topic and its data.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}", tag = "topics",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("topic" = String, Path, description = "Topic name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such cluster or topic", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_topic(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id, topic)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let (_, mut admin) = admin_for(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    validate::topic_name(&topic).map_err(|_| topic_not_found(&topic))?;
    admin.delete_topic(&topic).await?;
    Ok(StatusCode::NO_CONTENT)
}
