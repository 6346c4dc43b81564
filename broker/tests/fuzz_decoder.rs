//! Property-based fuzzing of the request path: arbitrary and mutated frames go through the
//! real router; it must answer or refuse (closing that connection), never panic.
//! Failing cases are kept by proptest in `proptest-regressions/` next to this file.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use fjord_broker::Broker;
use fjord_broker::config::BrokerConfig;
use fjord_broker::router::{self, SUPPORTED};
use proptest::prelude::*;

fn broker() -> (Arc<Broker>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut map = BTreeMap::new();
    map.insert("log.dirs".to_string(), dir.path().display().to_string());
    map.insert(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:0".to_string(),
    );
    map.insert("auto.create.topics.enable".to_string(), "false".to_string());
    (
        Broker::open(BrokerConfig::from_map(map).expect("config")).expect("open"),
        dir,
    )
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
        let (b, _dir) = broker();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let frame = frame_for(api, v, &body);
        let _ = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), router::handle_frame(&b, "127.0.0.1:1".parse().unwrap(), frame)).await
        }).expect("no request hangs the router");
    }

    #[test]
    fn arbitrary_whole_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..128)) {
        let (b, _dir) = broker();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _ = rt.block_on(router::handle_frame(&b, "127.0.0.1:1".parse().unwrap(), Bytes::from(frame)));
    }
}
