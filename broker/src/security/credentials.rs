//! The SCRAM credential store: kept in the cluster metadata (salted keys only), changed by
//! AlterUserScramCredentials and by `fjord.bootstrap.users` at start.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use super::SecurityConfig;
use super::scram::{MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, ScramMechanism};
use crate::broker::{ApiError, Broker};
use crate::cluster::image::MetadataImage;
use crate::cluster::records::ScramChange;

/// Iterations used for bootstrap users.
const BOOTSTRAP_ITERATIONS: i32 = 4096;

/// One requested change of AlterUserScramCredentials.
#[derive(Debug, Clone)]
pub enum CredentialChange {
    /// Set (or replace) a user's credential for one mechanism.
    Upsert {
        /// User name.
        user: String,
        /// Mechanism.
        mechanism: ScramMechanism,
        /// The derived credential.
        credential: ScramCredential,
    },
    /// Remove a user's credential for one mechanism.
    Delete {
        /// User name.
        user: String,
        /// Mechanism.
        mechanism: ScramMechanism,
    },
}

/// Checks an upsertion's fields as Kafka does; the error names what to fix.
pub fn validate_upsert(
    user: &str,
    iterations: i32,
    salt: &[u8],
    salted: &[u8],
) -> Result<(), ApiError> {
    if user.is_empty() {
        return Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            "user name must not be empty",
        ));
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            format!(
                "iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, got {iterations}"
            ),
        ));
    }
    if salt.is_empty() || salted.is_empty() {
        return Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            "salt and salted password must not be empty",
        ));
    }
    Ok(())
}

/// The changes that create or reset the credentials of `fjord.bootstrap.users` whose
/// stored credential does not match the configured password (so a restart with the same
/// config writes nothing).
pub(crate) fn bootstrap_changes(
    image: &MetadataImage,
    security: &SecurityConfig,
) -> Vec<ScramChange> {
    let mut changes = Vec::new();
    for (user, password) in &security.bootstrap_users {
        for m in ScramMechanism::ALL {
            let current = image.scram_credentials.get(user).and_then(|c| c.get(&m));
            if !current.is_some_and(|c| c.verify_password(m, password)) {
                changes.push(ScramChange {
                    user: user.clone(),
                    mechanism: m,
                    credential: Some(ScramCredential::from_password(
                        m,
                        password,
                        BOOTSTRAP_ITERATIONS,
                    )),
                });
            }
        }
    }
    changes
}

impl Broker {
    /// The credential of `user` for `mechanism`: from the metadata image, or from
    /// `fjord.bootstrap.users` (so brokers and the first admin can authenticate before the
    /// image holds them, e.g. to each other while a cluster forms).
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<ScramCredential> {
        if let Some(c) = self
            .image()
            .scram_credentials
            .get(user)
            .and_then(|c| c.get(&mechanism))
        {
            return Some(c.clone());
        }
        self.config
            .security
            .bootstrap_users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, password)| self.bootstrap_credential(user, password, mechanism))
    }

    /// A bootstrap user's credential, derived once per process (PBKDF2 is slow).
    fn bootstrap_credential(
        &self,
        user: &str,
        password: &str,
        mechanism: ScramMechanism,
    ) -> ScramCredential {
        static CACHE: std::sync::OnceLock<
            std::sync::Mutex<BTreeMap<(String, String, ScramMechanism), ScramCredential>>,
        > = std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let key = (user.to_string(), password.to_string(), mechanism);
        if let Some(c) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return c.clone();
        }
        let c = ScramCredential::from_password(mechanism, password, BOOTSTRAP_ITERATIONS);
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, c.clone());
        c
    }

    /// Users with credentials and, per mechanism, the iteration count.
    pub fn scram_users(&self) -> BTreeMap<String, Vec<(ScramMechanism, i32)>> {
        self.image()
            .scram_credentials
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(u, c)| {
                (
                    u.clone(),
                    c.iter().map(|(m, c)| (*m, c.iterations)).collect(),
                )
            })
            .collect()
    }

    /// Applies validated changes through the controller. Deleting a credential that does
    /// not exist is RESOURCE_NOT_FOUND for that user, as in Kafka; other changes still apply.
    pub async fn alter_scram_credentials(
        &self,
        changes: Vec<CredentialChange>,
    ) -> Result<Vec<(String, Option<ApiError>)>, ApiError> {
        let users: Vec<String> = changes
            .iter()
            .map(|c| match c {
                CredentialChange::Upsert { user, .. } | CredentialChange::Delete { user, .. } => {
                    user.clone()
                }
            })
            .collect();
        let wire: Vec<ScramChange> = changes
            .into_iter()
            .map(|c| match c {
                CredentialChange::Upsert {
                    user,
                    mechanism,
                    credential,
                } => ScramChange {
                    user,
                    mechanism,
                    credential: Some(credential),
                },
                CredentialChange::Delete { user, mechanism } => ScramChange {
                    user,
                    mechanism,
                    credential: None,
                },
            })
            .collect();
        let reply = self
            .quorum
            .submit(crate::cluster::rpc::ControllerRequest::AlterScram(wire))
            .await?;
        self.wait_published(reply.index).await;
        let crate::cluster::rpc::ControllerResult::Scram(results) = reply.result else {
            return Err(ApiError::new(
                ResponseError::UnknownServerError,
                "the controller answered AlterUserScramCredentials oddly",
            ));
        };
        Ok(users
            .into_iter()
            .zip(results)
            .map(|(user, r)| {
                let err = r.map(|(code, message)| {
                    ApiError::new(
                        ResponseError::try_from_code(code)
                            .unwrap_or(ResponseError::UnknownServerError),
                        message,
                    )
                });
                (user, err)
            })
            .collect())
    }
}
