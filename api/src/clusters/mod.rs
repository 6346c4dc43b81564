//! Clusters: create, read, list, change limits, delete with confirmation, and their event
//! history. Handlers only record the desired state; the [`reconciler`] does the work.
//!
//! # Layout
//!
//! - this file: routes and bodies;
//! - [`machine`]: the life cycle as a pure transition function;
//! - [`store`]: the tables, compare-and-set writes;
//! - [`reconciler`]: the background task calling the provisioner.

pub mod machine;
pub mod reconciler;
pub mod store;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use self::machine::{ClusterState, Event, transition};
use self::store::{Change, ClusterRow, Limits};
use crate::auth::{Action, Principal};
use crate::db::{new_id, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{IdempotencyKey, IfMatch, Json, Path, Query, etag};
use crate::idempotency::{self, Begin};
use crate::pagination::{Page, PageParams, page_of, position_key};
use crate::state::AppState;
use crate::validate;

/// Default partition limit of a new cluster.
pub const DEFAULT_MAX_PARTITIONS: i64 = 1000;
/// Default produce throughput limit, MB/s.
pub const DEFAULT_INGRESS_MBPS: i64 = 10;
/// Default consume throughput limit, MB/s.
pub const DEFAULT_EGRESS_MBPS: i64 = 30;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/clusters",
            get(list_clusters).post(create_cluster),
        )
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}",
            get(get_cluster)
                .patch(update_cluster)
                .delete(delete_cluster),
        )
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/events",
            get(list_cluster_events),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_cluster, list_clusters, get_cluster, update_cluster, delete_cluster, list_cluster_events),
    components(schemas(
        Cluster, ClusterState, ClusterLimits, LimitsInput, CreateCluster, UpdateCluster,
        ClusterEvent, Page<Cluster>, Page<ClusterEvent>
    ))
)]
pub struct ClustersApi;

/// A Kafka-compatible cluster of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cluster {
    /// Cluster id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique among the tenant's clusters that are not deleted.
    pub name: String,
    /// Life-cycle state.
    pub state: ClusterState,
    /// Why the cluster is in this state.
    pub state_reason: String,
    /// Number of brokers.
    pub brokers: i64,
    /// Limits.
    pub limits: ClusterLimits,
    /// `bootstrap.servers` for Kafka clients, once provisioned.
    pub bootstrap: Option<String>,
    /// PEM of the CA clients must trust (`ssl.ca.location`), once provisioned.
    pub ca_cert_pem: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A cluster's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterLimits {
    /// Partitions across all topics.
    pub max_partitions: i64,
    /// Produce throughput, MB/s.
    pub ingress_mbps: i64,
    /// Consume throughput, MB/s.
    pub egress_mbps: i64,
}

/// Limits to set; absent fields keep their value (or the default, at creation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsInput {
    /// Partitions across all topics, 1 to 100000.
    pub max_partitions: Option<i64>,
    /// Produce throughput, MB/s, 1 to 10000.
    pub ingress_mbps: Option<i64>,
    /// Consume throughput, MB/s, 1 to 10000.
    pub egress_mbps: Option<i64>,
}

/// A cluster to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    /// 1 to 63 of a-z, 0-9 and '-'.
    pub name: String,
    /// Limits; defaults: 1000 partitions, 10 MB/s in, 30 MB/s out.
    #[serde(default)]
    pub limits: LimitsInput,
}

/// A change of limits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCluster {
    /// The limits to change.
    pub limits: LimitsInput,
}

/// Deletion must name the cluster.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// The cluster's name, confirming the deletion of its brokers and data.
    pub confirm: Option<String>,
}

/// One state transition of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterEvent {
    /// Event id.
    pub id: String,
    /// State before (absent for creation).
    pub from_state: Option<ClusterState>,
    /// State after.
    pub to_state: ClusterState,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub created_at: String,
}

impl From<&ClusterRow> for Cluster {
    fn from(row: &ClusterRow) -> Self {
        Cluster {
            id: row.id.clone(),
            tenant_id: row.tenant_id.clone(),
            name: row.name.clone(),
            state: row.state,
            state_reason: row.state_reason.clone(),
            brokers: row.brokers,
            limits: ClusterLimits {
                max_partitions: row.limits.max_partitions,
                ingress_mbps: row.limits.ingress_mbps,
                egress_mbps: row.limits.egress_mbps,
            },
            bootstrap: row.bootstrap.clone(),
            ca_cert_pem: row.ca_cert_pem.clone(),
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// `base` with `input`'s fields applied, validated.
fn merge_limits(base: Limits, input: &LimitsInput) -> Result<Limits> {
    let limits = Limits {
        max_partitions: input.max_partitions.unwrap_or(base.max_partitions),
        ingress_mbps: input.ingress_mbps.unwrap_or(base.ingress_mbps),
        egress_mbps: input.egress_mbps.unwrap_or(base.egress_mbps),
    };
    validate::range("limits.max_partitions", limits.max_partitions, 1..=100_000)?;
    validate::range("limits.ingress_mbps", limits.ingress_mbps, 1..=10_000)?;
    validate::range("limits.egress_mbps", limits.egress_mbps, 1..=10_000)?;
    Ok(limits)
}

fn cluster_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("cluster {id} not found"))
}

/// The cluster `cluster_id` of `tenant_id`, after checking that `principal` may do `action`
/// there; 404 for other tenants' clusters.
pub async fn authorized(
    state: &AppState,
    principal: &Principal,
    tenant_id: &str,
    cluster_id: &str,
    action: Action,
) -> Result<ClusterRow> {
    principal.authorize(&state.db, tenant_id, action).await?;
    store::get(&state.db, tenant_id, cluster_id)
        .await?
        .ok_or_else(|| cluster_not_found(cluster_id))
}

/// Like [`authorized`], and the cluster's brokers must be running (409 otherwise).
pub async fn serving(
    state: &AppState,
    principal: &Principal,
    tenant_id: &str,
    cluster_id: &str,
    action: Action,
) -> Result<ClusterRow> {
    let row = authorized(state, principal, tenant_id, cluster_id, action).await?;
    if !row.state.serving() {
        return Err(ApiError::ClusterNotReady(format!(
            "cluster {cluster_id} is {}; wait until it is ready",
            row.state.as_str()
        )));
    }
    Ok(row)
}

fn with_etag(status: StatusCode, row: &ClusterRow) -> Response {
    let mut response = (status, Json(Cluster::from(row))).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(row.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Create a cluster. Provisioning runs in the background: poll until `state` is `ready`.
/// Send an `Idempotency-Key` to retry safely.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/clusters", tag = "clusters",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    request_body = CreateCluster,
    responses(
        (status = 202, description = "Accepted; provisioning", body = Cluster),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken, or the key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_cluster(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
    key: IdempotencyKey,
    Json(body): Json<CreateCluster>,
) -> Result<Response> {
    principal
        .authorize(&state.db, &tenant_id, Action::WriteClusters)
        .await?;
    validate::name("name", &body.name)?;
    let defaults = Limits {
        max_partitions: DEFAULT_MAX_PARTITIONS,
        ingress_mbps: DEFAULT_INGRESS_MBPS,
        egress_mbps: DEFAULT_EGRESS_MBPS,
    };
    let limits = merge_limits(defaults, &body.limits)?;
    let path = format!("/v1/tenants/{tenant_id}/clusters");
    let reservation = match idempotency::begin(&state.db, &principal, &path, &key, &body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Proceed(reservation) => reservation,
    };
    let outcome = async {
        let now = state.clock.now_ms();
        let row = ClusterRow {
            id: new_id(),
            tenant_id: tenant_id.clone(),
            name: body.name.clone(),
            state: ClusterState::Provisioning,
            state_reason: "created".into(),
            brokers: 1,
            limits,
            bootstrap: None,
            ca_cert_pem: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        if !store::insert(&state.db, &row).await? {
            return Err(ApiError::Conflict(format!(
                "a cluster named {:?} exists already",
                body.name
            )));
        }
        state.reconcile.notify_one();
        Ok((StatusCode::ACCEPTED, Cluster::from(&row)))
    }
    .await;
    idempotency::finish(&state.db, reservation, outcome).await
}

/// List the tenant's clusters (deleted ones excluded).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters", tag = "clusters",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"), PageParams),
    responses(
        (status = 200, description = "A page", body = Page<Cluster>),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_clusters(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Cluster>>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadClusters)
        .await?;
    let limit = page.limit()?;
    let rows = store::list(&state.db, &tenant_id, &page.position()?, limit).await?;
    Ok(Json(page_of(
        rows,
        limit,
        |r| position_key(r.created_at, &r.id),
        |r| Cluster::from(&r),
    )))
}

/// Get a cluster; its ETag header is the version for `If-Match`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}", tag = "clusters",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id")),
    responses(
        (status = 200, description = "The cluster", body = Cluster),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_cluster(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
) -> Result<Response> {
    let row = authorized(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::ReadClusters,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, &row))
}

/// Change a cluster's limits. Honours `If-Match` (412 when the cluster changed since).
#[utoipa::path(patch, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}", tag = "clusters",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = UpdateCluster,
    responses(
        (status = 202, description = "Accepted; updating", body = Cluster),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cluster is being deleted", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "ETag mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limits", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_cluster(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    if_match: IfMatch,
    Json(body): Json<UpdateCluster>,
) -> Result<Response> {
    let row = authorized(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusters,
    )
    .await?;
    if_match.check(&etag(row.version))?;
    let limits = merge_limits(row.limits, &body.limits)?;
    let next = transition(row.state, Event::UpdateRequested)
        .map_err(|e| ApiError::Conflict(format!("cluster {cluster_id} cannot be changed: {e}")))?;
    let change = Change {
        state: next,
        reason: "limits changed",
        limits: Some(limits),
        endpoint: None,
    };
    let saved = store::save(&state.db, state.clock.now_ms(), &row, change)
        .await?
        .ok_or_else(|| {
            ApiError::PreconditionFailed(
                "the cluster changed meanwhile; fetch it again and retry".into(),
            )
        })?;
    state.reconcile.notify_one();
    Ok(with_etag(StatusCode::ACCEPTED, &saved))
}

/// Delete a cluster, its brokers and all its data. `confirm` must be the cluster's name.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}", tag = "clusters",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           DeleteParams),
    responses(
        (status = 202, description = "Accepted; deleting", body = Cluster),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already deleted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong confirmation", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_cluster(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    Query(params): Query<DeleteParams>,
) -> Result<Response> {
    let row = authorized(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::DeleteClusters,
    )
    .await?;
    if params.confirm.as_deref() != Some(row.name.as_str()) {
        return Err(ApiError::Validation(format!(
            "deleting a cluster removes all its data: confirm with ?confirm={}",
            row.name
        )));
    }
    let next = transition(row.state, Event::DeleteRequested)
        .map_err(|e| ApiError::Conflict(format!("cluster {cluster_id} cannot be deleted: {e}")))?;
    let saved = match next {
        None => row,
        Some(_) => {
            let change = Change {
                state: next,
                reason: "deletion requested",
                ..Change::default()
            };
            store::save(&state.db, state.clock.now_ms(), &row, change)
                .await?
                .ok_or_else(|| ApiError::Conflict("the cluster changed meanwhile; retry".into()))?
        }
    };
    state.reconcile.notify_one();
    Ok(with_etag(StatusCode::ACCEPTED, &saved))
}

/// The cluster's state transitions, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/events", tag = "clusters",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           PageParams),
    responses(
        (status = 200, description = "A page", body = Page<ClusterEvent>),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_cluster_events(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ClusterEvent>>> {
    authorized(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::ReadClusters,
    )
    .await?;
    let limit = page.limit()?;
    let rows = store::events(&state.db, &cluster_id, &page.position()?, limit).await?;
    Ok(Json(page_of(
        rows,
        limit,
        |e| position_key(e.created_at, &e.id),
        |e| ClusterEvent {
            id: e.id,
            from_state: e.from_state.as_deref().and_then(ClusterState::parse),
            to_state: ClusterState::parse(&e.to_state).unwrap_or(ClusterState::Failed),
            reason: e.reason,
            created_at: rfc3339(e.created_at),
        },
    )))
}
