//! [`FullSync`]: every key's live entry, in key order, from one snapshot — the cheap way to
//! send a whole database to a peer that knows nothing of it yet.
//!
//! A pull from cursor 0 needs every entry in the log. Reading the log backwards and looking each
//! value up costs a random read per entry; the `index` column family already holds, for every
//! key, its one live entry's sequence and version, sorted by key like `data`, so walking both
//! side by side reads everything sequentially. The order differs from the log's newest-first,
//! which does not matter for a full sync: the puller stores its cursor only after the round's
//! `End` (invariant 8), and applying is commutative (invariant 5). Like [`Changes`](crate::Changes)
//! it reads one snapshot (invariant 7) and reports the same `high_seq`, and
//! [`FullSync::skip_held`] leaves out what the puller holds, like
//! `Changes::skip_held`.

use rocksdb::{DBRawIteratorWithThreadMode, SnapshotWithThreadMode, DB};

use crate::record::entry::expired;
use crate::storage::changes::{batch_size, Held};
use crate::storage::keys::{cf, IndexRecord};
use crate::storage::rocks::Store;
use crate::storage::snapshot::Pinned;
use crate::{Entry, Error, NodeId, Op, Result};

/// Every key's live entry (tombstones included) in key order, from one snapshot.
pub struct FullSync<'a> {
    // Field order matters: the iterators must be dropped before the snapshot they read.
    index: DBRawIteratorWithThreadMode<'a, DB>,
    data: DBRawIteratorWithThreadMode<'a, DB>,
    _snapshot: SnapshotWithThreadMode<'a, DB>,
    now_ms: u64,
    high_seq: u64,
    done: bool,
    held: Option<Held>,
}

impl<'a> FullSync<'a> {
    pub(crate) fn new(store: &'a Store) -> FullSync<'a> {
        let pinned = Pinned::new(store);
        let high_seq = pinned.high_seq(&mut pinned.log(store));
        let mut index = pinned.iter(store, cf::INDEX, pinned.read_opts());
        index.seek_to_first();
        let mut data = pinned.iter(store, cf::DATA, pinned.read_opts());
        data.seek_to_first();
        let snapshot = pinned.snapshot;
        FullSync {
            index,
            data,
            _snapshot: snapshot,
            now_ms: store.drop_clock_ms(),
            high_seq,
            done: false,
            held: None,
        }
    }

    /// Leaves out the entries written by `node` with a timestamp above `after`, which the
    /// puller holds; see `Changes::skip_held`.
    pub fn skip_held(mut self, node: NodeId, after: u64) -> Self {
        self.held = Some(Held { node, after });
        self
    }

    /// The snapshot's high sequence (see `Changes::high_seq`).
    pub fn high_seq(&self) -> u64 {
        self.high_seq
    }

    /// Takes the next entries while their size stays within `max_bytes` (at least one when any
    /// is left). Empty when every key has been read.
    ///
    /// Bounded in bytes without help from the log: each value is looked at in place (pinned by
    /// the data iterator, not copied) to learn its size, and copied only when it fits; one that
    /// does not stays under the iterator for the next batch. A batch holds at most `max_bytes`,
    /// or one entry alone.
    pub fn next_batch(&mut self, max_bytes: usize) -> Result<Vec<(u64, Entry)>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while !self.done {
            let Some((key, raw)) = self.index.item() else {
                self.done = true;
                self.index.status()?;
                break;
            };
            let (rec, held) = IndexRecord::decode_inline(key, raw)?;
            if self.held.is_some_and(|h| h.holds(&rec.version)) {
                self.index.next();
                continue;
            }
            // A put past its deadline travels without its value (as in `Changes`); one with a
            // deadline has its value in its index record, here.
            let live = rec.op == Op::Put && !rec.swept && !expired(rec.expires_at, self.now_ms);
            let value: Option<&[u8]> = match (live, rec.expires_at) {
                (false, _) => None,
                (true, None) => Some(seek_data(&mut self.data, key)?),
                (true, Some(_)) => held,
            };
            let size = batch_size(key.len(), value.map_or(0, <[u8]>::len));
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            let entry = Entry {
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
                version: rec.version,
                expires_at: rec.expires_at,
            };
            bytes += size;
            out.push((rec.seq, entry));
            self.index.next();
        }
        Ok(out)
    }
}

/// Moves the data iterator to `key` and returns its value (every put without a deadline has
/// one).
fn seek_data<'i>(
    data: &'i mut DBRawIteratorWithThreadMode<'_, DB>,
    key: &[u8],
) -> Result<&'i [u8]> {
    seek(data, key)?.ok_or_else(|| Error::missing_value(key))
}

/// Moves a key-ordered iterator forward to `key` and returns its value there, if it has one.
fn seek<'i>(
    iter: &'i mut DBRawIteratorWithThreadMode<'_, DB>,
    key: &[u8],
) -> Result<Option<&'i [u8]>> {
    while let Some(k) = iter.key() {
        if k >= key {
            break;
        }
        iter.next();
    }
    iter.status()?;
    Ok(match iter.item() {
        Some((k, v)) if k == key => Some(v),
        _ => None,
    })
}
