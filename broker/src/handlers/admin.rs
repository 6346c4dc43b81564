//! (stub being written)
use std::sync::Arc;
use kafka_protocol::messages::*;
use crate::broker::Broker;
use super::RequestContext;
pub(crate) async fn create_topics(broker: &Arc<Broker>, ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse { let _ = (broker, ctx, req); CreateTopicsResponse::default() }
pub(crate) async fn delete_topics(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse { let _ = (broker, ctx, req); DeleteTopicsResponse::default() }
pub(crate) async fn create_partitions(broker: &Arc<Broker>, ctx: &RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse { let _ = (broker, ctx, req); CreatePartitionsResponse::default() }
pub(crate) async fn delete_records(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse { let _ = (broker, ctx, req); DeleteRecordsResponse::default() }
pub(crate) async fn describe_cluster(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse { let _ = (broker, ctx, req); DescribeClusterResponse::default() }
