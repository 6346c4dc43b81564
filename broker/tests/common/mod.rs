//! Helpers shared by the broker's wire-level integration tests: an in-process broker on
//! 127.0.0.1:0 and raw Kafka frames built with the `kafka-protocol` crate.

#![allow(dead_code, unreachable_pub)] // each test crate uses a subset

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use fjord_broker::config::BrokerConfig;
use fjord_broker::server::{self, BrokerHandle};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct TestBroker {
    pub handle: BrokerHandle,
    _dir: tempfile::TempDir,
}

pub async fn start(extra: &[(&str, &str)]) -> TestBroker {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut map = BTreeMap::new();
    map.insert("log.dirs".to_string(), dir.path().display().to_string());
    map.insert(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:0".to_string(),
    );
    map.insert(
        "group.initial.rebalance.delay.ms".to_string(),
        "0".to_string(),
    );
    for (k, v) in extra {
        map.insert(k.to_string(), v.to_string());
    }
    let handle = server::spawn(BrokerConfig::from_map(map).expect("config"))
        .await
        .expect("broker starts");
    TestBroker { handle, _dir: dir }
}

pub fn frame<R: Encodable + HeaderVersion>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("wire-test")));
    header
        .encode(&mut buf, key.request_header_version(version))
        .expect("header");
    body.encode(&mut buf, version).expect("body");
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    buf
}

pub async fn read_response(stream: &mut TcpStream) -> Option<Bytes> {
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).await.is_err() {
        return None;
    }
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

/// Reads one response frame and decodes it (header version per the API).
pub async fn read_typed<Resp: Decodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
) -> Resp {
    let mut body = read_response(stream).await.expect("a response");
    ResponseHeader::decode(&mut body, key.response_header_version(version))
        .expect("response header");
    Resp::decode(&mut body, version).expect("response body")
}

/// Sends one request and decodes its response (header version per the API).
pub async fn call<Req: Encodable + HeaderVersion, Resp: Decodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    req: &Req,
) -> Resp {
    stream
        .write_all(&frame(key, version, 7, req))
        .await
        .expect("write");
    let mut body = read_response(stream).await.expect("a response");
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
        .expect("response header");
    assert_eq!(header.correlation_id, 7);
    Resp::decode(&mut body, version).expect("response body")
}

pub fn batch(producer_id: i64, epoch: i16, base_sequence: i32, values: &[&str]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Contiguous sequences keep the encoder from splitting the batch.
            sequence: base_sequence.max(0) + i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

pub fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    produce_request_to(topic, 0, records)
}

/// A Produce (acks=all) of `records` to one partition.
pub fn produce_request_to(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    let mut t = produce_request::TopicProduceData::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![t];
    req
}

pub async fn create_topic(stream: &mut TcpStream, name: &str, partitions: i32) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.to_string()));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let resp: CreateTopicsResponse = call(stream, ApiKey::CreateTopics, 5, &req).await;
    assert_eq!(
        resp.topics[0].error_code, 0,
        "{:?}",
        resp.topics[0].error_message
    );
}

pub async fn produce(
    stream: &mut TcpStream,
    topic: &str,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    produce_to(stream, topic, 0, records).await
}

/// Produces `records` to one partition and returns that partition's answer.
pub async fn produce_to(
    stream: &mut TcpStream,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let req = produce_request_to(topic, partition, records);
    let resp: ProduceResponse = call(stream, ApiKey::Produce, 9, &req).await;
    resp.responses[0].partition_responses[0].clone()
}

pub fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut p = fetch_request::FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.session_epoch = -1;
    req.topics = vec![t];
    req
}

pub fn values(records: &Bytes) -> Vec<(i64, String)> {
    let mut buf = records.clone();
    let mut out = Vec::new();
    while buf.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut buf).expect("stored batches decode");
        for r in set.records {
            out.push((
                r.offset,
                String::from_utf8(r.value.expect("value").to_vec()).expect("utf8"),
            ));
        }
    }
    out
}
