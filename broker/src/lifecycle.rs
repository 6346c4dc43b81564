//! A broker's life in the cluster (KRaft's `BrokerLifecycleManager`): register with the
//! active controller, catch up with the metadata log, heartbeat so the controller unfences
//! it and keeps it unfenced, re-register when the controller no longer knows this
//! incarnation, and on shutdown ask the controller to move leadership away first.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;

use crate::broker::{Broker, Lifecycle};
use crate::cluster::rpc::{ControllerRequest, ControllerResult};

impl Broker {
    /// Creates or resets the SCRAM credentials of `fjord.bootstrap.users` in the metadata
    /// (they authenticate from the configuration alone until then).
    async fn apply_bootstrap_users(&self) {
        let changes =
            crate::security::credentials::bootstrap_changes(&self.image(), &self.config.security);
        if changes.is_empty() {
            return;
        }
        let count = changes.len();
        match self
            .quorum
            .submit(ControllerRequest::AlterScram(changes))
            .await
        {
            Ok(reply) => {
                self.wait_published(reply.index).await;
                tracing::info!(
                    credentials = count,
                    "created SCRAM credentials of fjord.bootstrap.users"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "could not store the credentials of fjord.bootstrap.users")
            }
        }
    }

    /// Registers and heartbeats until the broker stops.
    pub(crate) async fn run_lifecycle(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.cluster.heartbeat_interval_ms);
        let mut shutdown = self.shutdown_requested.subscribe();
        'register: loop {
            if self.lifecycle() == Lifecycle::Stopped {
                return;
            }
            let registration = self.registration();
            let registered = match self
                .quorum
                .submit(ControllerRequest::RegisterBroker(registration))
                .await
            {
                Ok(reply) => reply.index,
                Err(e) => {
                    tracing::info!(error = %e.message, "registration with the controller failed; retrying");
                    let mut lifecycle = self.lifecycle.subscribe();
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = lifecycle.wait_for(|s| *s == Lifecycle::Stopped) => return,
                    }
                    continue;
                }
            };
            tracing::info!(node_id = self.node_id, incarnation = %self.incarnation_id, "registered with the controller");
            // Catch up with the log up to the registration before the first heartbeat, so
            // it can already say so.
            self.wait_published(registered).await;
            loop {
                if self.lifecycle() == Lifecycle::Stopped {
                    return;
                }
                let caught_up = *self.published.borrow() >= registered
                    && self
                        .image()
                        .brokers
                        .get(&self.node_id)
                        .is_some_and(|b| b.incarnation_id == self.incarnation_id);
                let want_shutdown = *shutdown.borrow();
                let heartbeat = ControllerRequest::Heartbeat {
                    node_id: self.node_id,
                    incarnation_id: self.incarnation_id,
                    caught_up,
                    want_shutdown,
                };
                match self.quorum.submit(heartbeat).await {
                    Ok(reply) => {
                        self.wait_published(reply.index).await;
                        if let ControllerResult::Heartbeat {
                            fenced,
                            shutdown_ready,
                        } = reply.result
                        {
                            if want_shutdown {
                                if self.lifecycle() != Lifecycle::ShuttingDown {
                                    tracing::info!(
                                        "controlled shutdown: moving leadership to other replicas"
                                    );
                                    self.lifecycle.send_replace(Lifecycle::ShuttingDown);
                                }
                                if shutdown_ready {
                                    tracing::info!(
                                        "controlled shutdown: no partition left to hand over"
                                    );
                                    self.lifecycle.send_replace(Lifecycle::Stopped);
                                    return;
                                }
                            } else if !fenced && self.lifecycle() == Lifecycle::Starting {
                                self.apply_bootstrap_users().await;
                                tracing::info!(node_id = self.node_id, "unfenced: serving clients");
                                self.lifecycle.send_replace(Lifecycle::Running);
                            }
                        }
                    }
                    Err(e) if e.code == ResponseError::StaleBrokerEpoch => {
                        tracing::warn!(error = %e.message, "the controller does not know this incarnation; registering again");
                        continue 'register;
                    }
                    Err(e) => {
                        tracing::info!(error = %e.message, "heartbeat failed");
                    }
                }
                let mut lifecycle = self.lifecycle.subscribe();
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => {}
                    _ = lifecycle.wait_for(|s| *s == Lifecycle::Stopped) => return,
                }
            }
        }
    }
}
