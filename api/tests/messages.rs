//! The message browser (`GET …/topics/{topic}/messages`) against a real broker: the most
//! recent records by default, from an offset on request, keys, headers and binary values
//! shown faithfully, bounded by `limit`, and authorised like topic reads.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{Backend, TestApp};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType};
use serde_json::json;

db_tests!(recent_messages_are_shown_bounded_and_only_to_readers);

/// Records `first..first + n`: text values, a key and a header on each, and a binary value
/// on every fifth.
fn batch(first: i64, n: usize) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let number = first + i as i64;
            let value = if number % 5 == 4 {
                Bytes::from(vec![0xff, 0x00, number as u8])
            } else {
                Bytes::from(format!("value-{number}"))
            };
            let mut record = Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 1_700_000_000_000 + number,
                key: Some(Bytes::from(format!("key-{number}"))),
                value: Some(value),
                headers: Default::default(),
            };
            record.headers.insert(
                StrBytes::from_static_str("source"),
                Some(Bytes::from_static(b"test")),
            );
            record
        })
        .collect();
    common::encode_batch(&records)
}

async fn recent_messages_are_shown_bounded_and_only_to_readers(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "dev", "developer").await;
    let cluster = t.ready_cluster(&tenant, &token, "main").await;
    let topics = format!("/v1/tenants/{tenant}/clusters/{cluster}/topics");
    let created = t
        .post(&topics, &token, json!({"name": "events", "partitions": 2}))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:#}", created.body);
    let messages = format!("{topics}/events/messages");

    // An empty partition: no messages, offsets at 0.
    let empty = t.get(&messages, &token).await;
    assert_eq!(empty.status.as_u16(), 200, "{:#}", empty.body);
    assert_eq!(empty.body["messages"], json!([]));
    assert_eq!(empty.body["high_watermark"], 0);
    assert_eq!(empty.body["next_offset"], 0);

    // 30 records in two batches.
    t.produce(&cluster, "events", batch(0, 10)).await;
    t.produce(&cluster, "events", batch(10, 20)).await;

    // By default the last 20.
    let recent = t.get(&messages, &token).await;
    assert_eq!(recent.status.as_u16(), 200, "{:#}", recent.body);
    let page = &recent.body;
    assert_eq!(page["topic"], "events");
    assert_eq!(page["partition"], 0);
    assert_eq!(page["log_start_offset"], 0);
    assert_eq!(page["high_watermark"], 30);
    assert_eq!(page["next_offset"], 30);
    assert_eq!(page["truncated"], false);
    let list = page["messages"].as_array().unwrap();
    let offsets: Vec<i64> = list.iter().map(|m| m["offset"].as_i64().unwrap()).collect();
    assert_eq!(offsets, (10..30).collect::<Vec<_>>());
    let first = &list[0];
    assert_eq!(
        first["key"],
        json!({"encoding": "utf8", "data": "key-10", "size": 6, "truncated": false})
    );
    assert_eq!(first["value"]["data"], "value-10");
    assert_eq!(
        first["headers"],
        json!([{"key": "source", "value": {"encoding": "utf8", "data": "test", "size": 4, "truncated": false}}])
    );
    assert_eq!(first["timestamp"], "2023-11-14T22:13:20.010Z");
    // Offset 14 holds bytes that are not UTF-8: base64.
    assert_eq!(
        list[4]["value"],
        json!({"encoding": "base64", "data": "/wAO", "size": 3, "truncated": false})
    );

    // From an offset, with a limit; the page says where to read on.
    let from = t.get(&format!("{messages}?offset=3&limit=5"), &token).await;
    assert_eq!(from.status.as_u16(), 200, "{:#}", from.body);
    let offsets: Vec<i64> = from.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [3, 4, 5, 6, 7]);
    assert_eq!(from.body["next_offset"], 8);
    // Across the batch boundary.
    let across = t.get(&format!("{messages}?offset=8&limit=4"), &token).await;
    let offsets: Vec<i64> = across.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [8, 9, 10, 11]);
    // Past the end: nothing, and no error.
    let past = t.get(&format!("{messages}?offset=500"), &token).await;
    assert_eq!(past.status.as_u16(), 200, "{:#}", past.body);
    assert_eq!(past.body["messages"], json!([]));
    // The other partition is empty.
    let other = t.get(&format!("{messages}?partition=1"), &token).await;
    assert_eq!(other.status.as_u16(), 200, "{:#}", other.body);
    assert_eq!(other.body["messages"], json!([]));

    // Bounds and names.
    t.get(&format!("{messages}?limit=101"), &token)
        .await
        .assert_problem(422, "validation");
    t.get(&format!("{messages}?limit=0"), &token)
        .await
        .assert_problem(422, "validation");
    t.get(&format!("{messages}?offset=-1"), &token)
        .await
        .assert_problem(422, "validation");
    t.get(&format!("{messages}?colour=red"), &token)
        .await
        .assert_problem(400, "bad-request");
    t.get(&format!("{topics}/nope/messages"), &token)
        .await
        .assert_problem(404, "not-found");
    t.get(&format!("{messages}?partition=7"), &token)
        .await
        .assert_problem(404, "not-found");

    // Viewers read; billing may not; another tenant sees nothing.
    let viewer = t.member_token(&tenant, "eve", "viewer").await;
    assert_eq!(t.get(&messages, &viewer).await.status.as_u16(), 200);
    let billing = t.member_token(&tenant, "bill", "billing").await;
    t.get(&messages, &billing)
        .await
        .assert_problem(403, "forbidden");
    let other_tenant = t.tenant("globex").await;
    let stranger = t
        .member_token(&other_tenant, "mallory", "tenant-admin")
        .await;
    t.get(&messages, &stranger)
        .await
        .assert_problem(404, "not-found");
}
