//! [`Db`]: the local API — put, get, delete, batches, scans — and the replication hooks.
//!
//! `Db` is synchronous (RocksDB calls block), `Send + Sync`, and a cheap clone around an `Arc`:
//! every clone is the same database. It knows nothing about sockets. Every write commits its
//! value, its log entry and its index record in one RocksDB batch (see `storage::commit`).

use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::log::Changes;
use crate::scan::Scan;
use crate::storage::commit::{ApplyReport, OpRef};
use crate::storage::keys::cf;
use crate::storage::rocks::Store;
use crate::verify::VerifyReport;
use crate::{Batch, Entry, Error, NodeId, Op, Options, Record, Resolver, Result, Version};

/// A meshkv database: an embedded, durable key-value store whose writes carry versions that
/// replicate to peers. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Db {
    store: Arc<Store>,
    stats: Arc<crate::stats::Stats>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.store.path)
            .field("node_id", &self.store.node_id)
            .finish()
    }
}

impl Db {
    /// Opens the database at `path`, creating it (and a random node id) if missing.
    ///
    /// Errors: [`Error::InvalidOptions`], [`Error::NotMeshkv`] (another RocksDB database, or a
    /// non-empty folder), [`Error::UnsupportedFormat`], [`Error::NodeIdMismatch`],
    /// [`Error::Corrupt`], [`Error::Storage`] (e.g. another process holds the lock).
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let store = Store::open(path.as_ref(), options)?;
        Ok(Db {
            store: Arc::new(store),
            stats: Arc::default(),
        })
    }

    /// This database's node id: the `origin` of every local write.
    pub fn node_id(&self) -> NodeId {
        self.store.node_id
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &Options {
        &self.store.options
    }

    /// The folder the database lives in.
    pub fn path(&self) -> &Path {
        &self.store.path
    }

    /// The highest committed local sequence number (0 for an empty database).
    pub fn last_seq(&self) -> u64 {
        self.store.last_seq.load(Ordering::Acquire)
    }

    /// Replication hook: a clock reading above which this node's own writes are all held here.
    ///
    /// It is where the clock stood when this database was opened: the larger of the clock lease
    /// (at or above every timestamp used before, across power loss too) and the wall clock.
    /// Every version this node writes from now on has a timestamp above it, and a running
    /// database loses nothing: each is held here (or superseded by a newer version of its key).
    /// Writes from before the open are at or below it: they may have been lost (an unsynced
    /// write-ahead-log tail in a power cut under `Durability::Buffered`, or later writes missing
    /// from a folder restored from an old copy, which are below the wall clock at the open).
    /// `None` for a database this open created with a node id given in
    /// [`Options::node_id`](crate::Options::node_id): that id may have written before, in a
    /// folder now gone. A puller passes it to its peers, which skip this node's own writes
    /// above it instead of echoing them back (see [`Changes::skip_held`]).
    pub fn holds_own_writes_after(&self) -> Option<u64> {
        self.store.holds_own_after
    }

    /// Stores `value` at `key`; returns the write's version.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Version> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.store.check_key(key)?;
        self.store.check_value(value)?;
        let version = self.store.write_one(OpRef::Put(key, value))?;
        self.stats.local(1);
        Ok(version)
    }

    /// Deletes `key`, leaving a tombstone that replicates; returns the delete's version (the
    /// key's clock + 1, or 1 for a key never seen).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<Version> {
        let key = key.as_ref();
        self.store.check_key(key)?;
        let version = self.store.write_one(OpRef::Delete(key))?;
        self.stats.local(1);
        Ok(version)
    }

    /// The value at `key`, or `None` when it is absent or deleted.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        self.store.check_key(key)?;
        let value = self.store.db.get_pinned_cf(self.store.cf(cf::DATA), key)?;
        Ok(value.map(|v| v.to_vec()))
    }

    /// The key's value or tombstone with its version, read from one snapshot; `None` for a key
    /// never written (or never learned from a peer).
    pub fn get_versioned(&self, key: impl AsRef<[u8]>) -> Result<Option<Record>> {
        let key = key.as_ref();
        self.store.check_key(key)?;
        let snapshot = self.store.db.snapshot();
        let Some(bytes) = snapshot.get_pinned_cf(self.store.cf(cf::INDEX), key)? else {
            return Ok(None);
        };
        let rec = crate::storage::keys::IndexRecord::decode(key, &bytes)?;
        let value = match rec.op {
            Op::Delete => None,
            Op::Put => Some(
                snapshot
                    .get_cf(self.store.cf(cf::DATA), key)?
                    .ok_or_else(|| Error::missing_value(key))?,
            ),
        };
        Ok(Some(Record {
            value,
            version: rec.version,
        }))
    }

    /// An empty batch for [`Db::write`].
    pub fn batch(&self) -> Batch {
        Batch::new()
    }

    /// Commits every operation of `batch` atomically; returns one version per operation, in
    /// order. An empty batch writes nothing. A bad key or value anywhere rejects the whole batch.
    pub fn write(&self, batch: Batch) -> Result<Vec<Version>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ops = batch.op_refs();
        for op in &ops {
            self.store.check_key(op.key())?;
            if let OpRef::Put(_, v) = op {
                self.store.check_value(v)?;
            }
        }
        let versions = self.store.write_local(&ops)?;
        self.stats.local(versions.len());
        Ok(versions)
    }

    /// Live keys and values in `range`, in key order (tombstones are skipped).
    ///
    /// ```no_run
    /// # let db: meshkv::Db = unimplemented!();
    /// for item in db.scan(b"a".as_slice()..b"m".as_slice()) {
    ///     let (key, value) = item?;
    /// }
    /// # Ok::<(), meshkv::Error>(())
    /// ```
    pub fn scan<'k, R: RangeBounds<&'k [u8]>>(&self, range: R) -> Scan<'_> {
        Scan::new(
            &self.store,
            range.start_bound().map(|k| *k),
            range.end_bound().map(|k| *k),
        )
    }

    /// Live keys that start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Scan<'_> {
        Scan::prefix(&self.store, prefix.as_ref())
    }

    /// The number of live keys (tombstones not counted), from one point-in-time view. It
    /// walks every key of the data column family (values are not copied): O(keys), for
    /// operators and `DBSIZE`, not for a hot path.
    pub fn live_keys(&self) -> Result<u64> {
        let mut iter = self.store.db.raw_iterator_cf(self.store.cf(cf::DATA));
        iter.seek_to_first();
        let mut n = 0u64;
        while iter.valid() {
            n += 1;
            iter.next();
        }
        iter.status()?;
        Ok(n)
    }

    /// Makes every write so far durable (syncs RocksDB's write-ahead log): what a
    /// `Durability::Buffered` write needs to survive power loss.
    pub fn flush(&self) -> Result<()> {
        self.store.db.flush_wal(true)?;
        Ok(())
    }

    /// Writes every column family's memtable out to table files (before a backup or a copy of
    /// the folder, or to measure reads of data at rest).
    pub fn flush_memtables(&self) -> Result<()> {
        for name in crate::storage::keys::cf::ALL {
            self.store.db.flush_cf(self.store.cf(name))?;
        }
        Ok(())
    }

    /// Compacts every column family over its whole key range (reclaims space of overwritten
    /// values and superseded log entries; evens out read paths).
    pub fn compact(&self) -> Result<()> {
        for name in crate::storage::keys::cf::ALL {
            self.store
                .db
                .compact_range_cf(self.store.cf(name), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Checks the storage invariants (see [`VerifyReport`]); cheap enough for tests and ops.
    pub fn verify(&self) -> Result<VerifyReport> {
        crate::verify::verify(&self.store)
    }

    /// Replication hook: every log entry above sequence `after` (0 for all), newest first, each
    /// with its value, from one snapshot. See [`Changes`].
    pub fn changes_since(&self, after: u64) -> Changes<'_> {
        Changes::new(&self.store, after)
    }

    /// Replication hook: every key's live entry in key order from one snapshot, for a peer
    /// that knows nothing of this database yet (cursor 0). Cheaper than `changes_since(0)`:
    /// sequential reads only. See [`FullSync`](crate::FullSync).
    pub fn full_sync(&self) -> crate::FullSync<'_> {
        crate::FullSync::new(&self.store)
    }

    /// Replication hook: the last sequence of `peer`'s log committed here, as stored by
    /// [`Db::set_peer_cursor`]; `None` before the first complete sync with it.
    pub fn peer_cursor(&self, peer: NodeId) -> Result<Option<PeerCursor>> {
        let key = crate::storage::keys::meta::cursor_key(&peer);
        match self.store.db.get_cf(self.store.cf(cf::META), &key)? {
            Some(bytes) => PeerCursor::decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Replication hook: stores `peer`'s cursor (see [`Db::peer_cursor`]).
    pub fn set_peer_cursor(&self, peer: NodeId, cursor: PeerCursor) -> Result<()> {
        let key = crate::storage::keys::meta::cursor_key(&peer);
        self.store.db.put_cf_opt(
            self.store.cf(cf::META),
            key,
            cursor.encode(),
            &self.store.write_opts,
        )?;
        Ok(())
    }

    /// Replication hook: a random number drawn at every open. A peer's cursor records the
    /// incarnation it was read from, so a cursor from another incarnation can be told apart.
    pub fn incarnation(&self) -> u64 {
        self.store.incarnation
    }

    /// Replication hook: the first sequence this open hands out. Every sequence an earlier
    /// incarnation of this folder handed out is below it (the sequence lease); a peer holding a
    /// cursor at or above it from another incarnation has seen sequences this folder never
    /// wrote: the folder is an old copy of its node (see [`Db::mark_rolled_back`]).
    pub fn seq_floor(&self) -> u64 {
        self.store.seq_floor
    }

    /// Replication hook: records, durably, that this folder is an old copy of a node that has
    /// since handed out later sequences (`why` says how it was found). From then on
    /// [`Db::rolled_back`] returns it and `Node::start` refuses with [`Error::RolledBack`] until
    /// [`Db::renew_node_id`] gives the folder a new identity.
    pub fn mark_rolled_back(&self, why: &str) -> Result<()> {
        self.store.db.put_cf_opt(
            self.store.cf(cf::META),
            crate::storage::keys::meta::ROLLED_BACK,
            why.as_bytes(),
            &self.store.sync_opts,
        )?;
        Ok(())
    }

    /// Why this folder was found to be an old copy of its node, if it was (see
    /// [`Db::mark_rolled_back`]).
    pub fn rolled_back(&self) -> Result<Option<String>> {
        let got = self.store.db.get_cf(
            self.store.cf(cf::META),
            crate::storage::keys::meta::ROLLED_BACK,
        )?;
        Ok(got.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Gives the database in `path` a new random node id, clears its rolled-back mark and its
    /// peer cursors: the repair for a folder restored from an old copy. Its data stays (with
    /// the versions it has, old origin included); peers know the new id from nothing and pull
    /// everything from it, so no sequence the old id handed out twice can be skipped, and it
    /// pulls everything from its peers, its old id's lost writes included. Opening it afterwards with
    /// `Options::node_id` set to the old id is an [`Error::NodeIdMismatch`]. Needs the folder
    /// closed (no open `Db` on it).
    pub fn renew_node_id(path: impl AsRef<Path>, options: Options) -> Result<NodeId> {
        let db = Db::open(path, options)?;
        let id = NodeId::random();
        let meta = db.store.cf(cf::META);
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(meta, crate::storage::keys::meta::NODE_ID, id.as_bytes());
        batch.delete_cf(meta, crate::storage::keys::meta::ROLLED_BACK);
        // Pull everything again from every peer: what the old copy pulled while it still
        // believed its own later writes were here skipped those writes.
        let prefix = crate::storage::keys::meta::CURSOR_PREFIX;
        let mut it = db.store.db.raw_iterator_cf(meta);
        it.seek(prefix);
        while let Some(key) = it.key().filter(|k| k.starts_with(prefix)) {
            batch.delete_cf(meta, key);
            it.next();
        }
        it.status()?;
        drop(it);
        db.store.db.write_opt(batch, &db.store.sync_opts)?;
        Ok(id)
    }

    /// Changes under `prefix` (empty: all keys) committed from now on, local and replicated, in
    /// commit order. A watcher that falls more than
    /// [`Options::watch_buffer`](crate::Options::watch_buffer) changes behind gets
    /// [`Error::Lagged`] and resumes with [`Db::watch_from`]. See [`Watch`](crate::Watch).
    pub fn watch(&self, prefix: impl AsRef<[u8]>) -> crate::Watch {
        crate::Watch::live(self.clone(), prefix.as_ref())
    }

    /// Changes under `prefix` above sequence `seq`: first those the log holds (each changed
    /// key once, newest value, in sequence order), then the ones committed from now on. Pass
    /// an [`Event::seq`](crate::Event::seq) or `Lagged`'s `resume_from` to resume with no gap;
    /// 0 replays every key.
    pub fn watch_from(&self, prefix: impl AsRef<[u8]>, seq: u64) -> crate::Watch {
        crate::Watch::from(self.clone(), prefix.as_ref(), seq)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The clock this database stamps writes with ([`Options::clock`](crate::Options::clock)).
    pub fn clock(&self) -> &crate::Clock {
        &self.store.options.clock
    }

    /// Replication hook: wakes whenever a commit raises the last sequence, so a task can wait
    /// for new writes without polling (see [`Commits`](crate::Commits)).
    pub fn subscribe_commits(&self) -> crate::Commits {
        crate::Commits::new(self.clone())
    }

    /// Replication hook: applies entries received from a peer, in one atomic batch.
    ///
    /// Per entry (docs/design.md invariant 5): a higher clock than the local version wins; a
    /// lower one loses; an identical version is skipped; an equal clock with another write is decided by
    /// `resolver` over the two candidates in canonical order. Winners are committed with their
    /// original versions under new local sequence numbers (invariant 6), so this node relays them.
    /// The clock observes every timestamp seen. Applying is idempotent and commutative.
    ///
    /// A key or value over this database's limits rejects the whole call, applying nothing.
    pub fn apply(&self, entries: &[Entry], resolver: &dyn Resolver) -> Result<ApplyReport> {
        if entries.is_empty() {
            return Ok(ApplyReport {
                last_seq: self.last_seq(),
                ..ApplyReport::default()
            });
        }
        let report = self.store.apply(entries, resolver)?;
        self.stats.applied(&report);
        Ok(report)
    }

    /// What this database committed since it was opened: local writes, remote entries applied
    /// and skipped, conflicts resolved. See [`DbStats`](crate::DbStats).
    pub fn stats(&self) -> crate::DbStats {
        self.stats.snapshot()
    }
}

/// Where a puller stands in a peer's log: the last sequence committed here, and the peer's
/// [incarnation](Db::incarnation) it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCursor {
    /// The last sequence of the peer's log committed here.
    pub seq: u64,
    /// The peer's incarnation when that sequence was read (0: unknown).
    pub incarnation: u64,
}

impl PeerCursor {
    fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8..].copy_from_slice(&self.incarnation.to_be_bytes());
        out
    }

    fn decode(key: &[u8], bytes: &[u8]) -> Result<PeerCursor> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        match (bytes.len(), u64_at(0), u64_at(8)) {
            (8, Some(seq), _) => Ok(PeerCursor {
                seq,
                incarnation: 0,
            }),
            (16, Some(seq), Some(incarnation)) => Ok(PeerCursor { seq, incarnation }),
            _ => Err(Error::corrupt(
                format!("meta record {}", crate::storage::printable(key)),
                format!("a cursor of {} bytes (expected 16)", bytes.len()),
            )),
        }
    }
}
