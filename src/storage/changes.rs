//! The changes feed: the log read newest-first from one snapshot.
//!
//! This is the replication hook: a puller that knows a peer up to sequence `c` asks for
//! [`Replica::changes_since(c)`](crate::replica::Replica::changes_since) and gets every entry above
//! `c` — each key's newest write, tombstones included — newest first, each with its value read from
//! the *same* snapshot (docs/design.md invariant 7: a value is never paired with another write's
//! version), then [`Changes::high_seq`] to store as the new cursor once everything is committed
//! (invariant 8).
//!
//! `high_seq` is exact or conservative: it is the largest of the last committed sequence read
//! before the snapshot was taken and the newest sequence found in the snapshot. Because of
//! ordered visibility (invariant 3) every entry up to it is in the snapshot; a cursor set to it
//! never skips an entry.
//!
//! [`Changes::skip_held`] leaves out the puller's own writes above the clock reading its database
//! vouches for
//! ([`Replica::holds_own_writes_after`](crate::replica::Replica::holds_own_writes_after)): the
//! puller holds those (or newer versions of their keys), so sending them back would only echo them.
//! Its older writes are still sent: they may have been lost with an unsynced log tail, and a peer's
//! copy is then the only way back. The cursor still moves over skipped entries.

use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, SnapshotWithThreadMode, DB};

use crate::storage::keys::{cf, LogEntry, SeqKey};
use crate::storage::rocks::Store;
use crate::storage::snapshot::Pinned;
use crate::{Entry, Error, NodeId, Op, Result, Version};

/// Entries above a sequence, newest first, from one snapshot. See the module docs.
///
/// Iterates `Result<(u64, Entry)>`: the local sequence and the entry with its original version.
pub struct Changes<'a> {
    // Field order matters: the iterator must be dropped before the snapshot it reads.
    iter: DBRawIteratorWithThreadMode<'a, DB>,
    snapshot: SnapshotWithThreadMode<'a, DB>,
    store: &'a Store,
    after: u64,
    high_seq: u64,
    cursor_ahead: bool,
    started: bool,
    done: bool,
    /// Entries read with their values but not yet handed out (a chunk cut at the byte budget).
    leftover: std::collections::VecDeque<(u64, Entry)>,
    /// The largest entry seen so far, to size value reads.
    largest: usize,
    /// Entries the puller already holds, left out.
    held: Option<Held>,
}

/// The writes a puller holds for sure: its own, with a timestamp above the reading its database
/// vouches for. See the module docs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) node: NodeId,
    pub(crate) after: u64,
}

impl Held {
    /// True when the puller holds `version` (or a newer version of its key).
    pub(crate) fn holds(&self, version: &Version) -> bool {
        version.origin == self.node && version.timestamp > self.after
    }
}

impl<'a> Changes<'a> {
    pub(crate) fn new(store: &'a Store, after: u64) -> Changes<'a> {
        let pinned = Pinned::new(store);
        let mut opts = pinned.read_opts();
        opts.set_iterate_lower_bound(SeqKey(after.saturating_add(1)).encode().to_vec());
        let mut iter = pinned.iter(store, cf::LOG, opts);
        let high = pinned.high_seq(&mut iter);
        let snapshot = pinned.snapshot;
        Changes {
            iter,
            snapshot,
            store,
            after,
            high_seq: high.max(after),
            cursor_ahead: after > high,
            started: false,
            done: after == u64::MAX,
            leftover: std::collections::VecDeque::new(),
            largest: 0,
            held: None,
        }
    }

    /// Leaves out the entries written by `node` with a timestamp above `after`: the puller `node`,
    /// whose database vouches for its own writes above `after`
    /// ([`Replica::holds_own_writes_after`](crate::replica::Replica::holds_own_writes_after)),
    /// holds them (or newer versions of their keys). Its older writes are still sent. `high_seq` is
    /// unchanged: the cursor moves over them.
    pub fn skip_held(mut self, node: NodeId, after: u64) -> Self {
        self.held = Some(Held { node, after });
        self
    }

    /// The snapshot's high sequence: every entry up to it is in this snapshot. A puller that has
    /// committed everything this iterator yielded can store it as its cursor.
    pub fn high_seq(&self) -> u64 {
        self.high_seq
    }

    /// True when the cursor asked for is above every sequence this database has committed: the
    /// peer's cursor belongs to another life of this database (say, a folder restored from an
    /// old copy). Nothing is yielded; a puller should drop its cursor and pull from 0.
    pub fn cursor_ahead(&self) -> bool {
        self.cursor_ahead
    }

    /// The sequence this read started above.
    pub fn after(&self) -> u64 {
        self.after
    }

    /// Takes the next entries while their size stays within `max_bytes` (always at least one
    /// entry when any is left, so one entry may exceed it alone), for byte-bounded sync batches.
    /// Empty when the feed is exhausted.
    ///
    /// Values are read from the snapshot with one MultiGet per chunk; a chunk holds as many
    /// entries as fit in what is left of the budget at the size of the largest entry seen so
    /// far (one at first, at most 256). Entries read past the budget wait for the next batch.
    pub fn next_batch(&mut self, max_bytes: usize) -> Result<Vec<(u64, Entry)>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        loop {
            if let Some((seq, entry)) = self.leftover.pop_front() {
                let size = entry_size(&entry);
                if !out.is_empty() && bytes + size > max_bytes {
                    self.leftover.push_front((seq, entry));
                    return Ok(out);
                }
                bytes += size;
                out.push((seq, entry));
                continue;
            }
            if bytes >= max_bytes {
                return Ok(out);
            }
            let room = match self.largest {
                0 => 1,
                largest => ((max_bytes - bytes) / largest).clamp(1, 256),
            };
            let mut chunk = Vec::with_capacity(room);
            while chunk.len() < room {
                match self.next_log() {
                    Some(item) => chunk.push(item?),
                    None => break,
                }
            }
            if chunk.is_empty() {
                return Ok(out);
            }
            for item in self.with_values(chunk)? {
                self.largest = self.largest.max(entry_size(&item.1));
                self.leftover.push_back(item);
            }
        }
    }

    /// The next log entry without its value, past the entries the puller holds.
    fn next_log(&mut self) -> Option<Result<(u64, LogEntry)>> {
        loop {
            match self.next_raw() {
                Some(Ok((_, e))) if self.held.is_some_and(|h| h.holds(&e.version)) => continue,
                other => return other,
            }
        }
    }

    /// The next log entry without its value.
    fn next_raw(&mut self) -> Option<Result<(u64, LogEntry)>> {
        if self.done {
            return None;
        }
        if self.started {
            self.iter.prev();
        }
        self.started = true;
        if !self.iter.valid() {
            self.done = true;
            return match self.iter.status() {
                Ok(()) => None,
                Err(e) => Some(Err(e.into())),
            };
        }
        let item = self
            .iter
            .item()
            .ok_or_else(|| Error::corrupt("log", "iterator lost its position"));
        let item = item.and_then(|(k, v)| {
            let seq = SeqKey::decode(k)?.0;
            Ok((seq, LogEntry::decode(seq, v)?))
        });
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }

    /// Reads the values of `entries` (puts) from the snapshot with one MultiGet.
    fn with_values(&self, entries: Vec<(u64, LogEntry)>) -> Result<Vec<(u64, Entry)>> {
        let puts: Vec<&[u8]> = entries
            .iter()
            .filter(|(_, e)| e.op == Op::Put)
            .map(|(_, e)| e.key.as_slice())
            .collect();
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&self.snapshot);
        let mut values = self
            .store
            .db
            .batched_multi_get_cf_opt(self.store.cf(cf::DATA), puts.iter(), false, &opts)
            .into_iter();
        let mut out = Vec::with_capacity(entries.len());
        for (seq, e) in entries {
            let value = match e.op {
                Op::Delete => None,
                Op::Put => match values.next() {
                    Some(Ok(Some(v))) => Some(v.to_vec()),
                    Some(Err(err)) => return Err(err.into()),
                    _ => {
                        return Err(Error::corrupt(
                            format!("log entry {seq}"),
                            "a put whose value is missing from the data column family",
                        ))
                    }
                },
            };
            out.push((
                seq,
                Entry {
                    key: e.key,
                    value,
                    version: e.version,
                },
            ));
        }
        Ok(out)
    }
}

/// An entry's size in a sync batch: key, value and about 48 bytes of sequence and version.
fn entry_size(entry: &Entry) -> usize {
    entry.key.len() + entry.value.as_ref().map_or(0, Vec::len) + 48
}

impl Iterator for Changes<'_> {
    type Item = Result<(u64, Entry)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.leftover.pop_front() {
            return Some(Ok(item));
        }
        let item = self.next_log()?;
        let result = item
            .and_then(|entry| self.with_values(vec![entry]))
            .and_then(|mut one| {
                one.pop()
                    .ok_or_else(|| Error::corrupt("log", "lost an entry"))
            });
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}
