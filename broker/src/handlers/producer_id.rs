//! InitProducerId for idempotent producers (transactional ids arrive with the transactions
//! issue).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::security::acl::{Operation, ResourceType};

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    if let Some(id) = req.transactional_id.as_ref().filter(|t| !t.is_empty())
        && !ctx.may(
            broker,
            Operation::Write,
            ResourceType::TransactionalId,
            id.as_str(),
        )
    {
        resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return resp;
    }
    if req.transactional_id.as_ref().is_some_and(|t| !t.is_empty()) {
        tracing::debug!(client_id = %ctx.client_id, "transactional InitProducerId refused: transactions are not supported yet");
        resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return resp;
    }
    let ip = ctx.peer.ip();
    if !ctx.may_on_cluster(broker, Operation::IdempotentWrite)
        && !broker.authorize_any(&ctx.principal, ip, Operation::Write, ResourceType::Topic)
    {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    // KIP-360: an idempotent producer may ask to bump the epoch of its existing id.
    if *req.producer_id >= 0 && req.producer_epoch >= 0 {
        if req.producer_epoch == i16::MAX {
            match broker.next_producer_id().await {
                Ok(id) => {
                    resp.producer_id = id.into();
                    resp.producer_epoch = 0;
                }
                Err(e) => resp.error_code = e.code.code(),
            }
        } else {
            resp.producer_id = req.producer_id;
            resp.producer_epoch = req.producer_epoch + 1;
        }
        return resp;
    }
    match broker.next_producer_id().await {
        Ok(id) => {
            resp.producer_id = id.into();
            resp.producer_epoch = 0;
        }
        Err(e) => resp.error_code = e.code.code(),
    }
    resp
}
