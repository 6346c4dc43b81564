//! SaslHandshake, SaslAuthenticate, DescribeUserScramCredentials and
//! AlterUserScramCredentials.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, msg};
use crate::broker::{ApiError, Broker};
use crate::security::acl::Operation;
use crate::security::credentials::{CredentialChange, validate_upsert};
use crate::security::sasl::{AuthOutcome, HandshakeOutcome, Session};
use crate::security::scram::{ScramCredential, ScramMechanism};

pub(crate) fn handshake(
    broker: &Arc<Broker>,
    session: &mut Session,
    version: i16,
    req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let enabled = &broker.config.security.sasl_mechanisms;
    let mut resp = SaslHandshakeResponse::default();
    resp.mechanisms = enabled
        .iter()
        .map(|m| StrBytes::from_static_str(m.name()))
        .collect();
    if version == 0 {
        tracing::info!(listener = %session.listener, "SaslHandshake v0 (raw SASL tokens) is not supported; clients since Kafka 1.0 send v1");
        resp.error_code = ResponseError::UnsupportedVersion.code();
        return resp;
    }
    resp.error_code = match session.handshake(&req.mechanism, enabled) {
        HandshakeOutcome::Accepted => 0,
        HandshakeOutcome::UnsupportedMechanism => {
            tracing::info!(mechanism = %req.mechanism.as_str(), listener = %session.listener, "client asked for a SASL mechanism that is not enabled");
            ResponseError::UnsupportedSaslMechanism.code()
        }
        HandshakeOutcome::IllegalState => ResponseError::IllegalSaslState.code(),
    };
    resp
}

/// Returns the response and whether the connection must be closed after it.
pub(crate) async fn authenticate(
    broker: &Arc<Broker>,
    session: &mut Session,
    ctx_peer: std::net::SocketAddr,
    version: i16,
    req: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, bool) {
    let lookup_broker = broker.clone();
    let now = crate::now_ms();
    let outcome = session
        .authenticate(
            &req.auth_bytes,
            move |user, m| lookup_broker.scram_credential(user, m),
            broker.oauth.as_deref(),
            now,
        )
        .await;
    let mut resp = SaslAuthenticateResponse::default();
    match outcome {
        AuthOutcome::Continue(bytes) => {
            resp.auth_bytes = bytes;
            (resp, false)
        }
        AuthOutcome::Done(bytes) => {
            let lifetime = session.start_session(now, broker.config.security.max_reauth_ms);
            tracing::debug!(peer = %ctx_peer, principal = ?session.principal().map(|p| p.to_string()), session_lifetime_ms = lifetime, "authenticated");
            resp.auth_bytes = bytes;
            // v0 cannot say it; such clients are simply disconnected at expiry.
            if version >= 1 {
                resp.session_lifetime_ms = lifetime;
            }
            (resp, false)
        }
        AuthOutcome::Failed(reason) => {
            broker
                .failed_authentications
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %ctx_peer, listener = %session.listener, %reason, "SASL authentication failed");
            let delay = broker.config.security.failed_authentication_delay_ms;
            if delay > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            }
            resp.error_code = ResponseError::SaslAuthenticationFailed.code();
            resp.error_message = msg("Authentication failed: invalid credentials");
            resp.auth_bytes = Bytes::new();
            (resp, true)
        }
        AuthOutcome::IllegalState => {
            resp.error_code = ResponseError::IllegalSaslState.code();
            resp.error_message = msg("SaslAuthenticate without a successful SaslHandshake");
            (resp, true)
        }
    }
}

/// With the authorizer on, credential management needs `operation` (DESCRIBE or ALTER) on
/// the cluster, as in Kafka. Without it, a super user is needed on authenticated listeners
/// (so SASL users cannot mint credentials for each other), while an unauthenticated
/// PLAINTEXT listener allows it, as Kafka without an authorizer does. Tenants never may.
fn may_manage_credentials(broker: &Broker, ctx: &RequestContext, operation: Operation) -> bool {
    if ctx.principal.tenant.is_some() {
        // Users of every tenant share the store: listing it would leak their names.
        return false;
    }
    if broker.authorizer_enabled() {
        return ctx.may_on_cluster(broker, operation);
    }
    ctx.principal.name == "ANONYMOUS" || broker.config.security.is_super_user(&ctx.principal)
}

pub(crate) async fn describe_scram(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let mut resp = DescribeUserScramCredentialsResponse::default();
    if !may_manage_credentials(broker, ctx, Operation::Describe) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message = msg(format!(
            "{} may not describe SCRAM credentials",
            ctx.principal
        ));
        return resp;
    }
    let users = broker.scram_users();
    let info = |list: &Vec<(ScramMechanism, i32)>| {
        list.iter()
            .map(|(m, i)| {
                let mut c = CredentialInfo::default();
                c.mechanism = m.kafka_type();
                c.iterations = *i;
                c
            })
            .collect()
    };
    let requested: Vec<String> = req
        .users
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.name.to_string())
        .collect();
    if requested.is_empty() {
        resp.results = users
            .iter()
            .map(|(u, list)| {
                let mut r = DescribeUserScramCredentialsResult::default();
                r.user = StrBytes::from_string(u.clone());
                r.credential_infos = info(list);
                r
            })
            .collect();
        return resp;
    }
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&String> = requested.iter().filter(|u| !seen.insert(*u)).collect();
    let mut reported = BTreeSet::new();
    for user in &requested {
        if !reported.insert(user) {
            continue;
        }
        let mut r = DescribeUserScramCredentialsResult::default();
        r.user = StrBytes::from_string(user.clone());
        if duplicates.contains(user) {
            r.error_code = ResponseError::DuplicateResource.code();
            r.error_message = msg(format!("user {user:?} is listed more than once"));
        } else if let Some(list) = users.get(user) {
            r.credential_infos = info(list);
        } else {
            r.error_code = ResponseError::ResourceNotFound.code();
            r.error_message = msg(format!("user {user:?} has no SCRAM credentials"));
        }
        resp.results.push(r);
    }
    resp
}

pub(crate) async fn alter_scram(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let mut resp = AlterUserScramCredentialsResponse::default();
    // Every user named gets exactly one result; the first error of a user wins.
    let mut errors: Vec<(String, Option<ApiError>)> = Vec::new();
    let allowed = may_manage_credentials(broker, ctx, Operation::Alter);
    let mut changes = Vec::new();
    let mut pairs = BTreeSet::new();
    let deletions = req
        .deletions
        .into_iter()
        .map(|d| (d.name.to_string(), d.mechanism, None));
    let upsertions = req.upsertions.into_iter().map(|u| {
        (
            u.name.to_string(),
            u.mechanism,
            Some((u.iterations, u.salt, u.salted_password)),
        )
    });
    for (user, mech, upsert) in deletions.chain(upsertions) {
        if !errors.iter().any(|(u, _)| *u == user) {
            errors.push((user.clone(), None));
        }
        if !allowed {
            let e = ApiError::new(
                ResponseError::ClusterAuthorizationFailed,
                format!("{} may not alter SCRAM credentials", ctx.principal),
            );
            fail(&user, e, &mut errors);
            continue;
        }
        let Some(mechanism) = ScramMechanism::from_kafka_type(mech) else {
            let e = ApiError::new(
                ResponseError::UnsupportedSaslMechanism,
                format!(
                    "unknown SCRAM mechanism {mech}; use 1 (SCRAM-SHA-256) or 2 (SCRAM-SHA-512)"
                ),
            );
            fail(&user, e, &mut errors);
            continue;
        };
        if !pairs.insert((user.clone(), mech)) {
            let e = ApiError::new(
                ResponseError::DuplicateResource,
                format!(
                    "{} of user {user:?} is changed more than once",
                    mechanism.name()
                ),
            );
            fail(&user, e, &mut errors);
            continue;
        }
        match upsert {
            None => changes.push(CredentialChange::Delete { user, mechanism }),
            Some((iterations, salt, salted)) => {
                if let Err(e) = validate_upsert(&user, iterations, &salt, &salted) {
                    fail(&user, e, &mut errors);
                    continue;
                }
                let credential = ScramCredential::from_salted_password(
                    mechanism,
                    salt.to_vec(),
                    &salted,
                    iterations,
                );
                changes.push(CredentialChange::Upsert {
                    user,
                    mechanism,
                    credential,
                });
            }
        }
    }
    // A user with any invalid change gets none applied.
    changes.retain(|c| {
        let user = match c {
            CredentialChange::Upsert { user, .. } | CredentialChange::Delete { user, .. } => user,
        };
        errors.iter().any(|(u, e)| u == user && e.is_none())
    });
    if !changes.is_empty() {
        match broker.alter_scram_credentials(changes).await {
            Ok(results) => {
                for (user, e) in results {
                    if let Some(e) = e {
                        fail(&user, e, &mut errors);
                    }
                }
            }
            Err(e) => {
                for (_, slot) in errors.iter_mut().filter(|(_, s)| s.is_none()) {
                    *slot = Some(e.clone());
                }
            }
        }
    }
    resp.results = errors
        .into_iter()
        .map(|(user, e)| {
            let mut r = AlterUserScramCredentialsResult::default();
            r.user = StrBytes::from_string(user);
            if let Some(e) = e {
                r.error_code = e.code.code();
                r.error_message = msg(e.message);
            }
            r
        })
        .collect();
    resp
}

/// Records `e` as `user`'s result unless an earlier error is there already.
fn fail(user: &str, e: ApiError, errors: &mut Vec<(String, Option<ApiError>)>) {
    match errors.iter_mut().find(|(u, _)| u == user) {
        Some((_, slot @ None)) => *slot = Some(e),
        Some(_) => {}
        None => errors.push((user.to_string(), Some(e))),
    }
}
