//! The metadata image: the cluster's metadata as of one log index, built by applying
//! [`MetadataRecord`]s in order. Every node holds one (voters and learners alike) and answers
//! Metadata, DescribeConfigs, DescribeAcls, … from it. Applying is pure and total: a record
//! that names something absent changes nothing (the controller never writes one, but a
//! replayed log must not stop a node).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::{BrokerRegistration, MetadataRecord, NO_LEADER, PartitionRecord};
use crate::quota::ClientQuotaRecord;
use crate::security::acl::AclBinding;
use crate::security::scram::{ScramCredential, ScramMechanism};

/// One topic of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// Stable id.
    pub id: Uuid,
    /// Internal topics are written by brokers only.
    pub internal: bool,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
    /// Partitions in index order.
    pub partitions: Vec<PartitionRecord>,
}

/// The whole metadata of a cluster. (`PartialEq` only: quota values are floating point.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Set by the first record of the log.
    pub cluster_id: Option<String>,
    /// Registered brokers by node id.
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// SCRAM credentials by user and mechanism (salted keys only, never passwords).
    pub scram_credentials: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    /// ACLs in creation order.
    pub acls: Vec<AclBinding>,
    /// Client quotas, one record per entity, sorted by entity.
    pub client_quotas: Vec<ClientQuotaRecord>,
    /// The next producer id the controller will hand out.
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// Applies one record.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::ClusterCreated { cluster_id } => {
                if self.cluster_id.is_none() {
                    self.cluster_id = Some(cluster_id.clone());
                }
            }
            MetadataRecord::BrokerRegistered(registration) => {
                self.brokers
                    .insert(registration.node_id, registration.clone());
            }
            MetadataRecord::BrokerFenced { node_id, fenced } => {
                if let Some(b) = self.brokers.get_mut(node_id) {
                    b.fenced = *fenced;
                    if !*fenced {
                        b.shutting_down = false;
                    }
                }
            }
            MetadataRecord::BrokerShuttingDown { node_id } => {
                if let Some(b) = self.brokers.get_mut(node_id) {
                    b.shutting_down = true;
                }
            }
            MetadataRecord::BrokerUnregistered { node_id } => {
                self.brokers.remove(node_id);
            }
            MetadataRecord::TopicCreated {
                name,
                id,
                internal,
                configs,
            } => {
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        id: *id,
                        internal: *internal,
                        configs: configs.clone(),
                        partitions: Vec::new(),
                    },
                );
            }
            MetadataRecord::PartitionChanged { topic, record } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    match usize::try_from(record.partition) {
                        Ok(i) if i < t.partitions.len() => t.partitions[i] = record.clone(),
                        Ok(i) if i == t.partitions.len() => t.partitions.push(record.clone()),
                        _ => {}
                    }
                }
            }
            MetadataRecord::TopicDeleted { name } => {
                self.topics.remove(name);
            }
            MetadataRecord::TopicConfigsSet { name, configs } => {
                if let Some(t) = self.topics.get_mut(name) {
                    t.configs = configs.clone();
                }
            }
            MetadataRecord::ScramCredentialsChanged { changes } => {
                for c in changes {
                    match &c.credential {
                        Some(credential) => {
                            self.scram_credentials
                                .entry(c.user.clone())
                                .or_default()
                                .insert(c.mechanism, credential.clone());
                        }
                        None => {
                            if let Some(by_mechanism) = self.scram_credentials.get_mut(&c.user) {
                                by_mechanism.remove(&c.mechanism);
                                if by_mechanism.is_empty() {
                                    self.scram_credentials.remove(&c.user);
                                }
                            }
                        }
                    }
                }
            }
            MetadataRecord::AclsCreated { bindings } => {
                for b in bindings {
                    if !self.acls.contains(b) {
                        self.acls.push(b.clone());
                    }
                }
            }
            MetadataRecord::AclsDeleted { bindings } => {
                self.acls.retain(|b| !bindings.contains(b));
            }
            MetadataRecord::ClientQuotasChanged { changes } => {
                crate::quota::apply_changes(&mut self.client_quotas, changes);
            }
            MetadataRecord::ProducerIdsAllocated { first, size, .. } => {
                self.next_producer_id = self.next_producer_id.max(first + size);
            }
        }
    }

    /// A partition's record.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRecord> {
        let t = self.topics.get(topic)?;
        t.partitions.get(usize::try_from(partition).ok()?)
    }

    /// A topic by id, with its name.
    pub fn topic_by_id(&self, id: Uuid) -> Option<(&String, &TopicImage)> {
        self.topics.iter().find(|(_, t)| t.id == id)
    }

    /// Brokers that may lead and be in ISRs (registered, unfenced, not shutting down).
    pub fn usable_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| b.usable())
    }

    /// Whether `node` is registered and usable.
    pub fn is_usable(&self, node: i32) -> bool {
        self.brokers
            .get(&node)
            .is_some_and(BrokerRegistration::usable)
    }

    /// Every partition (topic, record) whose replicas include `node`.
    pub fn partitions_of(&self, node: i32) -> impl Iterator<Item = (&String, &PartitionRecord)> {
        self.topics.iter().flat_map(move |(name, t)| {
            t.partitions
                .iter()
                .filter(move |p| p.replicas.contains(&node))
                .map(move |p| (name, p))
        })
    }

    /// Partitions whose ISR is smaller than their replica set (Kafka's
    /// UnderReplicatedPartitions), led by `leader` when given.
    pub fn under_replicated(&self, leader: Option<i32>) -> usize {
        self.topics
            .values()
            .flat_map(|t| &t.partitions)
            .filter(|p| leader.is_none_or(|l| p.leader == l))
            .filter(|p| p.isr.len() < p.target_replicas().len() || p.leader == NO_LEADER)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::{Endpoint, ScramChange};
    use crate::security::acl::{Operation, PatternType, Permission, ResourceType};

    fn broker(id: i32) -> BrokerRegistration {
        BrokerRegistration {
            node_id: id,
            incarnation_id: Uuid::nil(),
            epoch: 1,
            listeners: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9000 + id as u16,
            }],
            rack: None,
            fenced: true,
            shutting_down: false,
        }
    }

    fn partition(index: i32, replicas: &[i32]) -> PartitionRecord {
        PartitionRecord {
            partition: index,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            leader: replicas[0],
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }
    }

    #[test]
    fn records_build_the_image_and_unknown_names_change_nothing() {
        let mut image = MetadataImage::default();
        let records = [
            MetadataRecord::ClusterCreated {
                cluster_id: "c1".into(),
            },
            MetadataRecord::ClusterCreated {
                cluster_id: "ignored".into(),
            },
            MetadataRecord::BrokerRegistered(broker(1)),
            MetadataRecord::BrokerFenced {
                node_id: 1,
                fenced: false,
            },
            MetadataRecord::TopicCreated {
                name: "t".into(),
                id: Uuid::from_u128(7),
                internal: false,
                configs: BTreeMap::new(),
            },
            MetadataRecord::PartitionChanged {
                topic: "t".into(),
                record: partition(0, &[1]),
            },
            MetadataRecord::PartitionChanged {
                topic: "t".into(),
                record: partition(1, &[1]),
            },
            // Gaps and unknown topics are ignored.
            MetadataRecord::PartitionChanged {
                topic: "t".into(),
                record: partition(5, &[1]),
            },
            MetadataRecord::PartitionChanged {
                topic: "nope".into(),
                record: partition(0, &[1]),
            },
            MetadataRecord::BrokerFenced {
                node_id: 9,
                fenced: false,
            },
            MetadataRecord::ProducerIdsAllocated {
                node_id: 1,
                first: 0,
                size: 1000,
            },
        ];
        for r in &records {
            image.apply(r);
        }
        assert_eq!(image.cluster_id.as_deref(), Some("c1"));
        assert!(image.is_usable(1));
        assert!(!image.is_usable(9));
        assert_eq!(image.topics["t"].partitions.len(), 2);
        assert_eq!(image.topic_by_id(Uuid::from_u128(7)).unwrap().0, "t");
        assert_eq!(image.next_producer_id, 1000);
        assert_eq!(image.partitions_of(1).count(), 2);
        assert_eq!(image.under_replicated(None), 0);

        let mut changed = partition(1, &[1, 2]);
        changed.isr = vec![1];
        image.apply(&MetadataRecord::PartitionChanged {
            topic: "t".into(),
            record: changed,
        });
        assert_eq!(image.under_replicated(None), 1);
        assert_eq!(image.under_replicated(Some(2)), 0);

        image.apply(&MetadataRecord::TopicDeleted { name: "t".into() });
        assert!(image.topics.is_empty());
    }

    #[test]
    fn credentials_and_acls_apply_as_sets() {
        let mut image = MetadataImage::default();
        let credential = ScramCredential::from_password(ScramMechanism::Sha256, "pw", 4096);
        image.apply(&MetadataRecord::ScramCredentialsChanged {
            changes: vec![ScramChange {
                user: "alice".into(),
                mechanism: ScramMechanism::Sha256,
                credential: Some(credential),
            }],
        });
        assert!(image.scram_credentials["alice"].contains_key(&ScramMechanism::Sha256));
        image.apply(&MetadataRecord::ScramCredentialsChanged {
            changes: vec![ScramChange {
                user: "alice".into(),
                mechanism: ScramMechanism::Sha256,
                credential: None,
            }],
        });
        assert!(
            image.scram_credentials.is_empty(),
            "a user without credentials disappears"
        );

        let binding = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "t".into(),
            pattern_type: PatternType::Literal,
            principal: "User:a".into(),
            host: "*".into(),
            operation: Operation::Read,
            permission: Permission::Allow,
        };
        let created = MetadataRecord::AclsCreated {
            bindings: vec![binding.clone(), binding.clone()],
        };
        image.apply(&created);
        image.apply(&created);
        assert_eq!(image.acls.len(), 1);
        image.apply(&MetadataRecord::AclsDeleted {
            bindings: vec![binding],
        });
        assert!(image.acls.is_empty());
    }
}
