//! Opening the RocksDB database, its tuning, and the read paths.
//!
//! Opening follows these rules, and on any refusal writes nothing:
//! - A path with no RocksDB `CURRENT` file is created, unless it is a non-empty directory (then it
//!   is [`Error::NotMeshkv`]): meshkv never scatters a database into a folder holding other files.
//! - An existing RocksDB database must have the four column families `data`, `log`, `index`,
//!   `meta` and a `format` record no newer than [`FORMAT_VERSION`]; else `NotMeshkv` or
//!   `UnsupportedFormat`. An older format still opens as it is (format 1 differs only in log
//!   entries without value lengths, which stay readable) and is marked [`FORMAT_VERSION`] once
//!   every check has passed, so that an older build then refuses it rather than misread it.
//!   A format-3 folder is then migrated (`storage::migrate`).
//! - The node id is read from `meta`; a corrupt record is [`Error::Corrupt`], a mismatch with
//!   `Options::node_id` is [`Error::NodeIdMismatch`].
//! - The next sequence is recovered from the last log key (invariant 4: log entries are only ever
//!   deleted when a higher sequence supersedes them, so the last key is the highest sequence ever
//!   committed); the clock restarts from the persisted lease.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, WriteBatch,
    WriteOptions, DB,
};

use super::commit::CommitState;
use super::group_commit::Queue;
use super::identity::NodeKey;
use super::keys::{cf, decode_u32, decode_u64, meta, IndexRecord, SeqKey, FORMAT_VERSION};
use super::lease::{LeaseValues, Leases};
use crate::hlc::Hlc;
use crate::{Durability, Error, NodeId, Options, Result};

/// The RocksDB options meshkv opens its database with, and the descriptors of its five column
/// families, for a given `cache_size`. Public so that benchmarks and tools can run raw RocksDB
/// with exactly the same tuning.
pub fn rocksdb_options(options: &Options) -> (rocksdb::Options, Vec<ColumnFamilyDescriptor>) {
    let cache = Cache::new_lru_cache(options.cache_size);
    let parallelism = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);

    let mut db = rocksdb::Options::default();
    db.increase_parallelism(parallelism as i32);
    db.set_compression_type(DBCompressionType::Lz4);
    // One memtable budget for all column families, so memory stays bounded whatever the mix.
    db.set_db_write_buffer_size(options.write_buffer_size);

    let table = |bloom: bool| {
        let mut t = BlockBasedOptions::default();
        t.set_block_cache(&cache);
        if bloom {
            t.set_bloom_filter(10.0, false);
        }
        t
    };
    let cf_opts = |bloom: bool| {
        let mut o = rocksdb::Options::default();
        o.set_compression_type(DBCompressionType::Lz4);
        o.set_block_based_table_factory(&table(bloom));
        o
    };
    // Every write reads its key's index record first, and most writes are of keys the memtable
    // does not hold: a bloom filter over the index memtable answers those without a skip-list
    // search (measured: +5-10% on meshkv puts, for a little more work per index insert).
    let mut index_opts = cf_opts(true);
    index_opts.set_memtable_whole_key_filtering(true);
    index_opts.set_memtable_prefix_bloom_ratio(0.05);
    let descriptors = vec![
        // Point lookups (get, and the index read of every write) benefit from bloom filters.
        ColumnFamilyDescriptor::new(cf::DATA, cf_opts(true)),
        ColumnFamilyDescriptor::new(cf::LOG, cf_opts(false)),
        ColumnFamilyDescriptor::new(cf::INDEX, index_opts),
        ColumnFamilyDescriptor::new(cf::META, cf_opts(false)),
        // Only iterated, by the sweeper, in deadline order.
        ColumnFamilyDescriptor::new(cf::DEADLINES, cf_opts(false)),
    ];
    (db, descriptors)
}

/// Whether `name` is a file a database creation writes before RocksDB's `CURRENT`: the node key,
/// RocksDB's info log, lock and identity files, its first write-ahead log, manifest and options.
fn creation_leftover(name: &str) -> bool {
    let key = super::identity::KEY_FILE;
    let numbered = |prefix: &str, suffix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    name == key
        || name.strip_prefix(key).is_some_and(|rest| rest == ".tmp")
        || matches!(name, "LOG" | "LOCK" | "IDENTITY")
        || name.starts_with("LOG.old.")
        || numbered("", ".log")
        || numbered("MANIFEST-", "")
        || numbered("OPTIONS-", "")
        || numbered("OPTIONS-", ".dbtmp")
}

/// Why [`clear_cut_creation`] did not clear a folder.
enum Cut {
    /// The folder holds something a creation does not write.
    Refused(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for Cut {
    fn from(e: std::io::Error) -> Cut {
        Cut::Io(e)
    }
}

/// Readies a folder without RocksDB's `CURRENT` for a creation. A provisioned key, and what a
/// creation cut short leaves (RocksDB writes its info log, lock and first files before
/// `CURRENT`), are not content: the creation is finished instead of the folder being refused
/// for good. No open ever returned without `CURRENT`, so nothing was written: RocksDB's own
/// first files, which it refuses to create over, are removed. Anything else, or a write-ahead
/// log with bytes in it (data whose `CURRENT` was lost, perhaps), refuses the folder, which is
/// then left exactly as it was: every entry is checked before any is removed.
fn clear_cut_creation(path: &Path) -> std::result::Result<(), Cut> {
    let mut remove = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !creation_leftover(&name) {
            return Err(Cut::Refused(
                "the directory is not empty and holds no RocksDB database".into(),
            ));
        }
        if name.ends_with(".log") {
            if entry.metadata()?.len() > 0 {
                return Err(Cut::Refused(format!(
                    "a write-ahead log ({name}) without RocksDB's CURRENT file"
                )));
            }
            remove.push(entry.path());
        } else if name.starts_with("MANIFEST-") || name.starts_with("OPTIONS-") {
            remove.push(entry.path());
        }
    }
    for file in remove {
        std::fs::remove_file(file)?;
    }
    Ok(())
}

/// The opened database: RocksDB, the node's identity, and the writer's state.
pub(crate) struct Store {
    pub(crate) db: Arc<DB>,
    pub(crate) node_id: NodeId,
    pub(crate) options: Options,
    pub(crate) path: PathBuf,
    pub(crate) write_opts: WriteOptions,
    /// Synced writes, for batches that extend a lease.
    pub(crate) sync_opts: WriteOptions,
    /// Local writes waiting for a leader to commit them (group commit).
    pub(crate) queue: Mutex<Queue>,
    /// Signalled when a group is committed (results are in, the leader role is free).
    pub(crate) queue_cv: Condvar,
    /// The commit lock: sequence allocation, clock, and the batch write happen under it.
    pub(crate) commit: Mutex<CommitState>,
    /// The last committed sequence, for tasks that wait for new commits (replication).
    pub(crate) commit_signal: crate::storage::commits::CommitSignal,
    /// Leases known durable, and their background syncer.
    pub(crate) leases: Leases,
    /// Highest sequence known committed (may lag RocksDB briefly, never lead it).
    pub(crate) last_seq: AtomicU64,
    /// The last committed sequence and the clock's last reading, stored together under the
    /// commit lock after each commit ([`Store::applied_point`](super::members)): readers take
    /// only this small lock, never the commit lock (which a commit holds through its fsync).
    pub(crate) applied_point: Mutex<(u64, u64)>,
    /// The changes of every commit, for watchers (see `crate::watch`).
    pub(crate) watchers: tokio::sync::broadcast::Sender<Arc<crate::Event>>,
    /// How many `Watch`es exist: commits publish their changes only when some do.
    pub(crate) watching: std::sync::atomic::AtomicUsize,
    /// See [`Replica::incarnation`](crate::replica::Replica::incarnation).
    pub(crate) incarnation: u64,
    /// The key of this node's cursor proofs (`meta` record `node_secret`).
    pub(crate) node_secret: [u8; 32],
    /// The static key pair in `node.key` (see `storage::identity`).
    pub(crate) node_key: NodeKey,
    /// What a majority of the peers accepts as a timestamp (see `storage::clock_guard`).
    pub(crate) peer_clock: Mutex<Option<super::clock_guard::PeerClockLimit>>,
    /// Local writes refused by the clock guard.
    pub(crate) stats_clock_refused: AtomicU64,
    /// Clock regressions made by the clock guard.
    pub(crate) stats_clock_regressed: AtomicU64,
    /// See [`Replica::seq_floor`](crate::replica::Replica::seq_floor).
    pub(crate) seq_floor: u64,
    /// See [`Replica::holds_own_writes_after`](crate::replica::Replica::holds_own_writes_after).
    pub(crate) holds_own_after: Option<u64>,
    /// How far ahead of the wall clock a remote timestamp may be (HLC units): see
    /// [`Store::clock_bound`].
    pub(crate) clock_bound: AtomicU64,
    /// Values of expired puts the sweeper removed (see `storage::expiry`).
    pub(crate) stats_swept: AtomicU64,
    /// Keys with a value, and with a deadline, kept up to date by every commit.
    pub(crate) counts: super::counts::Counts,
    /// The sweeper's last failure, if any: shown by `Db::background_error`.
    pub(crate) sweep_failure: Mutex<Option<String>>,
    /// Whether an index record may hold a value (a put with a deadline): false until the first
    /// one is written (set before its batch is) or found at open. While false, a scan reads
    /// `data` alone, not the index too (`storage::scan`).
    pub(crate) inline_values: std::sync::atomic::AtomicBool,
    /// The digests of every key's `(key, version)` (`storage::digest`), moved by every commit
    /// once its batch is written, under the commit lock.
    pub(crate) digests: Mutex<super::digest::DigestTree>,
}

impl Store {
    pub(crate) fn open(path: &Path, options: Options) -> Result<Store> {
        options.validate()?;
        let not_meshkv = |reason: String| Error::NotMeshkv {
            path: path.to_path_buf(),
            reason,
        };
        let exists = path.join("CURRENT").is_file();
        if !exists {
            if path.is_file() {
                return Err(not_meshkv("it is a file, not a directory".into()));
            }
            if path.is_dir() {
                clear_cut_creation(path).map_err(|e| match e {
                    Cut::Refused(reason) => not_meshkv(reason),
                    Cut::Io(e) => e.into(),
                })?;
            }
        }
        let (mut db_opts, mut descriptors) = rocksdb_options(&options);
        let mut legacy = false;
        if exists {
            let found = DB::list_cf(&db_opts, path)?;
            let missing: Vec<&str> = cf::BASE
                .iter()
                .copied()
                .filter(|name| !found.iter().any(|f| f == name))
                .collect();
            if !missing.is_empty() {
                return Err(not_meshkv(format!(
                    "a RocksDB database without the column families {missing:?} (it has {found:?})"
                )));
            }
            // Check the metadata through a read-only open first, so that a refusal (newer
            // format, corrupt record, another node id) leaves the folder exactly as it was.
            let (_, ro_descriptors) = rocksdb_options(&options);
            // Format 2 and older lack `deadlines`: the read-only open names only the families
            // that exist, and the writable open below creates the others. Format 3's
            // `expiring` is opened to be migrated (`storage::migrate`).
            legacy = found.iter().any(|f| f == cf::LEGACY_EXPIRING);
            let mut ro_descriptors: Vec<ColumnFamilyDescriptor> = ro_descriptors
                .into_iter()
                .filter(|d| found.iter().any(|f| f == d.name()))
                .collect();
            if legacy {
                ro_descriptors.push(legacy_descriptor());
            }
            let ro = DB::open_cf_descriptors_read_only(&db_opts, path, ro_descriptors, false)?;
            read_meta(&ro, &options)?;
            drop(ro);
            let extra: Vec<&String> = found
                .iter()
                .filter(|f| {
                    !["default", cf::LEGACY_EXPIRING].contains(&f.as_str())
                        && !cf::ALL.contains(&f.as_str())
                })
                .collect();
            if !extra.is_empty() {
                return Err(not_meshkv(format!(
                    "unexpected column families {extra:?} for format {FORMAT_VERSION}"
                )));
            }
            db_opts.create_missing_column_families(true);
        } else {
            db_opts.create_if_missing(true);
            db_opts.create_missing_column_families(true);
        }
        if legacy {
            descriptors.push(legacy_descriptor());
        }
        let mut db = DB::open_cf_descriptors(&db_opts, path, descriptors)?;
        // The key pair before the node id: a folder creating its id derives it from the key. A
        // folder without one (made before keys existed, or its file removed) gets one now; its
        // stored id is then not bound to it, which keyed replication refuses until `renew-id`.
        let node_key = match NodeKey::load(path)? {
            Some(key) => key,
            None => {
                let key = NodeKey::generate();
                key.store(path)?;
                key
            }
        };

        // Whether this open created the database with an id given in the options: that id may
        // have written before, in a folder now lost, and nothing here says when.
        let mut adopted_id = false;
        let mut found_format = FORMAT_VERSION;
        let node_id = match read_meta(&db, &options)? {
            Some((id, format)) => {
                found_format = format;
                id
            }
            None => {
                // meshkv's column families but no format record: either a creation cut short
                // (all empty: finish it) or not ours.
                let empty = cf::ALL.iter().try_fold(true, |acc, name| {
                    let mut it = db.raw_iterator_cf(handle(&db, name)?);
                    it.seek_to_first();
                    it.status()?;
                    Ok::<bool, Error>(acc && !it.valid())
                })?;
                if !empty {
                    return Err(not_meshkv(
                        "its meta column family has no format record".into(),
                    ));
                }
                adopted_id = options.node_id.is_some();
                let id = options.node_id.unwrap_or_else(|| node_key.node_id());
                let meta_cf = handle(&db, cf::META)?;
                let mut batch = WriteBatch::default();
                batch.put_cf(meta_cf, meta::FORMAT, FORMAT_VERSION.to_be_bytes());
                batch.put_cf(meta_cf, meta::NODE_ID, id.as_bytes());
                let mut sync = WriteOptions::default();
                sync.set_sync(true);
                db.write_opt(batch, &sync)?;
                id
            }
        };

        let meta_cf = handle(&db, cf::META)?;
        let read_u64 = |name: &[u8]| -> Result<u64> {
            match db.get_cf(meta_cf, name)? {
                Some(bytes) => decode_u64(name, &bytes),
                None => Ok(0),
            }
        };
        let hlc_lease = read_u64(meta::HLC_LEASE)?;
        let node_secret = match db.get_cf(meta_cf, meta::NODE_SECRET)? {
            Some(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                Error::corrupt(
                    "meta record \"node_secret\"",
                    format!("{} bytes, expected 32", bytes.len()),
                )
            })?,
            // A new folder, or one made before cursor proofs: make its secret now, durably,
            // before any proof made with it is sent.
            None => {
                let secret = rand::random::<[u8; 32]>();
                let mut sync = WriteOptions::default();
                sync.set_sync(true);
                db.put_cf_opt(meta_cf, meta::NODE_SECRET, secret, &sync)?;
                secret
            }
        };
        // The clock starts above both the lease (every timestamp used before, across power loss
        // too) and the wall clock now: writes from before this open, even ones an old copy of
        // the folder never saw, are at or below it; writes from now on are above it.
        let hlc_floor = hlc_lease.max(options.clock.reading());
        let seq_lease = read_u64(meta::SEQ_LEASE)?;
        let last_seq = {
            let mut it = db.raw_iterator_cf(handle(&db, cf::LOG)?);
            it.seek_to_last();
            it.status()?;
            match it.key() {
                Some(k) => SeqKey::decode(k)?.0,
                None => 0,
            }
        };
        if last_seq > u64::MAX / 2 || seq_lease > u64::MAX / 2 {
            return Err(Error::corrupt(
                "log",
                format!("implausible sequence {} (lease {seq_lease})", last_seq),
            ));
        }
        // Every sequence handed out before is below the lease (and at most the last log key),
        // even if the unsynced tail of the write-ahead log was lost: never reuse one.
        let next_seq = (last_seq + 1).max(seq_lease);
        // An older format is marked current only now, after the last refusal: this build may
        // write entries (format 2's log entries with a value length) that an older one would
        // read as corruption, so from here on an older build must refuse the folder.
        if found_format < FORMAT_VERSION {
            let mut sync = WriteOptions::default();
            sync.set_sync(true);
            db.put_cf_opt(
                handle(&db, cf::META)?,
                meta::FORMAT,
                FORMAT_VERSION.to_be_bytes(),
                &sync,
            )?;
        }
        // After the format mark, so that a format-3 build refuses the records it rewrites.
        super::migrate::migrate_expiring(&mut db)?;

        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(options.durability == Durability::Sync);
        let mut sync_opts = WriteOptions::default();
        sync_opts.set_sync(true);
        let db = Arc::new(db);
        let on_disk = LeaseValues {
            seq: seq_lease,
            hlc: hlc_lease,
        };
        let mut digests = super::digest::DigestTree::default();
        let counts = super::counts::Counts::load(&db, handle(&db, cf::INDEX)?, |key, rec| {
            digests.add(key, &rec.version)
        })?;
        let leases = Leases::start(Arc::clone(&db), on_disk)?;
        let watch_buffer = options.watch_buffer;
        Ok(Store {
            db,
            node_id,
            options,
            path: path.to_path_buf(),
            write_opts,
            sync_opts,
            queue: Mutex::new(Queue::default()),
            queue_cv: Condvar::new(),
            commit: Mutex::new(CommitState {
                next_seq,
                hlc: Hlc::new(hlc_floor),
                leases: on_disk,
                events: Vec::new(),
                held_seq: None,
                count_delta: (0, 0),
                digest_delta: Vec::new(),
            }),
            leases,
            commit_signal: Default::default(),
            last_seq: AtomicU64::new(last_seq),
            applied_point: Mutex::new((last_seq, hlc_floor)),
            watchers: tokio::sync::broadcast::Sender::new(watch_buffer),
            watching: std::sync::atomic::AtomicUsize::new(0),
            holds_own_after: (!adopted_id).then_some(hlc_floor),
            incarnation: rand::random::<u64>().max(1),
            node_secret,
            node_key,
            peer_clock: Mutex::new(None),
            stats_clock_refused: AtomicU64::new(0),
            stats_clock_regressed: AtomicU64::new(0),
            clock_bound: AtomicU64::new(super::apply::clock_bound_of(
                crate::storage::DEFAULT_MAX_CLOCK_DRIFT,
            )),
            seq_floor: next_seq,
            stats_swept: AtomicU64::new(0),
            inline_values: std::sync::atomic::AtomicBool::new(counts.held_at_open),
            counts,
            digests: Mutex::new(digests),
            sweep_failure: Mutex::new(None),
        })
    }

    /// The handle of a column family that `open` checked exists.
    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        // `open` creates or refuses a database without every family of `cf::ALL`, and none
        // of those is ever dropped (only format 3's `expiring`, by the migration at open).
        handle(&self.db, name).expect("column family checked at open")
    }

    /// Rejects keys that are empty or over the limit.
    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if key.len() > self.options.max_key_size {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: self.options.max_key_size,
            });
        }
        Ok(())
    }

    /// Rejects values over the limit.
    pub(crate) fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.options.max_value_size {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: self.options.max_value_size,
            });
        }
        Ok(())
    }

    /// The committed index record of `key`, if any.
    pub(crate) fn read_index(&self, key: &[u8]) -> Result<Option<IndexRecord>> {
        match self.db.get_pinned_cf(self.cf(cf::INDEX), key)? {
            Some(bytes) => IndexRecord::decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }
}

/// Reads and checks the format and node id: the node id and the folder's format, `None` when
/// there is no format record.
fn read_meta(db: &DB, options: &Options) -> Result<Option<(NodeId, u32)>> {
    let meta_cf = handle(db, cf::META)?;
    let Some(format) = db.get_cf(meta_cf, meta::FORMAT)? else {
        return Ok(None);
    };
    let found = decode_u32(meta::FORMAT, &format)?;
    if found > FORMAT_VERSION || found == 0 {
        return Err(Error::UnsupportedFormat {
            found,
            supported: FORMAT_VERSION,
        });
    }
    let stored = db
        .get_cf(meta_cf, meta::NODE_ID)?
        .ok_or_else(|| Error::corrupt("meta record \"node_id\"", "missing"))?;
    let stored = NodeId::from_slice(&stored)
        .filter(|id| !id.is_nil())
        .ok_or_else(|| {
            Error::corrupt(
                "meta record \"node_id\"",
                format!("{} bytes, expected 16 non-zero bytes", stored.len()),
            )
        })?;
    if let Some(requested) = options.node_id {
        if requested != stored {
            return Err(Error::NodeIdMismatch { stored, requested });
        }
    }
    for name in [meta::HLC_LEASE, meta::SEQ_LEASE] {
        if let Some(bytes) = db.get_cf(meta_cf, name)? {
            decode_u64(name, &bytes)?;
        }
    }
    Ok(Some((stored, found)))
}

/// How format 3's `expiring` family is opened, to be migrated and dropped.
fn legacy_descriptor() -> ColumnFamilyDescriptor {
    ColumnFamilyDescriptor::new(cf::LEGACY_EXPIRING, rocksdb::Options::default())
}

pub(super) fn handle<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| Error::corrupt("database", format!("column family {name:?} is missing")))
}
