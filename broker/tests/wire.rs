//! Wire-level tests: the real server on 127.0.0.1:0 spoken to with raw Kafka frames, for
//! behaviour real clients depend on but rarely exercise (unsupported versions, pipelining,
//! oversized and malformed frames, idempotent sequences, long-poll wake-up, fetch sessions,
//! quota throttling and channel muting).

mod common;

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn unsupported_api_versions_version_gets_a_v0_listing() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    // A v99 request (newer than anything served): header v1 fields, empty body.
    let mut f = BytesMut::new();
    f.put_i32(10);
    f.put_i16(ApiKey::ApiVersions as i16);
    f.put_i16(99);
    f.put_i32(42);
    f.put_i16(-1);
    s.write_all(&f).await.unwrap();
    let mut body = read_response(&mut s).await.expect("answered, not dropped");
    assert_eq!(body.get_i32(), 42, "v0 header carries the correlation id");
    let resp = ApiVersionsResponse::decode(&mut body, 0).expect("v0 body");
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    let produce = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == 0)
        .expect("produce listed");
    assert_eq!((produce.min_version, produce.max_version), (3, 11));
    assert!(
        resp.api_keys
            .iter()
            .all(|k| k.api_key != ApiKey::DescribeDelegationToken as i16),
        "unsupported keys are absent"
    );
}

#[tokio::test]
async fn api_versions_v3_omits_default_tagged_fields() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let mut req = ApiVersionsRequest::default();
    req.client_software_name = StrBytes::from_static_str("kcat");
    req.client_software_version = StrBytes::from_static_str("2.0.2");
    s.write_all(&frame(ApiKey::ApiVersions, 3, 1, &req))
        .await
        .unwrap();
    let body = read_response(&mut s).await.unwrap();
    // The last byte is the body's tagged-field count: librdkafka 2.0.2 needs it to be 0.
    assert_eq!(*body.last().unwrap(), 0);
    let mut b2 = body.clone();
    b2.advance(4);
    let resp = ApiVersionsResponse::decode(&mut b2, 3).unwrap();
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.finalized_features_epoch, -1);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let mut all = BytesMut::new();
    for id in 1..=20 {
        if id % 2 == 0 {
            all.extend_from_slice(&frame(ApiKey::Metadata, 9, id, &MetadataRequest::default()));
        } else {
            all.extend_from_slice(&frame(
                ApiKey::ApiVersions,
                2,
                id,
                &ApiVersionsRequest::default(),
            ));
        }
    }
    s.write_all(&all).await.unwrap();
    for id in 1..=20 {
        let mut body = read_response(&mut s).await.expect("response");
        assert_eq!(body.get_i32(), id);
    }
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let b = start(&[("socket.request.max.bytes", "1024")]).await;
    let mut bad = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let mut good = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let mut f = BytesMut::new();
    f.put_i32(4096);
    f.extend_from_slice(&[0u8; 64]);
    bad.write_all(&f).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), bad.read(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0, "the broker closed the oversized connection");
    let resp: ApiVersionsResponse = call(
        &mut good,
        ApiKey::ApiVersions,
        2,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(resp.error_code, 0, "other connections are unaffected");
}

#[tokio::test]
async fn a_malformed_body_closes_only_that_connection_and_unknown_keys_are_answered() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    // An unknown API key: answered with UNSUPPORTED_VERSION, connection kept.
    let mut f = BytesMut::new();
    f.put_i32(10);
    f.put_i16(9999);
    f.put_i16(0);
    f.put_i32(5);
    f.put_i16(-1);
    s.write_all(&f).await.unwrap();
    let mut body = read_response(&mut s).await.expect("answered");
    assert_eq!(body.get_i32(), 5);
    assert_eq!(body.get_i16(), 35);
    let ok: ApiVersionsResponse = call(
        &mut s,
        ApiKey::ApiVersions,
        2,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(ok.error_code, 0);
    // A Metadata v9 header followed by garbage: the connection is closed, the broker lives.
    let mut f = BytesMut::new();
    let garbage = [0xffu8; 9];
    f.put_i32(8 + 2 + 2 + garbage.len() as i32);
    f.put_i16(ApiKey::Metadata as i16);
    f.put_i16(9);
    f.put_i32(6);
    f.put_i16(-1);
    f.put_u8(0);
    f.put_u8(0);
    f.extend_from_slice(&garbage);
    s.write_all(&f).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let mut s2 = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let ok: ApiVersionsResponse = call(
        &mut s2,
        ApiKey::ApiVersions,
        2,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(ok.error_code, 0);
}

#[tokio::test]
async fn produced_bytes_are_fetched_back_by_name_and_by_topic_id() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "roundtrip", 1).await;
    let r = produce(&mut s, "roundtrip", batch(-1, -1, -1, &["a", "b"])).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    let r = produce(&mut s, "roundtrip", batch(-1, -1, -1, &["c"])).await;
    assert_eq!((r.error_code, r.base_offset), (0, 2));

    let resp: FetchResponse =
        call(&mut s, ApiKey::Fetch, 12, &fetch_request("roundtrip", 1, 0)).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 3);
    // Whole batches: the one containing offset 1 starts at 0.
    assert_eq!(
        values(p.records.as_ref().unwrap()),
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );

    let meta: MetadataResponse = call(
        &mut s,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )
    .await;
    let topic = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some("roundtrip"))
        .unwrap();
    assert!(!topic.topic_id.is_nil());
    let mut req = fetch_request("", 2, 0);
    req.topics[0].topic_id = topic.topic_id;
    let resp: FetchResponse = call(&mut s, ApiKey::Fetch, 13, &req).await;
    assert_eq!(resp.responses[0].topic_id, topic.topic_id);
    assert_eq!(
        values(resp.responses[0].partitions[0].records.as_ref().unwrap()),
        vec![(2, "c".into())]
    );
}

#[tokio::test]
async fn idempotent_retries_are_deduplicated_and_gaps_refused() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "idem", 1).await;
    let pid: InitProducerIdResponse = call(
        &mut s,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default().with_transaction_timeout_ms(60000),
    )
    .await;
    assert_eq!(pid.error_code, 0);
    let id = *pid.producer_id;
    let first = batch(id, 0, 0, &["x", "y"]);
    assert_eq!(produce(&mut s, "idem", first.clone()).await.base_offset, 0);
    let retry = produce(&mut s, "idem", first).await;
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 0),
        "a retry gets the original offset"
    );
    let gap = produce(&mut s, "idem", batch(id, 0, 5, &["z"])).await;
    assert_eq!(gap.error_code, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    let next = produce(&mut s, "idem", batch(id, 0, 2, &["z"])).await;
    assert_eq!((next.error_code, next.base_offset), (0, 2));
    let resp: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &fetch_request("idem", 0, 0)).await;
    let got = values(resp.responses[0].partitions[0].records.as_ref().unwrap());
    assert_eq!(
        got,
        vec![(0, "x".into()), (1, "y".into()), (2, "z".into())],
        "nothing written twice"
    );
}

#[tokio::test]
async fn clients_cannot_forge_transaction_markers_or_write_outside_a_transaction() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "forged", 1).await;
    let marker = fjord_broker::log::batch::control_batch(
        7,
        0,
        fjord_broker::log::batch::ControlMarker::Commit,
        0,
        1_000,
    )
    .unwrap();
    let r = produce(&mut s, "forged", Bytes::from(marker)).await;
    assert_eq!(r.error_code, 87, "INVALID_RECORD");
    // A transactional batch without the request's transactional id.
    let mut txn = BytesMut::from(&batch(7, 0, 0, &["x"])[..]);
    let attributes = i16::from_be_bytes([txn[21], txn[22]]) | 0x10;
    txn[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&txn[21..]);
    txn[17..21].copy_from_slice(&crc.to_be_bytes());
    let r = produce(&mut s, "forged", txn.freeze()).await;
    assert_eq!(r.error_code, 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED");
    let resp: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &fetch_request("forged", 0, 0)).await;
    assert_eq!(
        resp.responses[0].partitions[0].high_watermark, 0,
        "nothing written"
    );
}

#[tokio::test]
async fn a_corrupt_batch_is_refused_and_nothing_is_written() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "corrupt", 1).await;
    let mut bad = BytesMut::from(&batch(-1, -1, -1, &["hello"])[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let r = produce(&mut s, "corrupt", bad.freeze()).await;
    assert_eq!(r.error_code, 2, "CORRUPT_MESSAGE");
    let resp: FetchResponse =
        call(&mut s, ApiKey::Fetch, 12, &fetch_request("corrupt", 0, 0)).await;
    assert_eq!(resp.responses[0].partitions[0].high_watermark, 0);
}

#[tokio::test]
async fn a_long_poll_fetch_wakes_when_data_arrives() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "wake", 1).await;
    let bootstrap = b.handle.bootstrap();
    let producer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut p = TcpStream::connect(bootstrap).await.unwrap();
        produce(&mut p, "wake", batch(-1, -1, -1, &["late"])).await
    });
    let started = Instant::now();
    let resp: FetchResponse =
        call(&mut s, ApiKey::Fetch, 12, &fetch_request("wake", 0, 20_000)).await;
    let waited = started.elapsed();
    assert_eq!(
        values(resp.responses[0].partitions[0].records.as_ref().unwrap()),
        vec![(0, "late".into())]
    );
    assert!(
        waited < Duration::from_secs(10),
        "woke on arrival, not after max_wait_ms (waited {waited:?})"
    );
    producer.await.unwrap();
}

#[tokio::test]
async fn incremental_fetch_sessions_send_only_changed_partitions() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "sess", 1).await;
    produce(&mut s, "sess", batch(-1, -1, -1, &["one"])).await;
    let mut req = fetch_request("sess", 0, 0);
    req.session_id = 0;
    req.session_epoch = 0;
    let full: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &req).await;
    assert_ne!(full.session_id, 0, "a session was opened");
    assert_eq!(full.responses[0].partitions.len(), 1);
    // Nothing changed: the incremental response is empty.
    let mut inc = FetchRequest::default();
    inc.session_id = full.session_id;
    inc.session_epoch = 1;
    inc.max_wait_ms = 0;
    inc.max_bytes = 1 << 20;
    let mut p = fetch_request::FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = 1;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = TopicName(StrBytes::from_static_str("sess"));
    t.partitions = vec![p];
    inc.topics = vec![t];
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &inc).await;
    assert_eq!(r.error_code, 0);
    assert!(
        r.responses.is_empty(),
        "unchanged partitions are left out: {:?}",
        r.responses
    );
    produce(&mut s, "sess", batch(-1, -1, -1, &["two"])).await;
    let mut inc2 = FetchRequest::default();
    inc2.session_id = full.session_id;
    inc2.session_epoch = 2;
    inc2.max_wait_ms = 0;
    inc2.max_bytes = 1 << 20;
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &inc2).await;
    assert_eq!(
        values(r.responses[0].partitions[0].records.as_ref().unwrap()),
        vec![(1, "two".into())]
    );
    // A stale epoch is refused.
    inc2.session_epoch = 2;
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &inc2).await;
    assert_eq!(r.error_code, 71, "INVALID_FETCH_SESSION_EPOCH");
}

#[tokio::test]
async fn every_supported_api_answers_a_default_request_at_every_version() {
    let b = start(&[]).await;
    for api in fjord_broker::router::SUPPORTED {
        for version in api.min..=api.max {
            let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
            let req = default_request(api.key);
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            let header = RequestHeader::default()
                .with_request_api_key(api.key as i16)
                .with_request_api_version(version)
                .with_correlation_id(3);
            header
                .encode(&mut buf, api.key.request_header_version(version))
                .unwrap();
            if req.encode(&mut buf, version).is_err() {
                continue; // a default body is not valid at this version (required fields)
            }
            let len = (buf.len() - 4) as i32;
            buf[0..4].copy_from_slice(&len.to_be_bytes());
            s.write_all(&buf).await.unwrap();
            if api.key == ApiKey::Produce {
                continue; // acks=0 by default: no response
            }
            let body = tokio::time::timeout(Duration::from_secs(10), read_response(&mut s))
                .await
                .unwrap_or_else(|_| panic!("{:?} v{version} timed out", api.key));
            let mut body = body.unwrap_or_else(|| {
                panic!(
                    "{:?} v{version}: connection closed instead of a response",
                    api.key
                )
            });
            let header =
                ResponseHeader::decode(&mut body, api.key.response_header_version(version))
                    .unwrap();
            assert_eq!(header.correlation_id, 3);
            ResponseKind::decode(api.key, &mut body, version)
                .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", api.key));
        }
    }
}

fn default_request(key: ApiKey) -> RequestKind {
    match key {
        ApiKey::Produce => RequestKind::Produce(Default::default()),
        ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default().with_session_epoch(-1)),
        ApiKey::ListOffsets => RequestKind::ListOffsets(Default::default()),
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![])))
        }
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(Default::default()),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(Default::default()),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(Default::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(Default::default()),
        ApiKey::Heartbeat => RequestKind::Heartbeat(Default::default()),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(Default::default()),
        ApiKey::SyncGroup => RequestKind::SyncGroup(Default::default()),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(Default::default()),
        ApiKey::ListGroups => RequestKind::ListGroups(Default::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(Default::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(Default::default()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(Default::default()),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(Default::default()),
        ApiKey::InitProducerId => RequestKind::InitProducerId(Default::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(Default::default()),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(Default::default()),
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(Default::default()),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(Default::default()),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(Default::default()),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(Default::default()),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(Default::default()),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(Default::default()),
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(Default::default()),
        ApiKey::DescribeUserScramCredentials => {
            RequestKind::DescribeUserScramCredentials(Default::default())
        }
        ApiKey::AlterUserScramCredentials => {
            RequestKind::AlterUserScramCredentials(Default::default())
        }
        ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(Default::default()),
        ApiKey::AlterClientQuotas => RequestKind::AlterClientQuotas(Default::default()),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(Default::default()),
        ApiKey::CreateAcls => RequestKind::CreateAcls(Default::default()),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(Default::default()),
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(Default::default()),
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(Default::default()),
        ApiKey::AlterPartitionReassignments => {
            RequestKind::AlterPartitionReassignments(Default::default())
        }
        ApiKey::ListPartitionReassignments => {
            RequestKind::ListPartitionReassignments(Default::default())
        }
        ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(Default::default()),
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(Default::default()),
        ApiKey::EndTxn => RequestKind::EndTxn(Default::default()),
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(Default::default()),
        ApiKey::WriteTxnMarkers => RequestKind::WriteTxnMarkers(Default::default()),
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(Default::default()),
        ApiKey::ListTransactions => RequestKind::ListTransactions(Default::default()),
        ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(Default::default()),
        ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(Default::default()),
        other => panic!("add {other:?} to default_request"),
    }
}

/// Regression: kafka-protocol preallocates arrays by the count in the frame, so one frame
/// claiming two billion topics once aborted the whole broker (see broker/src/alloc.rs).
#[tokio::test]
async fn a_frame_claiming_two_billion_array_elements_does_not_kill_the_broker() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let mut f = BytesMut::new();
    f.put_i32(2 + 2 + 4 + 2 + 4);
    f.put_i16(ApiKey::Metadata as i16);
    f.put_i16(1);
    f.put_i32(9);
    f.put_i16(-1);
    f.put_i32(i32::MAX); // topics array count, with no elements behind it
    s.write_all(&f).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0, "the malformed connection is closed");
    let mut s2 = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let ok: ApiVersionsResponse = call(
        &mut s2,
        ApiKey::ApiVersions,
        2,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(ok.error_code, 0, "the broker is alive");
}

/// Sets `key` to `value` on the client id these tests send (`wire-test`).
async fn set_client_quota(stream: &mut TcpStream, key: &'static str, value: f64) {
    let entity = alter_client_quotas_request::EntityData::default()
        .with_entity_type(StrBytes::from_static_str("client-id"))
        .with_entity_name(Some(StrBytes::from_static_str("wire-test")));
    let op = alter_client_quotas_request::OpData::default()
        .with_key(StrBytes::from_static_str(key))
        .with_value(value);
    let req = AlterClientQuotasRequest::default().with_entries(vec![
        alter_client_quotas_request::EntryData::default()
            .with_entity(vec![entity])
            .with_ops(vec![op]),
    ]);
    let resp: AlterClientQuotasResponse = call(stream, ApiKey::AlterClientQuotas, 1, &req).await;
    assert_eq!(resp.entries[0].error_code, 0, "{resp:?}");
}

#[tokio::test]
async fn a_client_over_its_quota_is_told_to_wait_and_its_connection_muted_that_long() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "muted", 1).await;
    set_client_quota(&mut s, "producer_byte_rate", 1000.0).await;
    let value = "x".repeat(2900);
    let resp: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        9,
        &produce_request("muted", batch(-1, -1, -1, &[&value])),
    )
    .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    // About 3 KB at 1 KB/s: the bytes are kept, and the client owes about 2 s.
    let throttle = resp.throttle_time_ms;
    assert!(
        (2_500..=3_100).contains(&throttle),
        "throttle {throttle} ms"
    );
    let sent = Instant::now();
    let _: ApiVersionsResponse = call(
        &mut s,
        ApiKey::ApiVersions,
        0,
        &ApiVersionsRequest::default(),
    )
    .await;
    let muted = sent.elapsed();
    assert!(
        muted >= Duration::from_millis(throttle as u64 - 100),
        "the next request was read after {muted:?}, not after the {throttle} ms throttle"
    );
    // Muting is per connection; the same client elsewhere is served at once.
    let mut other = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let sent = Instant::now();
    let _: ApiVersionsResponse = call(
        &mut other,
        ApiKey::ApiVersions,
        0,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert!(sent.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_fetch_over_its_quota_returns_no_records_until_the_throttle_passes() {
    let b = start(&[]).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "fetch-quota", 1).await;
    let value = "y".repeat(330);
    for _ in 0..3 {
        let r = produce(&mut s, "fetch-quota", batch(-1, -1, -1, &[&value])).await;
        assert_eq!(r.error_code, 0);
    }
    set_client_quota(&mut s, "consumer_byte_rate", 1000.0).await;
    // One response never carries more than one window of the quota: two batches of ~400 B.
    let resp: FetchResponse = call(
        &mut s,
        ApiKey::Fetch,
        12,
        &fetch_request("fetch-quota", 0, 0),
    )
    .await;
    let got = values(resp.responses[0].partitions[0].records.as_ref().unwrap());
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(resp.throttle_time_ms, 0);
    // The third batch would pass 1000 B/s: no records, and a throttle.
    let resp: FetchResponse = call(
        &mut s,
        ApiKey::Fetch,
        12,
        &fetch_request("fetch-quota", 2, 0),
    )
    .await;
    let p = &resp.responses[0].partitions[0];
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()), "{p:?}");
    assert_eq!(p.high_watermark, 3);
    assert!(resp.throttle_time_ms > 500, "{}", resp.throttle_time_ms);
    let started = Instant::now();
    // Once it has passed (the connection is muted until then), the records come.
    loop {
        let resp: FetchResponse = call(
            &mut s,
            ApiKey::Fetch,
            12,
            &fetch_request("fetch-quota", 2, 0),
        )
        .await;
        let records = resp.responses[0].partitions[0].records.clone();
        if records.as_ref().is_some_and(|r| !r.is_empty()) {
            assert_eq!(values(&records.unwrap()).len(), 1);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no records within 5 s"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn handler_time_over_request_percentage_throttles_any_api() {
    let b = start(&[]).await;
    let mut admin = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    // A millionth of a thread: any request is over it.
    set_client_quota(&mut admin, "request_percentage", 0.0001).await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let meta: MetadataResponse = call(
        &mut s,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )
    .await;
    assert!(meta.throttle_time_ms > 0, "{}", meta.throttle_time_ms);
    assert!(
        meta.throttle_time_ms <= 11_000,
        "capped at quota.window.num windows"
    );
    // ApiVersions is exempt (and has no other way to tell a client to wait): a fresh
    // connection gets its answer at once.
    let mut fresh = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    let versions: ApiVersionsResponse = call(
        &mut fresh,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(versions.throttle_time_ms, 0);
}
