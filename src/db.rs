//! [`Db`]: the local API — put, get, delete, batches, scans — and the replication hooks.
//!
//! `Db` is synchronous (RocksDB calls block), `Send + Sync`, and a cheap clone around an `Arc`:
//! every clone is the same database. It knows nothing about sockets. Every write commits its
//! value, its log entry and its index record in one RocksDB batch (see `storage::commit`).

use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::record::entry::deadline_ms;
use crate::storage::commit::OpRef;
use crate::storage::rocks::Store;
use crate::storage::scan::Scan;
use crate::storage::verify::VerifyReport;
use crate::{Batch, Expiry, NodeId, Options, Record, Result, Version};

/// Keys [`Db::delete_all`] deletes per atomic batch.
pub const DELETE_ALL_BATCH: usize = 10_000;

/// A meshkv database: an embedded, durable key-value store whose writes carry versions that
/// replicate to peers. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Db {
    // Field order matters: the sweeper thread is stopped and joined before the store drops.
    _sweeper: Option<Arc<crate::storage::sweeper::Sweeper>>,
    pub(crate) store: Arc<Store>,
    pub(crate) stats: Arc<crate::storage::stats::Stats>,
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
    /// Errors: [`Error::InvalidOptions`](crate::Error::InvalidOptions), [`Error::NotMeshkv`](crate::Error::NotMeshkv) (another RocksDB database, or a
    /// non-empty folder), [`Error::UnsupportedFormat`](crate::Error::UnsupportedFormat), [`Error::NodeIdMismatch`](crate::Error::NodeIdMismatch),
    /// [`Error::Corrupt`](crate::Error::Corrupt), [`Error::Storage`](crate::Error::Storage) (e.g. another process holds the lock).
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let store = Arc::new(Store::open(path.as_ref(), options)?);
        let sweeper = match store.options.sweep_interval {
            Some(every) => Some(Arc::new(crate::storage::sweeper::Sweeper::start(
                Arc::downgrade(&store),
                every,
                store.options.sweep_batch,
            )?)),
            None => None,
        };
        Ok(Db {
            _sweeper: sweeper,
            store,
            stats: Arc::default(),
        })
    }

    /// This database's node id: the `origin` of every local write.
    pub fn node_id(&self) -> NodeId {
        self.store.node_id
    }

    /// The public half of this folder's static key pair (`node.key`), which keyed peers see in
    /// the Noise handshake. A folder that made its own node id derived it from this key
    /// ([`NodeId::of_public_key`]); see [`Db::identity_is_bound`].
    pub fn public_key(&self) -> [u8; 32] {
        self.store.node_key.public
    }

    /// Whether the node id is the one derived from the folder's key: what keyed peers require
    /// of a hello. False for an id given in [`Options::node_id`](crate::Options::node_id) at
    /// creation and for a folder made before node keys existed; `renew-id` binds it.
    pub fn identity_is_bound(&self) -> bool {
        self.store.node_key.node_id() == self.store.node_id
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

    /// Stores `value` at `key` (without a deadline: a deadline the key had is cleared, as Redis
    /// `SET` does); returns the write's version.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Version> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.store.check_key(key)?;
        self.store.check_value(value)?;
        let version = self.store.write_one(OpRef::Put(key, value))?;
        self.stats.local(1);
        Ok(version)
    }

    /// Stores `value` at `key` until `ttl` from now (by this node's clock, rounded up to the
    /// millisecond); returns the write's version. From its deadline on the key reads as absent
    /// on every node, by each node's clock (docs/design.md, "Expiry"). A `ttl` of zero stores
    /// the put already expired.
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<Version> {
        let at = self.deadline_after(ttl)?;
        self.put_expiring(key.as_ref(), value.as_ref(), at)
    }

    /// Stores `value` at `key` until the deadline `at` (a time already past stores the put
    /// expired); returns the write's version.
    pub fn put_expiring_at(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        at: SystemTime,
    ) -> Result<Version> {
        let at = crate::storage::batch::checked_deadline(deadline_ms(at))?;
        self.put_expiring(key.as_ref(), value.as_ref(), at)
    }

    fn put_expiring(&self, key: &[u8], value: &[u8], at: u64) -> Result<Version> {
        self.store.check_key(key)?;
        self.store.check_value(value)?;
        let version = self.store.write_one(OpRef::PutExpiring(key, value, at))?;
        self.stats.local(1);
        Ok(version)
    }

    /// Gives the key's live value the deadline `ttl` from now: a new write of the value (the
    /// key's clock + 1) that replicates like any other. `None` when the key holds no live value
    /// (nothing is written).
    pub fn expire(&self, key: impl AsRef<[u8]>, ttl: Duration) -> Result<Option<Version>> {
        let at = self.deadline_after(ttl)?;
        self.rewrite_expiry(key.as_ref(), Some(at))
    }

    /// Gives the key's live value the deadline `at` (a time already past expires it now). `None`
    /// when the key holds no live value.
    pub fn expire_at(&self, key: impl AsRef<[u8]>, at: SystemTime) -> Result<Option<Version>> {
        let at = crate::storage::batch::checked_deadline(deadline_ms(at))?;
        self.rewrite_expiry(key.as_ref(), Some(at))
    }

    /// Removes the key's deadline: a new write of its live value without one (even when it had
    /// none, as a versioned write every node converges on). `None` when the key holds no live
    /// value.
    pub fn persist(&self, key: impl AsRef<[u8]>) -> Result<Option<Version>> {
        self.rewrite_expiry(key.as_ref(), None)
    }

    fn rewrite_expiry(&self, key: &[u8], at: Option<u64>) -> Result<Option<Version>> {
        self.store.check_key(key)?;
        let version = self
            .store
            .write_reading(&[OpRef::Expire(key, at)])?
            .pop()
            .flatten();
        if version.is_some() {
            self.stats.local(1);
        }
        Ok(version)
    }

    /// Deletes every key holding a value (what Redis `FLUSHALL` does), in atomic batches of
    /// [`DELETE_ALL_BATCH`] keys, in key order; returns how many it deleted. The deletes are
    /// ordinary versioned writes that replicate: every node converges on the same state, and a
    /// write of a key made elsewhere concurrently survives exactly when it beats this node's
    /// delete of that key (invariant 5: a higher key clock, or the same clock and the later
    /// timestamp under last-writer-wins), or when this node held no value of the key when it
    /// ran (it deletes only what it holds). A key written here between two batches, after its
    /// place in the key order was passed, survives too.
    pub fn delete_all(&self) -> Result<u64> {
        use std::ops::Bound;
        let mut after: Option<Vec<u8>> = None;
        let mut deleted = 0u64;
        loop {
            let start = match &after {
                Some(k) => Bound::Excluded(k.as_slice()),
                None => Bound::Unbounded,
            };
            let keys: Vec<Vec<u8>> = self
                .scan((start, Bound::Unbounded))
                .take(DELETE_ALL_BATCH)
                .map(|item| item.map(|(k, _)| k))
                .collect::<Result<_>>()?;
            let Some(last) = keys.last().cloned() else {
                break;
            };
            let mut batch = self.batch();
            for k in &keys {
                batch.delete(k);
            }
            self.write(batch)?;
            deleted += keys.len() as u64;
            if keys.len() < DELETE_ALL_BATCH {
                break;
            }
            after = Some(last);
        }
        Ok(deleted)
    }

    /// The time left before the key's deadline, by this node's clock: `None` for a key without
    /// a live value or without a deadline (see [`Db::expiry`] to tell those apart).
    pub fn ttl(&self, key: impl AsRef<[u8]>) -> Result<Option<Duration>> {
        let now = self.store.now_ms();
        Ok(match self.expiry(key)? {
            Expiry::At(at) => Some(Duration::from_millis(deadline_ms(at).saturating_sub(now))),
            Expiry::Missing | Expiry::Never => None,
        })
    }

    /// Whether the key holds a live value, and until when.
    pub fn expiry(&self, key: impl AsRef<[u8]>) -> Result<Expiry> {
        let key = key.as_ref();
        self.store.check_key(key)?;
        self.store.expiry(key)
    }

    /// Runs one step of the sweeper now: removes the values of at most
    /// [`Options::sweep_batch`](crate::Options::sweep_batch) expired puts (they already read as
    /// absent: this reclaims their space). Returns how many it removed. The sweeper thread
    /// (`Options::sweep_interval`) does the same in the background.
    pub fn sweep_expired(&self) -> Result<u64> {
        Ok(self.store.sweep(self.store.options.sweep_batch)?.removed)
    }

    fn deadline_after(&self, ttl: Duration) -> Result<u64> {
        let ms = crate::storage::batch::ttl_ms(ttl);
        crate::storage::batch::checked_deadline(self.store.now_ms().saturating_add(ms))
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

    /// The value at `key`, or `None` when it is absent, deleted or past its deadline.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        self.store.check_key(key)?;
        self.store.get(key)
    }

    /// The key's value or tombstone with its version and deadline, read from one snapshot; a
    /// put past its deadline by this node's clock has no value and [`Record::expired`] set.
    /// `None` for a key never written (or never learned from a peer).
    pub fn get_versioned(&self, key: impl AsRef<[u8]>) -> Result<Option<Record>> {
        let key = key.as_ref();
        self.store.check_key(key)?;
        self.store.get_versioned(key)
    }

    /// An empty batch for [`Db::write`].
    pub fn batch(&self) -> Batch {
        Batch::new()
    }

    /// Commits every operation of `batch` atomically; returns one version per operation, in
    /// order ([`Version::NONE`] for an expire or persist of a key without a live value, which
    /// writes nothing). An empty batch writes nothing. A bad key, value or deadline anywhere
    /// rejects the whole batch.
    pub fn write(&self, batch: Batch) -> Result<Vec<Version>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ops = batch.op_refs(self.store.now_ms())?;
        for op in &ops {
            self.store.check_key(op.key())?;
            if let Some(v) = op.value() {
                self.store.check_value(v)?;
            }
        }
        let versions = self.store.write_local(&ops)?;
        self.stats
            .local(versions.iter().filter(|v| !v.is_none()).count());
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

    /// The number of live keys (tombstones and expired keys not counted), from one
    /// point-in-time view. It walks every key (values are not copied): O(keys), for operators
    /// and tests, not for a hot path; [`Db::key_count`] answers in constant time.
    pub fn live_keys(&self) -> Result<u64> {
        self.store.live_keys()
    }

    /// The number of keys holding a value, in constant time: a count every commit keeps up to
    /// date (`DBSIZE`). A key past its deadline counts until the sweeper removes its value
    /// (within `Options::sweep_interval`), as a Redis key counts until it is evicted;
    /// [`Db::live_keys`] walks the keys and leaves expired ones out at once.
    pub fn key_count(&self) -> u64 {
        self.store.counts.keys()
    }

    /// Of the keys [`Db::key_count`] counts, those with a deadline, in constant time.
    pub fn expiring_key_count(&self) -> u64 {
        self.store.counts.expiring()
    }

    /// Makes every write so far durable (syncs RocksDB's write-ahead log): what a
    /// `Durability::Buffered` write needs to survive power loss.
    pub fn flush(&self) -> Result<()> {
        self.store.flush_wal()
    }

    /// Writes every column family's memtable out to table files (before a backup or a copy of
    /// the folder, or to measure reads of data at rest).
    pub fn flush_memtables(&self) -> Result<()> {
        self.store.flush_memtables()
    }

    /// Compacts every column family over its whole key range (reclaims space of overwritten
    /// values and superseded log entries; evens out read paths).
    pub fn compact(&self) -> Result<()> {
        self.store.compact()
    }

    /// Checks the storage invariants (see [`VerifyReport`]); cheap enough for tests and ops.
    pub fn verify(&self) -> Result<VerifyReport> {
        crate::storage::verify::verify(&self.store)
    }

    /// Gives the database in `path` a new key pair and the node id derived from it, clears its rolled-back mark and its
    /// peer cursors: the repair for a folder restored from an old copy. Its data stays (with
    /// the versions it has, old origin included); peers know the new id from nothing and pull
    /// everything from it, so no sequence the old id handed out twice can be skipped, and it
    /// pulls everything from its peers, its old id's lost writes included. Opening it afterwards with
    /// `Options::node_id` set to the old id is an [`Error::NodeIdMismatch`](crate::Error::NodeIdMismatch). Needs the folder
    /// closed (no open `Db` on it).
    pub fn renew_node_id(path: impl AsRef<Path>, options: Options) -> Result<NodeId> {
        let db = Db::open(path, options)?;
        db.store.renew_node_id()
    }

    /// Changes under `prefix` (empty: all keys) committed from now on, local and replicated, in
    /// commit order. A watcher that falls more than
    /// [`Options::watch_buffer`](crate::Options::watch_buffer) changes behind gets
    /// [`Error::Lagged`](crate::Error::Lagged) and resumes with [`Db::watch_from`]. See [`Watch`](crate::Watch).
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

    /// The replication hooks of this database: what a replicator (the [`Node`](crate::Node),
    /// or another transport) builds on. See [`replica`](crate::replica).
    pub fn replica(&self) -> crate::replica::Replica<'_> {
        crate::replica::Replica::new(self)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The last failure of the database's background work (the lease syncer's fsync, the
    /// expiry sweeper), if any. Writes go on after one (a commit past the durable lease syncs
    /// itself; expired keys read as absent whether swept or not), but a disk that fails needs
    /// an operator: `/v1/status` shows this as `storage_error`.
    pub fn background_error(&self) -> Option<String> {
        self.store
            .leases
            .failure()
            .or_else(|| self.store.sweep_failure.lock().clone())
    }

    /// What this database committed since it was opened: local writes, remote entries applied
    /// and skipped, conflicts resolved. See [`DbStats`](crate::DbStats).
    pub fn stats(&self) -> crate::DbStats {
        use std::sync::atomic::Ordering::Relaxed;
        crate::DbStats {
            clock_skew_refusals: self.store.stats_clock_refused.load(Relaxed),
            clock_regressions: self.store.stats_clock_regressed.load(Relaxed),
            expired_swept: self.store.stats_swept.load(Relaxed),
            ..self.stats.snapshot()
        }
    }
}
