//! (stub being written)
use std::sync::Arc;
use kafka_protocol::messages::*;
use crate::broker::Broker;
use super::RequestContext;
pub(crate) async fn find_coordinator(broker: &Arc<Broker>, ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse { let _ = (broker, ctx, req); FindCoordinatorResponse::default() }
pub(crate) async fn join_group(broker: &Arc<Broker>, ctx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse { let _ = (broker, ctx, req); JoinGroupResponse::default() }
pub(crate) async fn sync_group(broker: &Arc<Broker>, ctx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse { let _ = (broker, ctx, req); SyncGroupResponse::default() }
pub(crate) async fn heartbeat(broker: &Arc<Broker>, ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse { let _ = (broker, ctx, req); HeartbeatResponse::default() }
pub(crate) async fn leave_group(broker: &Arc<Broker>, ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse { let _ = (broker, ctx, req); LeaveGroupResponse::default() }
pub(crate) async fn describe_groups(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse { let _ = (broker, ctx, req); DescribeGroupsResponse::default() }
pub(crate) async fn list_groups(broker: &Arc<Broker>, ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse { let _ = (broker, ctx, req); ListGroupsResponse::default() }
pub(crate) async fn delete_groups(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse { let _ = (broker, ctx, req); DeleteGroupsResponse::default() }
