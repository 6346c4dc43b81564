//! Reading records: Fetch of one partition from an offset (what the usage collector needs to
//! read `__fjord_usage`, and what the message browser shows; neither uses a consumer group),
//! and ListOffsets for a partition's first and next offsets. Both go to the partition's
//! leader, found with Metadata before each read.

use bytes::Bytes;
use fjord_broker::client::Connection;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::{AdminClient, KafkaError};

/// Records read from one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedRecords {
    /// (offset, value) of each record at or after the requested offset, in order.
    pub records: Vec<(i64, Option<Bytes>)>,
    /// The partition's high watermark when it was read.
    pub high_watermark: i64,
}

/// Whole records (key, timestamp, headers) read from one partition.
#[derive(Debug, Clone, Default)]
pub struct FetchedBatch {
    /// Data records at or after the requested offset, in order (control records left out).
    pub records: Vec<Record>,
    /// The partition's high watermark when it was read.
    pub high_watermark: i64,
}

/// The offsets that bound a partition's readable records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The first offset still in the log (log start offset).
    pub earliest: i64,
    /// The offset the next record will get (the high watermark).
    pub latest: i64,
}

impl AdminClient {
    /// The connection to the leader of `topic`/`partition`: the bootstrap connection when it
    /// leads (or Metadata names no leader: the read then fails with the broker's own error),
    /// else one to the leader, opened on first use and kept.
    async fn leader_conn(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<&mut Connection, KafkaError> {
        let version = self.conn.version_for::<MetadataRequest>(4..=12)?;
        let mut t = MetadataRequestTopic::default();
        t.name = Some(TopicName(StrBytes::from_string(topic.to_string())));
        let mut request = MetadataRequest::default();
        request.topics = Some(vec![t]);
        request.allow_auto_topic_creation = false;
        let response = self.conn.send(&request, version).await?;
        let leader = response
            .topics
            .first()
            .and_then(|t| t.partitions.iter().find(|p| p.partition_index == partition))
            .map(|p| p.leader_id.0)
            .and_then(|id| response.brokers.iter().find(|b| b.node_id.0 == id))
            .map(|b| format!("{}:{}", b.host.as_str(), b.port));
        let Some(addr) = leader.filter(|a| a.as_str() != self.conn.addr()) else {
            return Ok(&mut self.conn);
        };
        if self.leaders.get(&addr).is_none_or(|c| c.is_broken()) {
            let options = fjord_broker::client::ConnectOptions {
                bootstrap: addr.clone(),
                ..self.options.clone()
            };
            let mut conn = fjord_broker::client::connect(&options, self.timeout).await?;
            conn.set_client_id("fjord-control-plane");
            self.leaders.insert(addr.clone(), conn);
        }
        self.leaders
            .get_mut(&addr)
            .ok_or_else(|| KafkaError::Protocol(format!("no connection to {addr}")))
    }

    /// Fetch of `topic`/`partition` from `offset`, at most about `max_bytes`; answers at once
    /// (no long poll), with no records when there are none yet.
    pub async fn fetch_records(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    ) -> Result<FetchedRecords, KafkaError> {
        let batch = self
            .fetch_batch(topic, partition, offset, max_bytes)
            .await?;
        Ok(FetchedRecords {
            records: batch
                .records
                .into_iter()
                .map(|r| (r.offset, r.value))
                .collect(),
            high_watermark: batch.high_watermark,
        })
    }

    /// [`AdminClient::fetch_records`] keeping whole records. As in Kafka, the broker returns
    /// at least one whole batch even when it is larger than `max_bytes`.
    pub async fn fetch_batch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    ) -> Result<FetchedBatch, KafkaError> {
        let conn = self.leader_conn(topic, partition).await?;
        // v12: topics by name (v13+ wants topic ids).
        let version = conn.version_for::<FetchRequest>(4..=12)?;
        let mut p = FetchPartition::default();
        p.partition = partition;
        p.fetch_offset = offset;
        p.partition_max_bytes = max_bytes;
        let mut t = FetchTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
        t.partitions = vec![p];
        let mut request = FetchRequest::default();
        request.replica_id = BrokerId(-1);
        request.max_wait_ms = 0;
        request.min_bytes = 0;
        request.max_bytes = max_bytes;
        request.session_epoch = -1;
        request.topics = vec![t];
        let response = conn.send(&request, version).await?;
        KafkaError::check(|| format!("fetch {topic}"), response.error_code, None)?;
        let data = response
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| KafkaError::Protocol(format!("Fetch answered nothing for {topic}")))?;
        KafkaError::check(
            || format!("fetch {topic}-{partition} from offset {offset}"),
            data.error_code,
            None,
        )?;
        let mut out = FetchedBatch {
            records: Vec::new(),
            high_watermark: data.high_watermark,
        };
        let mut bytes = data.records.clone().unwrap_or_default();
        while !bytes.is_empty() {
            // A batch cut short by max_bytes ends the read; the next fetch starts there.
            let Ok(set) = RecordBatchDecoder::decode(&mut bytes) else {
                break;
            };
            out.records.extend(
                set.records
                    .into_iter()
                    .filter(|r| r.offset >= offset && !r.control),
            );
        }
        Ok(out)
    }

    /// The earliest and latest offsets of `topic`/`partition` (ListOffsets, read
    /// uncommitted: the latest offset is the high watermark).
    pub async fn partition_offsets(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionOffsets, KafkaError> {
        // ListOffsets timestamps: -2 is the earliest offset, -1 the latest.
        let earliest = self.list_offset(topic, partition, -2).await?;
        let latest = self.list_offset(topic, partition, -1).await?;
        Ok(PartitionOffsets { earliest, latest })
    }

    async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<i64, KafkaError> {
        let conn = self.leader_conn(topic, partition).await?;
        let version = conn.version_for::<ListOffsetsRequest>(1..=7)?;
        let mut p = ListOffsetsPartition::default();
        p.partition_index = partition;
        p.current_leader_epoch = -1;
        p.timestamp = timestamp;
        let mut t = ListOffsetsTopic::default();
        t.name = TopicName(StrBytes::from_string(topic.to_string()));
        t.partitions = vec![p];
        let mut request = ListOffsetsRequest::default();
        request.replica_id = BrokerId(-1);
        request.topics = vec![t];
        let response = conn.send(&request, version).await?;
        let data = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| {
                KafkaError::Protocol(format!("ListOffsets answered nothing for {topic}"))
            })?;
        KafkaError::check(
            || format!("list offsets of {topic}-{partition}"),
            data.error_code,
            None,
        )?;
        Ok(data.offset)
    }
}
