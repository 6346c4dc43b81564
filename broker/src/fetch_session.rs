//! KIP-227 incremental fetch sessions.
//!
//! A client opens a session with epoch 0 and a full partition list; later fetches send only
//! what changed (new partitions, new offsets, forgotten partitions) with the next epoch, and
//! the broker answers only partitions that have news (records, a moved high watermark or
//! log start offset, or an error). Epoch -1 is a sessionless full fetch (and closes the
//! session named by its id).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use kafka_protocol::ResponseError;

/// Most sessions kept at once; the least recently used is evicted past this (Kafka:
/// max.incremental.fetch.session.cache.slots = 1000).
pub const MAX_SESSIONS: usize = 1000;

/// A partition as a session remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPartition {
    /// Topic name.
    pub topic: String,
    /// Topic id (what Fetch v13+ addresses topics by).
    pub topic_id: uuid::Uuid,
    /// Partition index.
    pub partition: i32,
    /// Next offset the client wants.
    pub fetch_offset: i64,
    /// Per-partition byte limit.
    pub max_bytes: i32,
    /// High watermark last sent to the client (-1: never sent).
    pub last_high_watermark: i64,
    /// Log start offset last sent to the client.
    pub last_log_start_offset: i64,
}

/// One fetch session.
#[derive(Debug, Clone, Default)]
pub struct FetchSession {
    /// Session id.
    pub id: i32,
    /// Epoch the next request must carry.
    pub next_epoch: i32,
    /// Partitions in the order they were added.
    pub partitions: Vec<SessionPartition>,
    last_used: u64,
}

/// What the handler should do for a request's session fields.
#[derive(Debug)]
pub enum SessionRequest {
    /// Full fetch without a session (epoch -1).
    Sessionless,
    /// Full fetch that opens a new session with this id (epoch 0).
    New(i32),
    /// Incremental fetch on an existing session, already updated with the request's
    /// partition changes.
    Incremental(FetchSession),
}

/// All live fetch sessions.
#[derive(Debug, Default)]
pub struct FetchSessionCache {
    sessions: Mutex<HashMap<i32, FetchSession>>,
    next_id: AtomicI32,
    clock: std::sync::atomic::AtomicU64,
}

/// A request's partition entry: (topic, topic id, partition, fetch offset, max bytes).
pub type RequestedPartition = (String, uuid::Uuid, i32, i64, i32);

impl FetchSessionCache {
    /// Interprets a request's session id and epoch. `requested` are the request's
    /// partitions; `forgotten` the (topic, partition) pairs it drops.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<RequestedPartition>,
        forgotten: &[(String, i32)],
    ) -> Result<SessionRequest, ResponseError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        match epoch {
            -1 => {
                if session_id != 0 {
                    sessions.remove(&session_id);
                }
                Ok(SessionRequest::Sessionless)
            }
            0 => {
                if session_id != 0 {
                    sessions.remove(&session_id);
                }
                if sessions.len() >= MAX_SESSIONS
                    && let Some(oldest) =
                        sessions.values().min_by_key(|s| s.last_used).map(|s| s.id)
                {
                    sessions.remove(&oldest);
                }
                let id = loop {
                    let id =
                        self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1) & i32::MAX;
                    if id != 0 && !sessions.contains_key(&id) {
                        break id;
                    }
                };
                let partitions = requested
                    .into_iter()
                    .map(
                        |(topic, topic_id, partition, fetch_offset, max_bytes)| SessionPartition {
                            topic,
                            topic_id,
                            partition,
                            fetch_offset,
                            max_bytes,
                            last_high_watermark: -1,
                            last_log_start_offset: -1,
                        },
                    )
                    .collect();
                sessions.insert(
                    id,
                    FetchSession {
                        id,
                        next_epoch: 1,
                        partitions,
                        last_used: tick,
                    },
                );
                Ok(SessionRequest::New(id))
            }
            _ => {
                let Some(session) = sessions.get_mut(&session_id) else {
                    return Err(ResponseError::FetchSessionIdNotFound);
                };
                if session.next_epoch != epoch {
                    return Err(ResponseError::InvalidFetchSessionEpoch);
                }
                session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
                session.last_used = tick;
                session.partitions.retain(|p| {
                    !forgotten
                        .iter()
                        .any(|(t, i)| *t == p.topic && *i == p.partition)
                });
                for (topic, topic_id, partition, fetch_offset, max_bytes) in requested {
                    match session
                        .partitions
                        .iter_mut()
                        .find(|p| p.topic == topic && p.partition == partition)
                    {
                        Some(p) => {
                            p.fetch_offset = fetch_offset;
                            p.max_bytes = max_bytes;
                        }
                        None => session.partitions.push(SessionPartition {
                            topic,
                            topic_id,
                            partition,
                            fetch_offset,
                            max_bytes,
                            last_high_watermark: -1,
                            last_log_start_offset: -1,
                        }),
                    }
                }
                Ok(SessionRequest::Incremental(session.clone()))
            }
        }
    }

    /// Remembers what was sent for a partition of a session, so the next incremental fetch
    /// can leave it out when nothing changed.
    pub fn record_sent(
        &self,
        session_id: i32,
        topic: &str,
        partition: i32,
        high_watermark: i64,
        log_start_offset: i64,
    ) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sessions.get_mut(&session_id)
            && let Some(p) = s
                .partitions
                .iter_mut()
                .find(|p| p.topic == topic && p.partition == partition)
        {
            p.last_high_watermark = high_watermark;
            p.last_log_start_offset = log_start_offset;
        }
    }

    /// Drops a deleted topic from every session.
    pub fn forget_topic(&self, topic: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for s in sessions.values_mut() {
            s.partitions.retain(|p| p.topic != topic);
        }
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether there is no live session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, i: i32, off: i64) -> RequestedPartition {
        (t.to_string(), uuid::Uuid::nil(), i, off, 1024)
    }

    #[test]
    fn epoch_zero_opens_and_incremental_updates_merge() {
        let c = FetchSessionCache::default();
        let SessionRequest::New(id) = c
            .begin(0, 0, vec![p("a", 0, 0), p("a", 1, 0)], &[])
            .unwrap()
        else {
            panic!("expected new")
        };
        let SessionRequest::Incremental(s) = c
            .begin(id, 1, vec![p("a", 1, 5), p("b", 0, 0)], &[("a".into(), 0)])
            .unwrap()
        else {
            panic!("expected incremental")
        };
        let got: Vec<_> = s
            .partitions
            .iter()
            .map(|x| (x.topic.as_str(), x.partition, x.fetch_offset))
            .collect();
        assert_eq!(got, vec![("a", 1, 5), ("b", 0, 0)]);
        assert_eq!(s.next_epoch, 2);
    }

    #[test]
    fn wrong_epoch_and_unknown_session_are_errors() {
        let c = FetchSessionCache::default();
        let SessionRequest::New(id) = c.begin(0, 0, vec![p("a", 0, 0)], &[]).unwrap() else {
            panic!()
        };
        assert_eq!(
            c.begin(id, 5, vec![], &[]).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        assert_eq!(
            c.begin(id + 100, 1, vec![], &[]).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
    }

    #[test]
    fn final_epoch_closes_the_session() {
        let c = FetchSessionCache::default();
        let SessionRequest::New(id) = c.begin(0, 0, vec![p("a", 0, 0)], &[]).unwrap() else {
            panic!()
        };
        assert!(matches!(
            c.begin(id, -1, vec![], &[]).unwrap(),
            SessionRequest::Sessionless
        ));
        assert!(c.is_empty());
    }

    #[test]
    fn record_sent_is_remembered() {
        let c = FetchSessionCache::default();
        let SessionRequest::New(id) = c.begin(0, 0, vec![p("a", 0, 0)], &[]).unwrap() else {
            panic!()
        };
        c.record_sent(id, "a", 0, 10, 0);
        let SessionRequest::Incremental(s) = c.begin(id, 1, vec![], &[]).unwrap() else {
            panic!()
        };
        assert_eq!(s.partitions[0].last_high_watermark, 10);
    }
}
