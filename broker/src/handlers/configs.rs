//! (stub being written)
use std::sync::Arc;
use kafka_protocol::messages::*;
use crate::broker::Broker;
use super::RequestContext;
pub(crate) async fn describe_configs(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse { let _ = (broker, ctx, req); DescribeConfigsResponse::default() }
pub(crate) async fn alter_configs(broker: &Arc<Broker>, ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse { let _ = (broker, ctx, req); AlterConfigsResponse::default() }
pub(crate) async fn incremental_alter_configs(broker: &Arc<Broker>, ctx: &RequestContext, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse { let _ = (broker, ctx, req); IncrementalAlterConfigsResponse::default() }
