//! The SCRAM credential store: kept in the cluster metadata (salted keys only), changed by
//! AlterUserScramCredentials and by `fjord.bootstrap.users` at start.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use super::SecurityConfig;
use super::scram::{MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, ScramMechanism};
use crate::broker::{ApiError, Broker};
use crate::cluster::MetadataStore;
use crate::error::Result;

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

/// Creates or resets the credentials of `fjord.bootstrap.users` whose stored credential does
/// not match the configured password (so a restart with the same config writes nothing).
pub(crate) fn apply_bootstrap_users(
    store: &mut MetadataStore,
    security: &SecurityConfig,
) -> Result<()> {
    let mut changes = Vec::new();
    for (user, password) in &security.bootstrap_users {
        for m in ScramMechanism::ALL {
            let current = store
                .image()
                .scram_credentials
                .get(user)
                .and_then(|c| c.get(&m));
            if !current.is_some_and(|c| c.verify_password(m, password)) {
                changes.push((
                    user.clone(),
                    m,
                    ScramCredential::from_password(m, password, BOOTSTRAP_ITERATIONS),
                ));
            }
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    tracing::info!(
        credentials = changes.len(),
        "creating SCRAM credentials of fjord.bootstrap.users"
    );
    store.update(|i| {
        for (user, m, c) in changes {
            i.scram_credentials.entry(user).or_default().insert(m, c);
        }
    })
}

impl Broker {
    /// The stored credential of `user` for `mechanism`.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<ScramCredential> {
        self.lock_metadata()
            .image()
            .scram_credentials
            .get(user)
            .and_then(|c| c.get(&mechanism))
            .cloned()
    }

    /// Users with credentials and, per mechanism, the iteration count.
    pub fn scram_users(&self) -> BTreeMap<String, Vec<(ScramMechanism, i32)>> {
        self.lock_metadata()
            .image()
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

    /// Applies validated changes in one metadata write. Deleting a credential that does not
    /// exist is RESOURCE_NOT_FOUND for that user, as in Kafka; other changes still apply.
    pub fn alter_scram_credentials(
        &self,
        changes: Vec<CredentialChange>,
    ) -> Result<Vec<(String, Option<ApiError>)>> {
        let mut store = self.lock_metadata();
        store.update(|image| {
            changes
                .into_iter()
                .map(|change| match change {
                    CredentialChange::Upsert {
                        user,
                        mechanism,
                        credential,
                    } => {
                        image
                            .scram_credentials
                            .entry(user.clone())
                            .or_default()
                            .insert(mechanism, credential);
                        (user, None)
                    }
                    CredentialChange::Delete { user, mechanism } => {
                        let removed = image
                            .scram_credentials
                            .get_mut(&user)
                            .and_then(|c| c.remove(&mechanism))
                            .is_some();
                        if image
                            .scram_credentials
                            .get(&user)
                            .is_some_and(|c| c.is_empty())
                        {
                            image.scram_credentials.remove(&user);
                        }
                        let err = (!removed).then(|| {
                            ApiError::new(
                                ResponseError::ResourceNotFound,
                                format!("user {user:?} has no {} credential", mechanism.name()),
                            )
                        });
                        (user, err)
                    }
                })
                .collect()
        })
    }
}
