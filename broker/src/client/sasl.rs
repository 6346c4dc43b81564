//! SASL authentication of a fresh connection: SaslHandshake v1 names the mechanism, then
//! SaslAuthenticate carries PLAIN's one message or SCRAM's two rounds.

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use super::{KafkaError, SaslMechanism};
use crate::security::scram::{ScramClient, ScramMechanism};

/// Authenticates `conn` as `user`; a refusal is [`KafkaError::Broker`] with the broker's code
/// (`SASL_AUTHENTICATION_FAILED`, `UNSUPPORTED_SASL_MECHANISM`, …).
pub(crate) async fn authenticate(
    conn: &mut Connection,
    mechanism: SaslMechanism,
    user: &str,
    password: &str,
) -> Result<(), KafkaError> {
    let operation = || format!("SASL {} authentication as {user}", mechanism.name());
    // v0 switches to raw tokens after the handshake; only v1 is spoken here.
    let handshake_version = conn.version_for::<SaslHandshakeRequest>(1..=1)?;
    let auth_version = conn.version_for::<SaslAuthenticateRequest>(0..=2)?;
    let mut handshake = SaslHandshakeRequest::default();
    handshake.mechanism = StrBytes::from_static_str(mechanism.name());
    let response = conn.send(&handshake, handshake_version).await?;
    if response.error_code != 0 {
        let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
        let message = StrBytes::from_string(format!("the broker offers {}", enabled.join(", ")));
        KafkaError::check(operation, response.error_code, Some(&message))?;
    }
    let round = |bytes: Vec<u8>| {
        let mut request = SaslAuthenticateRequest::default();
        request.auth_bytes = Bytes::from(bytes);
        request
    };
    match mechanism {
        SaslMechanism::Plain => {
            let token = format!("\0{user}\0{password}").into_bytes();
            let response = conn.send(&round(token), auth_version).await?;
            KafkaError::check(
                operation,
                response.error_code,
                response.error_message.as_ref(),
            )
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let hash = if mechanism == SaslMechanism::ScramSha256 {
                ScramMechanism::Sha256
            } else {
                ScramMechanism::Sha512
            };
            let mut client = ScramClient::new(hash, user, password);
            let first = conn
                .send(&round(client.client_first()), auth_version)
                .await?;
            KafkaError::check(operation, first.error_code, first.error_message.as_ref())?;
            // PBKDF2 runs for milliseconds: off the async workers.
            let server_first = first.auth_bytes;
            let (client, client_final) = tokio::task::spawn_blocking(move || {
                let message = client.client_final(&server_first);
                (client, message)
            })
            .await
            .map_err(|e| KafkaError::Protocol(format!("SCRAM computation failed: {e}")))?;
            let client_final = client_final
                .map_err(|e| KafkaError::Protocol(format!("{} failed: {e}", operation())))?;
            let last = conn.send(&round(client_final), auth_version).await?;
            KafkaError::check(operation, last.error_code, last.error_message.as_ref())?;
            client
                .verify_server_final(&last.auth_bytes)
                .map_err(|e| KafkaError::Protocol(format!("{} failed: {e}", operation())))
        }
    }
}
