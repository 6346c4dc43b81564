//! InitProducerId: idempotent producers get a fresh producer id (or, KIP-360, a bumped
//! epoch); transactional ones go to their transaction coordinator ([`crate::txn`]).

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
    if let Some(id) = req.transactional_id.as_ref().filter(|t| !t.is_empty()) {
        // KIP-360: a producer that knows its id and epoch names them (v3+).
        let expected = (ctx.api_version >= 3 && *req.producer_id >= 0)
            .then_some((*req.producer_id, req.producer_epoch));
        match broker
            .txn_init_producer_id(id.as_str(), req.transaction_timeout_ms, expected)
            .await
        {
            Ok((producer_id, epoch)) => {
                resp.producer_id = producer_id.into();
                resp.producer_epoch = epoch;
            }
            Err(e) => {
                resp.error_code = if e == ResponseError::ProducerFenced && ctx.api_version < 4 {
                    ResponseError::InvalidProducerEpoch.code()
                } else {
                    e.code()
                };
                resp.producer_id = (-1).into();
                resp.producer_epoch = -1;
            }
        }
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
