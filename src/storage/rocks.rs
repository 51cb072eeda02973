//! Opening the RocksDB database, its tuning, and the read paths.
//!
//! Opening follows these rules, and on any refusal writes nothing:
//! - A path with no RocksDB `CURRENT` file is created, unless it is a non-empty directory (then it
//!   is [`Error::NotMeshkv`]): meshkv never scatters a database into a folder holding other files.
//! - An existing RocksDB database must have the four column families `data`, `log`, `index`,
//!   `meta` and a `format` record no newer than [`FORMAT_VERSION`]; else `NotMeshkv` or
//!   `UnsupportedFormat`.
//! - The node id is read from `meta`; a corrupt record is [`Error::Corrupt`], a mismatch with
//!   `Options::node_id` is [`Error::NodeIdMismatch`].
//! - The next sequence is recovered from the last log key (invariant 4: log entries are only ever
//!   deleted when a higher sequence supersedes them, so the last key is the highest sequence ever
//!   committed); the clock restarts from the persisted lease.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, WriteBatch,
    WriteOptions, DB,
};

use super::commit::{CommitState, Pending};
use super::keys::{cf, decode_u32, decode_u64, meta, IndexRecord, SeqKey, FORMAT_VERSION};
use crate::hlc::Hlc;
use crate::{Durability, Error, NodeId, Options, Result};

/// The RocksDB options meshkv opens its database with, and the descriptors of its four column
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
    let descriptors = vec![
        // Point lookups (get, and the index read of every write) benefit from bloom filters.
        ColumnFamilyDescriptor::new(cf::DATA, cf_opts(true)),
        ColumnFamilyDescriptor::new(cf::LOG, cf_opts(false)),
        ColumnFamilyDescriptor::new(cf::INDEX, cf_opts(true)),
        ColumnFamilyDescriptor::new(cf::META, cf_opts(false)),
    ];
    (db, descriptors)
}

/// The opened database: RocksDB, the node's identity, and the writer's state.
pub(crate) struct Store {
    pub(crate) db: DB,
    pub(crate) node_id: NodeId,
    pub(crate) options: Options,
    pub(crate) path: PathBuf,
    pub(crate) write_opts: WriteOptions,
    /// Local writes waiting for a leader to commit them (group commit).
    pub(crate) queue: Mutex<Vec<std::sync::Arc<Pending>>>,
    /// The commit lock: sequence allocation, clock, and the batch write happen under it.
    pub(crate) commit: Mutex<CommitState>,
    /// Highest sequence known committed (may lag RocksDB briefly, never lead it).
    pub(crate) last_seq: AtomicU64,
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
            if path.is_dir() && std::fs::read_dir(path)?.next().is_some() {
                return Err(not_meshkv(
                    "the directory is not empty and holds no RocksDB database".into(),
                ));
            }
        }
        let (mut db_opts, descriptors) = rocksdb_options(&options);
        if exists {
            let found = DB::list_cf(&db_opts, path)?;
            let missing: Vec<&str> = cf::ALL
                .iter()
                .copied()
                .filter(|name| !found.iter().any(|f| f == name))
                .collect();
            if !missing.is_empty() {
                return Err(not_meshkv(format!(
                    "a RocksDB database without the column families {missing:?} (it has {found:?})"
                )));
            }
        } else {
            db_opts.create_if_missing(true);
            db_opts.create_missing_column_families(true);
        }
        let db = DB::open_cf_descriptors(&db_opts, path, descriptors)?;

        let meta_cf = handle(&db, cf::META)?;
        let format = db.get_cf(meta_cf, meta::FORMAT)?;
        let node_id = match format {
            Some(bytes) => {
                let found = decode_u32(meta::FORMAT, &bytes)?;
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
                stored
            }
            None => {
                // A database with meshkv's column families but no format record is either one
                // whose creation was cut short (all empty: finish it) or not ours.
                let empty = cf::ALL.iter().try_fold(true, |acc, name| {
                    let h = handle(&db, name)?;
                    let mut it = db.raw_iterator_cf(h);
                    it.seek_to_first();
                    it.status()?;
                    Ok::<bool, Error>(acc && !it.valid())
                })?;
                if !empty {
                    return Err(not_meshkv(
                        "its meta column family has no format record".into(),
                    ));
                }
                let id = options.node_id.unwrap_or_else(NodeId::random);
                let mut batch = WriteBatch::default();
                batch.put_cf(meta_cf, meta::FORMAT, FORMAT_VERSION.to_be_bytes());
                batch.put_cf(meta_cf, meta::NODE_ID, id.as_bytes());
                let mut sync = WriteOptions::default();
                sync.set_sync(true);
                db.write_opt(batch, &sync)?;
                id
            }
        };

        let lease = match db.get_cf(meta_cf, meta::HLC_LEASE)? {
            Some(bytes) => decode_u64(meta::HLC_LEASE, &bytes)?,
            None => 0,
        };
        let last_seq = {
            let mut it = db.raw_iterator_cf(handle(&db, cf::LOG)?);
            it.seek_to_last();
            it.status()?;
            match it.key() {
                Some(k) => SeqKey::decode(k)?.0,
                None => 0,
            }
        };

        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(options.durability == Durability::Sync);
        Ok(Store {
            db,
            node_id,
            options,
            path: path.to_path_buf(),
            write_opts,
            queue: Mutex::new(Vec::new()),
            commit: Mutex::new(CommitState {
                next_seq: last_seq + 1,
                hlc: Hlc::new(lease),
                hlc_lease: lease,
            }),
            last_seq: AtomicU64::new(last_seq),
        })
    }

    /// The handle of a column family that `open` checked exists.
    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        // `open` refuses a database without all four families, and none is ever dropped.
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

fn handle<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| Error::corrupt("database", format!("column family {name:?} is missing")))
}
