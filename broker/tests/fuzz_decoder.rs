//! Property-based fuzzing of the request path: arbitrary and mutated frames go through the
//! real router; it must answer or refuse (closing that connection), never panic.
//! Failing cases are kept by proptest in `proptest-regressions/` next to this file.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use fjord_broker::Broker;
use fjord_broker::config::BrokerConfig;
use fjord_broker::router::{self, SUPPORTED};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Encodable;
use proptest::prelude::*;

/// One broker for every case (starting a broker and its metadata quorum per case would take
/// longer than the cases), on a runtime that lives as long as the test process. Fuzzed
/// requests may change its state; that is fine: the property is "no panic, no hang".
fn shared() -> &'static (tokio::runtime::Runtime, Arc<Broker>, tempfile::TempDir) {
    static SHARED: OnceLock<(tokio::runtime::Runtime, Arc<Broker>, tempfile::TempDir)> =
        OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut map = BTreeMap::new();
        map.insert("log.dirs".to_string(), dir.path().display().to_string());
        map.insert(
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        );
        map.insert("auto.create.topics.enable".to_string(), "false".to_string());
        // Fuzzed CreateTopics must not open thousands of logs.
        map.insert("fjord.max.partitions".to_string(), "64".to_string());
        map.insert(
            "group.initial.rebalance.delay.ms".to_string(),
            "0".to_string(),
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let broker = rt
            .block_on(Broker::open_ready(
                BrokerConfig::from_map(map).expect("config"),
            ))
            .expect("open");
        (rt, broker, dir)
    })
}

/// Runs one frame through the router of the shared broker, with a deadline.
fn route(frame: Bytes) {
    let (rt, b, _) = shared();
    let _ = rt
        .block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                router::handle_frame(
                    b,
                    &mut plain_session(),
                    "127.0.0.1:1".parse().unwrap(),
                    frame,
                ),
            )
            .await
        })
        .expect("no request hangs the router");
}

fn frame_for(api_index: usize, version_pick: u8, body: &[u8]) -> Bytes {
    let api = SUPPORTED[api_index % SUPPORTED.len()];
    let span = (api.max - api.min + 1) as u8;
    let version = api.min + (version_pick % span) as i16;
    let mut f = BytesMut::new();
    f.put_i16(api.key as i16);
    f.put_i16(version);
    f.put_i32(1);
    f.put_i16(4);
    f.put_slice(b"fuzz");
    f.put_slice(body);
    f.freeze()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bodies_for_every_api_never_panic(api in 0usize..64, v in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        route(frame_for(api, v, &body));
    }

    #[test]
    fn arbitrary_whole_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..128)) {
        route(Bytes::from(frame));
    }
}

/// A valid frame (header and default body) for each served API and version: the seeds that
/// mutation starts from, so that bodies get past the header into each decoder.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for api in SUPPORTED {
        for version in api.min..=api.max {
            let Some(body) = default_body(api.key) else {
                continue;
            };
            let mut buf = BytesMut::new();
            let header = RequestHeader::default()
                .with_request_api_key(api.key as i16)
                .with_request_api_version(version)
                .with_correlation_id(1);
            if header
                .encode(&mut buf, api.key.request_header_version(version))
                .is_err()
                || body.encode(&mut buf, version).is_err()
            {
                continue;
            }
            out.push(buf.to_vec());
        }
    }
    out
}

fn default_body(key: ApiKey) -> Option<RequestKind> {
    Some(match key {
        ApiKey::Metadata => RequestKind::Metadata(Default::default()),
        ApiKey::Produce => RequestKind::Produce(Default::default()),
        ApiKey::Fetch => RequestKind::Fetch(Default::default()),
        ApiKey::ListOffsets => RequestKind::ListOffsets(Default::default()),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(Default::default()),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(Default::default()),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(Default::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(Default::default()),
        ApiKey::SyncGroup => RequestKind::SyncGroup(Default::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(Default::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(Default::default()),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(Default::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(Default::default()),
        _ => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Valid frames with bytes overwritten, inserted or cut: answered or refused, no panic.
    #[test]
    fn mutated_valid_frames_never_panic(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let seeds = seeds();
        let mut frame = seed.get(&seeds).clone();
        for (at, byte, kind) in edits {
            if frame.len() <= 4 {
                break;
            }
            // Keep the api key and version (the first 4 bytes) so the body decoder runs.
            let i = 4 + at.index(frame.len() - 4);
            match kind {
                0 => frame[i] = byte,
                1 => frame.insert(i, byte),
                _ => frame.truncate(i),
            }
        }
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let (rt, b, _) = shared();
        let done = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(2), router::handle_frame(b, &mut plain_session(), "127.0.0.1:1".parse().unwrap(), Bytes::from(frame))).await
        });
        // Fetch, JoinGroup and SyncGroup legitimately wait (max_wait_ms, rebalances); any
        // other API that does not answer at once is stuck.
        let long_poll = [ApiKey::Fetch as i16, ApiKey::JoinGroup as i16, ApiKey::SyncGroup as i16];
        prop_assert!(done.is_ok() || long_poll.contains(&key), "api key {key} did not answer");
    }
}

fn plain_session() -> fjord_broker::security::sasl::Session {
    fjord_broker::security::sasl::Session::new(
        "PLAINTEXT",
        fjord_broker::security::SecurityProtocol::Plaintext,
    )
}
