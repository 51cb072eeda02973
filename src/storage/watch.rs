//! Change notifications: [`Db::watch`](crate::Db::watch) and
//! [`Db::watch_from`](crate::Db::watch_from).
//!
//! Every commit — local writes and remote applies alike — publishes its changes, each with its
//! local sequence, into one bounded broadcast buffer of
//! [`Options::watch_buffer`](crate::Options::watch_buffer) changes, under the commit lock, so
//! the buffer holds them in commit (sequence) order. Writers never wait for watchers: a watcher
//! that falls more than the buffer behind gets [`Error::Lagged`] with the last sequence it saw,
//! and [`Db::watch_from`](crate::Db::watch_from) resumes from there with no gap.
//!
//! `watch_from(prefix, seq)` first replays the log above `seq` in sequence order, then follows
//! the buffer. The log holds each key's newest entry only (invariant 2), so a replay gives every
//! key changed since `seq` once, with its newest value: a gap-free catch-up of the *state*, not
//! of every intermediate write. Invariants:
//!
//! - A commit stores its last sequence before it publishes, and a watcher subscribes before it
//!   reads the last sequence or the log: every change above where it starts is either read from
//!   the log or received from the buffer (or it gets `Lagged`). Changes at or below what the
//!   watcher already delivered are skipped, so none comes twice.
//! - Events come in increasing sequence order.
//! - Only commits publish, and only while a `Watch` exists (otherwise a write pays one relaxed
//!   atomic load).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use rocksdb::ReadOptions;
use tokio::sync::broadcast;

use crate::record::entry::deadline_time;
use crate::storage::keys::{cf, IndexRecord, LogEntry, SeqKey};
use crate::{Db, Error, Op, Result, Version};

/// One committed change seen by a [`Watch`].
///
/// A put with a deadline carries it (`expires_at`): the key reads as absent from then on,
/// with no further event (expiry needs no write). A write that leaves the key expired (an
/// expire to a time already past, or a replicated put that arrived after its deadline) is an
/// event with no value and `expired` set, which tells it apart from a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The key written.
    pub key: Vec<u8>,
    /// The new value; `None` for a delete (a tombstone) or a put already expired.
    pub value: Option<Vec<u8>>,
    /// The write's version (its origin says which node wrote it).
    pub version: Version,
    /// The change's local sequence: pass it to [`Db::watch_from`](crate::Db::watch_from) to
    /// resume after it.
    pub seq: u64,
    /// The put's deadline, if it has one.
    pub expires_at: Option<SystemTime>,
    /// True for a put already past its deadline when it was written or read: the key reads as
    /// absent, but it was not deleted.
    pub expired: bool,
}

impl Event {
    /// True for a delete (not for an expired put: see [`Event::expired`]).
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none() && !self.expired
    }
}

/// Log entries read per step of a replay.
const REPLAY_CHUNK: usize = 256;

/// A feed of committed changes under a key prefix, in commit order. See the module docs.
///
/// Holds a clone of its [`Db`]: the database stays open while a watch exists.
pub struct Watch {
    db: Db,
    prefix: Vec<u8>,
    /// The last sequence read: from the log (its events may still wait in `ready`) or from
    /// the buffer.
    pos: u64,
    ready: VecDeque<Event>,
    state: State,
}

enum State {
    /// Replaying the log above `pos`; not yet subscribed to the buffer.
    Replay,
    /// Subscribed; replaying what the log holds above `pos` once more, then following.
    Joining(broadcast::Receiver<Arc<Event>>),
    /// Following the buffer.
    Live(broadcast::Receiver<Arc<Event>>),
    /// Lagged (reported) or failed: the feed has ended.
    Ended,
}

impl Watch {
    /// Changes committed from now on.
    pub(crate) fn live(db: Db, prefix: &[u8]) -> Watch {
        db.store().watching.fetch_add(1, Ordering::Relaxed);
        let rx = db.store().watchers.subscribe();
        // After subscribing (see the module docs): everything above it will be received.
        let pos = db.last_seq();
        Watch {
            db,
            prefix: prefix.to_vec(),
            pos,
            ready: VecDeque::new(),
            state: State::Live(rx),
        }
    }

    /// Changes above `seq`: the log's, then those committed from now on.
    pub(crate) fn from(db: Db, prefix: &[u8], seq: u64) -> Watch {
        db.store().watching.fetch_add(1, Ordering::Relaxed);
        Watch {
            db,
            prefix: prefix.to_vec(),
            pos: seq,
            ready: VecDeque::new(),
            state: State::Replay,
        }
    }

    /// Where this watch stands: every change up to this sequence was delivered or is not under
    /// the prefix, so `Db::watch_from(prefix, position)` continues exactly from here.
    pub fn position(&self) -> u64 {
        self.ready.front().map_or(self.pos, |e| e.seq - 1)
    }

    /// The next change under the prefix; waits for one. `Some(Err(Error::Lagged { .. }))` when
    /// this watcher fell behind the buffer (resume with `Db::watch_from`), `Some(Err(_))` on a
    /// storage error while replaying; `None` after either.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        // Cancel-safe: the state only changes after an await completes, and a replay read that
        // is dropped half-way moved nothing (it is read again).
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            let rx = match &mut self.state {
                State::Ended => return None,
                State::Live(rx) => rx,
                State::Replay | State::Joining(_) => {
                    match self.replay().await {
                        Ok(true) => {}
                        Ok(false) => {
                            self.state = match std::mem::replace(&mut self.state, State::Ended) {
                                State::Replay => {
                                    State::Joining(self.db.store().watchers.subscribe())
                                }
                                State::Joining(rx) => State::Live(rx),
                                other => other,
                            }
                        }
                        Err(e) => {
                            self.state = State::Ended;
                            return Some(Err(e));
                        }
                    }
                    continue;
                }
            };
            match rx.recv().await {
                Ok(event) => {
                    if event.seq <= self.pos {
                        continue;
                    }
                    self.pos = event.seq;
                    if event.key.starts_with(&self.prefix) {
                        return Some(Ok(Event::clone(&event)));
                    }
                }
                // `ready` is empty here: `pos` is the position.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.state = State::Ended;
                    return Some(Err(Error::Lagged {
                        resume_from: self.pos,
                    }));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.state = State::Ended;
                    return None;
                }
            }
        }
    }

    /// Reads the next log entries above `pos` into `ready` on a blocking thread; false when
    /// the log holds nothing above `pos`.
    async fn replay(&mut self) -> Result<bool> {
        let (db, prefix, pos) = (self.db.clone(), self.prefix.clone(), self.pos);
        let read = tokio::task::spawn_blocking(move || read_log(&db, &prefix, pos))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let (events, last) = read?;
        let more = last > self.pos;
        self.pos = last;
        self.ready.extend(events);
        Ok(more)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.db.store().watching.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("position", &self.pos)
            .finish()
    }
}

/// Up to [`REPLAY_CHUNK`] log entries above `after`, in sequence order, from one snapshot: the
/// events under `prefix` among them, and the last sequence read (`after` when none).
fn read_log(db: &Db, prefix: &[u8], after: u64) -> Result<(Vec<Event>, u64)> {
    let store = db.store();
    let snapshot = store.db.snapshot();
    let mut opts = ReadOptions::default();
    opts.set_snapshot(&snapshot);
    opts.set_iterate_lower_bound(SeqKey(after.saturating_add(1)).encode().to_vec());
    let mut iter = store.db.raw_iterator_cf_opt(store.cf(cf::LOG), opts);
    iter.seek_to_first();
    let mut last = after;
    let mut wanted = Vec::new();
    for _ in 0..REPLAY_CHUNK {
        let Some((k, v)) = iter.item() else { break };
        let seq = SeqKey::decode(k)?.0;
        let entry = LogEntry::decode(seq, v)?;
        last = seq;
        if entry.key.starts_with(prefix) {
            wanted.push((seq, entry));
        }
        iter.next();
    }
    iter.status()?;
    let mut read = ReadOptions::default();
    read.set_snapshot(&snapshot);
    let now = store.now_ms();
    let mut events = Vec::with_capacity(wanted.len());
    for (seq, entry) in wanted {
        let rec = IndexRecord {
            seq,
            op: entry.op,
            version: entry.version,
            expires_at: entry.expires_at,
            swept: false,
        };
        let value = store.live_value_reread(&entry.key, &rec, now, &read)?;
        events.push(Event {
            expired: entry.op == Op::Put && value.is_none(),
            key: entry.key,
            value,
            version: entry.version,
            seq,
            expires_at: entry.expires_at.map(deadline_time),
        });
    }
    Ok((events, last))
}
