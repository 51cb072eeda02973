//! Opening a point-in-time read for a pull round: the one place that pins a RocksDB snapshot and
//! decides its high sequence, shared by [`Changes`](super::Changes) and
//! [`FullSync`](super::FullSync) (docs/design.md invariant 7).
//!
//! `high_seq` is the larger of the last sequence known committed *before* the snapshot was
//! taken and the newest log key found *in* it: every entry up to it is in the snapshot
//! (sequences become visible in order, invariant 3), so a puller that committed everything the
//! round yielded may store it as its cursor.

use std::sync::atomic::Ordering;

use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, SnapshotWithThreadMode, DB};

use super::keys::{cf, SeqKey};
use super::rocks::Store;

/// A pinned snapshot and the last sequence committed before it was taken.
pub(super) struct Pinned<'a> {
    pub(super) snapshot: SnapshotWithThreadMode<'a, DB>,
    pub(super) before: u64,
}

impl<'a> Pinned<'a> {
    /// Pins a snapshot of `store` now.
    pub(super) fn new(store: &'a Store) -> Pinned<'a> {
        // Read the watermark first: everything at or below it is in the snapshot taken after.
        let before = store.last_seq.load(Ordering::Acquire);
        Pinned {
            snapshot: store.db.snapshot(),
            before,
        }
    }

    /// Read options reading this snapshot.
    pub(super) fn read_opts(&self) -> ReadOptions {
        let mut o = ReadOptions::default();
        o.set_snapshot(&self.snapshot);
        o
    }

    /// The high sequence of this snapshot, given an iterator over its `log` (positioned
    /// anywhere; it is left at the last key).
    pub(super) fn high_seq(&self, log: &mut DBRawIteratorWithThreadMode<'a, DB>) -> u64 {
        log.seek_to_last();
        let newest = log
            .key()
            .and_then(|k| SeqKey::decode(k).ok())
            .map_or(0, |s| s.0);
        self.before.max(newest)
    }

    /// An iterator over this snapshot's column family `name`, with `opts` (from
    /// [`Pinned::read_opts`], maybe bounded further).
    pub(super) fn iter(
        &self,
        store: &'a Store,
        name: &str,
        opts: ReadOptions,
    ) -> DBRawIteratorWithThreadMode<'a, DB> {
        store.db.raw_iterator_cf_opt(store.cf(name), opts)
    }

    /// An iterator over this snapshot's `log`.
    pub(super) fn log(&self, store: &'a Store) -> DBRawIteratorWithThreadMode<'a, DB> {
        self.iter(store, cf::LOG, self.read_opts())
    }
}
