//! Follows the metadata image (KRaft's metadata publishers): every time the state machine
//! applies new records, the broker's local state is reconciled with the new image —
//! topics appear and disappear, replicas assigned here are opened (or removed and their
//! directories retired), each replica becomes leader or follower as its partition record
//! says, replica fetchers start and stop, the group coordinator loads or unloads the
//! `__consumer_offsets` partitions it now leads, and the ACL cache and quota table follow.
//!
//! Reconciliation runs on a blocking thread (it opens and recovers logs) and is idempotent:
//! applying the same image twice changes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use uuid::Uuid;

use crate::broker::{
    Broker, Lifecycle, OFFSETS_TOPIC, Topic, TopicSettings, partition_dir, retire_dir,
};
use crate::cluster::image::{MetadataImage, TopicImage};
use crate::cluster::raft::state::Published;
use crate::error::{Error, Result};
use crate::log::PartitionLog;
use crate::replica::{Partition, RoleChange};

/// The file in a partition directory naming the topic id it belongs to (Kafka's
/// `partition.metadata`): a directory left by a deleted topic of the same name is not
/// mistaken for the new topic's.
const PARTITION_METADATA: &str = "partition.metadata";

impl Broker {
    /// Reconciles local state with every new image until the quorum stops.
    pub(crate) async fn follow_metadata(self: Arc<Self>) {
        let mut rx = self.quorum.subscribe();
        let mut lifecycle = self.lifecycle.subscribe();
        loop {
            let published = rx.borrow_and_update().clone();
            let broker = self.clone();
            let index = published.index;
            match tokio::task::spawn_blocking(move || broker.reconcile(&published)).await {
                Ok(()) => {}
                Err(e) => tracing::error!(error = %e, "metadata reconciliation failed"),
            }
            self.published.send_replace(index);
            self.data_arrived.notify_waiters();
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = lifecycle.wait_for(|s| *s == Lifecycle::Stopped) => return,
            }
        }
    }

    /// Makes local state match `published`.
    pub(crate) fn reconcile(self: &Arc<Self>, published: &Published) {
        let image = &published.image;
        if let Some(id) = &image.cluster_id {
            self.set_cluster_id(id);
            let mut legacy = self
                .legacy_imported
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if *legacy && !image.topics.is_empty() {
                match crate::cluster::legacy::retire(&self.config.data_dir) {
                    Ok(()) => tracing::info!(
                        "metadata.json imported into the metadata log; renamed to metadata.json.imported"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "failed to rename the imported metadata.json")
                    }
                }
                *legacy = false;
            }
        }
        self.reconcile_security(image);
        let now = crate::now_ms();
        // Topics gone from the image (or recreated under the same name).
        let stale: Vec<Arc<Topic>> = self
            .topics()
            .into_iter()
            .filter(|t| image.topics.get(&t.name).is_none_or(|i| i.id != t.id))
            .collect();
        for topic in stale {
            self.remove_topic(&topic);
        }
        for (name, t) in &image.topics {
            if let Err(e) = self.reconcile_topic(image, name, t, now) {
                tracing::error!(topic = %name, error = %e, "failed to apply topic metadata");
            }
        }
    }

    fn reconcile_security(&self, image: &MetadataImage) {
        {
            let mut acls = self.acls.write().unwrap_or_else(|p| p.into_inner());
            if acls.as_slice() != image.acls.as_slice() {
                *acls = Arc::new(image.acls.clone());
            }
        }
        self.quotas.set_records(&image.client_quotas);
    }

    fn remove_topic(&self, topic: &Arc<Topic>) {
        self.topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&topic.name);
        for p in topic.partitions() {
            self.drop_replica(topic, &p);
        }
        self.fetch_sessions.forget_topic(&topic.name);
        tracing::info!(topic = %topic.name, "topic removed from this broker");
    }

    /// Stops serving a replica and retires its directory.
    fn drop_replica(&self, topic: &Topic, p: &Arc<Partition>) {
        self.fetchers.remove(&topic.name, p.index);
        if topic.name == OFFSETS_TOPIC {
            self.groups.unload_partition(p.index);
        }
        if topic.name == crate::txn::TXN_TOPIC {
            self.txns.unload_partition(p.index);
        }
        topic
            .partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&p.index);
        let dir = {
            let mut state = p.lock();
            if let Err(e) = state.log.flush() {
                tracing::warn!(topic = %topic.name, partition = p.index, error = %e, "flush before removal failed");
            }
            state.log.dir().to_path_buf()
        };
        retire_dir(&dir);
    }

    fn reconcile_topic(
        self: &Arc<Self>,
        image: &MetadataImage,
        name: &str,
        t: &TopicImage,
        now: i64,
    ) -> Result<()> {
        let topic = match self.topic(name) {
            Some(existing) => existing,
            None => {
                let log = self.config.topic_log_config(&t.configs)?;
                let topic = Arc::new(Topic {
                    name: name.to_string(),
                    id: t.id,
                    internal: t.internal,
                    partitions: Default::default(),
                    partition_count: Default::default(),
                    settings: std::sync::RwLock::new(TopicSettings {
                        overrides: t.configs.clone(),
                        log,
                    }),
                });
                self.topics
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), topic.clone());
                topic
            }
        };
        topic
            .partition_count
            .store(t.partitions.len() as i32, Ordering::Release);
        let configs_changed = {
            let settings = topic.settings.read().unwrap_or_else(|p| p.into_inner());
            settings.overrides != t.configs
        };
        if configs_changed {
            let log = self.config.topic_log_config(&t.configs)?;
            *topic.settings.write().unwrap_or_else(|p| p.into_inner()) = TopicSettings {
                overrides: t.configs.clone(),
                log: log.clone(),
            };
            for p in topic.partitions() {
                p.lock().log.set_config(log.clone());
            }
        }
        let hosted: BTreeSet<i32> = t
            .partitions
            .iter()
            .filter(|p| p.replicas.contains(&self.node_id))
            .map(|p| p.partition)
            .collect();
        for p in topic.partitions() {
            if !hosted.contains(&p.index) {
                tracing::info!(
                    topic = name,
                    partition = p.index,
                    "replica moved off this broker"
                );
                self.drop_replica(&topic, &p);
            }
        }
        for record in t
            .partitions
            .iter()
            .filter(|p| hosted.contains(&p.partition))
        {
            let partition = match topic.partition(record.partition) {
                Some(p) => p,
                None => {
                    let p = Arc::new(self.open_replica(&topic, record.partition)?);
                    topic
                        .partitions
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(record.partition, p.clone());
                    p
                }
            };
            let change = partition.apply_record(record, now)?;
            match change {
                RoleChange::None => {}
                RoleChange::Leader | RoleChange::Offline => {
                    self.fetchers.remove(name, record.partition);
                }
                RoleChange::Follower {
                    leader,
                    leader_epoch,
                } => {
                    self.fetchers
                        .follow(self, partition.clone(), leader, leader_epoch, image);
                }
            }
            if name == OFFSETS_TOPIC {
                match change {
                    RoleChange::Leader => self
                        .groups
                        .load_partition(partition.clone(), t.partitions.len()),
                    RoleChange::Follower { .. } | RoleChange::Offline => {
                        self.groups.unload_partition(record.partition)
                    }
                    RoleChange::None => {}
                }
            }
            if name == crate::txn::TXN_TOPIC {
                match change {
                    RoleChange::Leader => {
                        let preparing = self
                            .txns
                            .load_partition(partition.clone(), t.partitions.len());
                        self.resume_transactions(preparing);
                    }
                    RoleChange::Follower { .. } | RoleChange::Offline => {
                        self.txns.unload_partition(record.partition)
                    }
                    RoleChange::None => {}
                }
            }
        }
        // A follower whose leader's address changed (it restarted elsewhere) refetches.
        self.fetchers.refresh_addresses(self, image);
        Ok(())
    }

    /// Opens (recovering) the log of a replica assigned here; a directory left by an older
    /// topic of the same name is retired first.
    fn open_replica(&self, topic: &Topic, index: i32) -> Result<Partition> {
        let dir = partition_dir(&self.config.data_dir, &topic.name, index);
        let marker = dir.join(PARTITION_METADATA);
        if let Ok(text) = std::fs::read_to_string(&marker) {
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("topic_id: "))
                .and_then(|s| Uuid::parse_str(s.trim()).ok());
            if id.is_some_and(|id| id != topic.id) {
                tracing::info!(dir = %dir.display(), "retiring the directory of a deleted topic of the same name");
                retire_dir(&dir);
            }
        }
        let log = PartitionLog::open(&dir, topic.log_config())?;
        std::fs::write(&marker, format!("version: 0\ntopic_id: {}\n", topic.id))
            .map_err(|e| Error::io(format!("failed to write {}", marker.display()), e))?;
        Partition::new(&topic.name, index, topic.id, self.node_id, log)
    }
}
