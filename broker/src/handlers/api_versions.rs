//! ApiVersions: the supported ranges come from the router's table.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;
use crate::router::SUPPORTED;

pub(crate) fn handle(ctx: &RequestContext, req: ApiVersionsRequest) -> ApiVersionsResponse {
    let _ = (ctx, req);
    error_response_inner(0)
}

/// An ApiVersions response carrying `error` and the supported ranges (what a client retries
/// with after UNSUPPORTED_VERSION).
pub(crate) fn error_response(error: ResponseError) -> ApiVersionsResponse {
    error_response_inner(error.code())
}

fn error_response_inner(code: i16) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = code;
    resp.api_keys = SUPPORTED
        .iter()
        .map(|a| {
            let mut v = ApiVersion::default();
            v.api_key = a.key as i16;
            v.min_version = a.min;
            v.max_version = a.max;
            v
        })
        .collect();
    resp
}
