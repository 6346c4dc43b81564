//! Reading records: Fetch of one partition from an offset (what the usage collector needs to
//! read `__fjord_usage`; it keeps its own offsets, so no consumer group is involved).

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::{AdminClient, KafkaError};

/// Records read from one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedRecords {
    /// (offset, value) of each record at or after the requested offset, in order.
    pub records: Vec<(i64, Option<Bytes>)>,
    /// The partition's high watermark when it was read.
    pub high_watermark: i64,
}

impl AdminClient {
    /// Fetch of `topic`/`partition` from `offset`, at most about `max_bytes`; answers at once
    /// (no long poll), with no records when there are none yet.
    pub async fn fetch_records(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    ) -> Result<FetchedRecords, KafkaError> {
        // v12: topics by name (v13+ wants topic ids).
        let version = self.conn.version_for::<FetchRequest>(4..=12)?;
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
        let response = self.conn.send(&request, version).await?;
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
        let mut out = FetchedRecords {
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
                    .filter(|r| r.offset >= offset)
                    .map(|r| (r.offset, r.value)),
            );
        }
        Ok(out)
    }
}
