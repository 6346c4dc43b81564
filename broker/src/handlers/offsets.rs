//! (stub being written)
use std::sync::Arc;
use kafka_protocol::messages::*;
use crate::broker::Broker;
use super::RequestContext;
pub(crate) async fn offset_commit(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse { let _ = (broker, ctx, req); OffsetCommitResponse::default() }
pub(crate) async fn offset_fetch(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse { let _ = (broker, ctx, req); OffsetFetchResponse::default() }
pub(crate) async fn offset_delete(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse { let _ = (broker, ctx, req); OffsetDeleteResponse::default() }
