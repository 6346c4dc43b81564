//! The API's one error type, [`ApiError`], and the one place it becomes an HTTP response:
//! an RFC 9457 `application/problem+json` body with a stable `type` URI.
//!
//! Server errors (5xx) log their detail and answer a generic body. axum's JSON, path and
//! query rejections become problems too, through the extractors in [`crate::extract`].

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kafka::KafkaError;
use crate::provision::ProvisionError;

/// Where problem `type` URIs live; each problem appends its code.
pub const PROBLEM_BASE: &str = "https://fjord.dev/problems/";

/// The result of a handler.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Everything a request can fail with. The message is the problem's `detail` (except for
/// server errors, whose detail is only logged).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, bad query or path parameter, bad header).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource (or it belongs to another tenant).
    #[error("{0}")]
    NotFound(String),
    /// The method is not allowed on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The resource exists already, or its state does not allow the operation.
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` does not match the current ETag.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed, but a field's value is invalid.
    #[error("{0}")]
    Validation(String),
    /// The request would exceed a limit of the cluster (partitions, …).
    #[error("{0}")]
    LimitExceeded(String),
    /// The cluster is not in a state that serves this request (still provisioning, …).
    #[error("{0}")]
    ClusterNotReady(String),
    /// A dependency of the API (its database) is not available.
    #[error("{0}")]
    Unavailable(String),
    /// A cluster answered with an error the API cannot attribute to the request.
    #[error("cluster request failed")]
    Upstream(#[source] KafkaError),
    /// Provisioning failed.
    #[error("provisioning failed")]
    Provision(#[source] ProvisionError),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A bug or an unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem, e.g. `https://fjord.dev/problems/not-found`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request and how to fix it.
    pub detail: String,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl ApiError {
    /// The HTTP status, the stable code of the problem type and its title.
    pub fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            LimitExceeded(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "limit-exceeded",
                "Limit exceeded",
            ),
            ClusterNotReady(_) => (
                StatusCode::CONFLICT,
                "cluster-not-ready",
                "Cluster not ready",
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Upstream(_) | Provision(_) => {
                (StatusCode::BAD_GATEWAY, "upstream", "Cluster unavailable")
            }
            Database(_) | Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// The problem body of this error (without `instance`, which the router fills in).
    pub fn problem(&self) -> Problem {
        let (status, code, title) = self.kind();
        // Server-side failures keep their detail in the log; the client gets a generic one.
        let detail = match self {
            ApiError::Upstream(_) | ApiError::Provision(_) => {
                "the cluster did not answer as expected; try again later".to_string()
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                "an internal error occurred; it has been logged".to_string()
            }
            _ => self.to_string(),
        };
        Problem {
            problem_type: format!("{PROBLEM_BASE}{code}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            instance: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, source = ?std::error::Error::source(&self), "request failed");
        }
        let unauthorized = matches!(self, ApiError::Unauthorized(_));
        let mut response = problem_response(&problem);
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // The instance middleware re-renders the body with the request path.
        response.extensions_mut().insert(problem);
        response
    }
}

/// The response for `problem`, with the problem+json content type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )],
        body,
    )
        .into_response()
}

/// Middleware: sets `instance` (the request path) on every problem response.
pub async fn fill_problem_instance(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    match response.extensions().get::<Problem>() {
        Some(problem) => {
            let mut problem = problem.clone();
            problem.instance = Some(path);
            let mut fresh = problem_response(&problem);
            for (name, value) in response.headers() {
                if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
                    fresh.headers_mut().insert(name.clone(), value.clone());
                }
            }
            fresh.extensions_mut().insert(problem);
            fresh
        }
        None => response,
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                ApiError::Validation(format!("invalid request body: {}", e.body_text()))
            }
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::BadRequest(format!("the body is not valid JSON: {}", e.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ),
            other => {
                ApiError::BadRequest(format!("unreadable request body: {}", other.body_text()))
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(format!("invalid path parameter: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<KafkaError> for ApiError {
    /// Kafka error codes the request caused become 4xx problems; the rest is a 502.
    fn from(error: KafkaError) -> Self {
        let KafkaError::Broker {
            code_name, message, ..
        } = &error
        else {
            return ApiError::Upstream(error);
        };
        let detail = match message {
            Some(m) => format!("{code_name}: {m}"),
            None => code_name.clone(),
        };
        match code_name.as_str() {
            "TOPIC_ALREADY_EXISTS" => ApiError::Conflict(detail),
            "UNKNOWN_TOPIC_OR_PARTITION" | "UNKNOWN_TOPIC_ID" | "RESOURCE_NOT_FOUND" => {
                ApiError::NotFound(detail)
            }
            "INVALID_REQUEST" => ApiError::BadRequest(detail),
            "POLICY_VIOLATION" | "UNSUPPORTED_COMPRESSION_TYPE" => ApiError::Validation(detail),
            name if name.starts_with("INVALID_") => ApiError::Validation(detail),
            _ => ApiError::Upstream(error),
        }
    }
}

impl From<ProvisionError> for ApiError {
    fn from(error: ProvisionError) -> Self {
        match error {
            ProvisionError::NotFound(id) => {
                ApiError::ClusterNotReady(format!("cluster {id} is not running"))
            }
            ProvisionError::Kafka(e) => e.into(),
            other => ApiError::Provision(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(code_name: &str) -> KafkaError {
        KafkaError::Broker {
            operation: "op".into(),
            code: 1,
            code_name: code_name.into(),
            message: Some("why".into()),
        }
    }

    #[test]
    fn kafka_codes_map_to_problems() {
        let status = |name: &str| ApiError::from(broker(name)).kind().0;
        assert_eq!(status("TOPIC_ALREADY_EXISTS"), StatusCode::CONFLICT);
        assert_eq!(status("UNKNOWN_TOPIC_OR_PARTITION"), StatusCode::NOT_FOUND);
        assert_eq!(
            status("INVALID_PARTITIONS"),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status("INVALID_CONFIG"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status("INVALID_REQUEST"), StatusCode::BAD_REQUEST);
        assert_eq!(status("NOT_CONTROLLER"), StatusCode::BAD_GATEWAY);
        let detail = ApiError::from(broker("INVALID_CONFIG")).problem().detail;
        assert_eq!(detail, "INVALID_CONFIG: why");
    }

    #[test]
    fn server_errors_hide_their_detail() {
        let problem = ApiError::Internal("secret path /etc/x".into()).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("secret"), "{}", problem.detail);
        assert_eq!(problem.problem_type, "https://fjord.dev/problems/internal");
        let problem = ApiError::from(broker("NOT_CONTROLLER")).problem();
        assert!(!problem.detail.contains("NOT_CONTROLLER"));
    }

    #[test]
    fn client_errors_carry_their_detail_and_a_stable_type() {
        let problem = ApiError::NotFound("cluster x not found".into()).problem();
        assert_eq!(problem.status, 404);
        assert_eq!(problem.detail, "cluster x not found");
        assert_eq!(problem.problem_type, "https://fjord.dev/problems/not-found");
        assert_eq!(problem.title, "Not found");
    }
}
