//! SCRAM credentials through AlterUserScramCredentials (KIP-554): the salted password is
//! derived here, so the plaintext never reaches the broker or the wire.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::AlterUserScramCredentialsRequest;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::protocol::StrBytes;

use fjord_broker::security::scram::{MAX_CLIENT_ITERATIONS, ScramMechanism as ScramHash};

use super::{AdminClient, KafkaError, SaslMechanism};

/// Bytes of random salt per credential.
const SALT_BYTES: usize = 32;

fn scram_hash(mechanism: SaslMechanism) -> Result<ScramHash, KafkaError> {
    match mechanism {
        SaslMechanism::ScramSha256 => Ok(ScramHash::Sha256),
        SaslMechanism::ScramSha512 => Ok(ScramHash::Sha512),
        SaslMechanism::Plain => Err(KafkaError::Protocol(
            "PLAIN has no credential of its own (the broker checks PLAIN against the SCRAM credentials); use SCRAM-SHA-256 or SCRAM-SHA-512".into(),
        )),
    }
}

impl AdminClient {
    /// AlterUserScramCredentials upsert: the salted password is computed here (PBKDF2 with
    /// a random salt), so the plaintext never leaves this process.
    pub async fn upsert_scram_credential(
        &mut self,
        user: &str,
        mechanism: SaslMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<(), KafkaError> {
        let hash = scram_hash(mechanism)?;
        if iterations > MAX_CLIENT_ITERATIONS {
            return Err(KafkaError::Protocol(format!(
                "{iterations} SCRAM iterations is more than {MAX_CLIENT_ITERATIONS}"
            )));
        }
        let version = self
            .conn
            .version_for::<AlterUserScramCredentialsRequest>(0..=0)?;
        let salt: [u8; SALT_BYTES] = rand::random();
        let secret = password.to_string();
        // PBKDF2 runs for milliseconds: off the async workers.
        let salted = tokio::task::spawn_blocking(move || {
            hash.salted_password(secret.as_bytes(), &salt, iterations)
        })
        .await
        .map_err(|e| KafkaError::Protocol(format!("PBKDF2 computation failed: {e}")))?;
        let mut upsertion = ScramCredentialUpsertion::default();
        upsertion.name = StrBytes::from_string(user.to_string());
        upsertion.mechanism = hash.kafka_type();
        upsertion.iterations = i32::try_from(iterations).unwrap_or(i32::MAX);
        upsertion.salt = Bytes::copy_from_slice(&salt);
        upsertion.salted_password = Bytes::from(salted);
        let mut request = AlterUserScramCredentialsRequest::default();
        request.upsertions = vec![upsertion];
        let code = self.alter_scram(&request, version, user).await?;
        KafkaError::check(
            || format!("set {} credential of user {user}", mechanism.name()),
            code.0,
            code.1.as_ref(),
        )?;
        tracing::info!(
            user,
            mechanism = mechanism.name(),
            "upserted SCRAM credential"
        );
        Ok(())
    }

    /// AlterUserScramCredentials deletion; `Ok` when the user had none.
    pub async fn delete_scram_credential(
        &mut self,
        user: &str,
        mechanism: SaslMechanism,
    ) -> Result<(), KafkaError> {
        let hash = scram_hash(mechanism)?;
        let version = self
            .conn
            .version_for::<AlterUserScramCredentialsRequest>(0..=0)?;
        let mut deletion = ScramCredentialDeletion::default();
        deletion.name = StrBytes::from_string(user.to_string());
        deletion.mechanism = hash.kafka_type();
        let mut request = AlterUserScramCredentialsRequest::default();
        request.deletions = vec![deletion];
        let (code, message) = self.alter_scram(&request, version, user).await?;
        if code == ResponseError::ResourceNotFound.code() {
            tracing::debug!(
                user,
                mechanism = mechanism.name(),
                "no SCRAM credential to delete"
            );
            return Ok(());
        }
        KafkaError::check(
            || format!("delete {} credential of user {user}", mechanism.name()),
            code,
            message.as_ref(),
        )?;
        tracing::info!(
            user,
            mechanism = mechanism.name(),
            "deleted SCRAM credential"
        );
        Ok(())
    }

    /// Sends the request and returns `user`'s result code and message.
    async fn alter_scram(
        &mut self,
        request: &AlterUserScramCredentialsRequest,
        version: i16,
        user: &str,
    ) -> Result<(i16, Option<StrBytes>), KafkaError> {
        let response = self.conn.send(request, version).await?;
        response
            .results
            .into_iter()
            .find(|r| r.user.as_str() == user)
            .map(|r| (r.error_code, r.error_message))
            .ok_or_else(|| {
                KafkaError::Protocol(format!(
                    "AlterUserScramCredentials did not answer for {user}"
                ))
            })
    }
}
