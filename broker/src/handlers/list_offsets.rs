//! ListOffsets: earliest (-2), latest (-1: the high watermark), max timestamp (-3) and by
//! timestamp; answered by the partition's leader only.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::security::acl::{Operation, ResourceType};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
    for topic in req.topics {
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = topic.name.clone();
        let describable = ctx.may(
            broker,
            Operation::Describe,
            ResourceType::Topic,
            topic.name.as_str(),
        );
        for p in topic.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            if !describable {
                pr.error_code = ResponseError::TopicAuthorizationFailed.code();
                tr.partitions.push(pr);
                continue;
            }
            match broker.partition(topic.name.as_str(), p.partition_index) {
                None => {
                    let exists = broker.topic(topic.name.as_str()).is_some_and(|t| {
                        p.partition_index >= 0 && p.partition_index < t.partition_count()
                    });
                    pr.error_code = if exists {
                        ResponseError::NotLeaderOrFollower.code()
                    } else {
                        ResponseError::UnknownTopicOrPartition.code()
                    };
                }
                Some(part) => {
                    let state = part.lock();
                    if !state.replica.is_leader() {
                        pr.error_code = ResponseError::NotLeaderOrFollower.code();
                        tr.partitions.push(pr);
                        continue;
                    }
                    if p.current_leader_epoch >= 0
                        && p.current_leader_epoch != state.replica.leader_epoch
                    {
                        pr.error_code = if p.current_leader_epoch < state.replica.leader_epoch {
                            ResponseError::FencedLeaderEpoch.code()
                        } else {
                            ResponseError::UnknownLeaderEpoch.code()
                        };
                        tr.partitions.push(pr);
                        continue;
                    }
                    let log = &state.log;
                    // read_uncommitted consumers see the log up to the high watermark,
                    // read_committed ones up to the last stable offset.
                    let hw = if req.isolation_level == 1 {
                        state.last_stable_offset()
                    } else {
                        state.replica.high_watermark
                    };
                    let found = match p.timestamp {
                        LATEST => Ok(Some((hw, -1))),
                        EARLIEST => Ok(Some((log.log_start_offset(), -1))),
                        MAX_TIMESTAMP => log.max_timestamp().map(|m| m.filter(|(o, _)| *o < hw)),
                        ts if ts >= 0 => log
                            .offset_for_timestamp(ts)
                            .map(|m| m.filter(|(o, _)| *o < hw)),
                        _ => Ok(None),
                    };
                    match found {
                        Ok(Some((offset, ts))) => {
                            pr.offset = offset;
                            pr.timestamp = ts;
                            if ctx.api_version >= 4 {
                                pr.leader_epoch = state.replica.leader_epoch;
                            }
                        }
                        Ok(None) => {
                            // No record at or after the timestamp: Kafka answers offset -1.
                            pr.offset = -1;
                            pr.timestamp = -1;
                        }
                        Err(e) => pr.error_code = e.code(),
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
