//! Point reads and maintenance: `get`, `get_versioned`, the live-key count, and the flush and
//! compaction calls `Db` exposes.

use super::keys::{cf, IndexRecord};
use super::rocks::Store;
use crate::{Error, Op, Record, Result};

impl Store {
    /// The value at `key` (checked by the caller), or `None` when absent or deleted.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = self.db.get_pinned_cf(self.cf(cf::DATA), key)?;
        Ok(value.map(|v| v.to_vec()))
    }

    /// The key's value or tombstone with its version, from one snapshot.
    pub(crate) fn get_versioned(&self, key: &[u8]) -> Result<Option<Record>> {
        let snapshot = self.db.snapshot();
        let Some(bytes) = snapshot.get_pinned_cf(self.cf(cf::INDEX), key)? else {
            return Ok(None);
        };
        let rec = IndexRecord::decode(key, &bytes)?;
        let value = match rec.op {
            Op::Delete => None,
            Op::Put => Some(
                snapshot
                    .get_cf(self.cf(cf::DATA), key)?
                    .ok_or_else(|| Error::missing_value(key))?,
            ),
        };
        Ok(Some(Record {
            value,
            version: rec.version,
        }))
    }

    /// Live keys, counted by walking `data` (values are not copied).
    pub(crate) fn live_keys(&self) -> Result<u64> {
        let mut iter = self.db.raw_iterator_cf(self.cf(cf::DATA));
        iter.seek_to_first();
        let mut n = 0u64;
        while iter.valid() {
            n += 1;
            iter.next();
        }
        iter.status()?;
        Ok(n)
    }

    /// Syncs the write-ahead log.
    pub(crate) fn flush_wal(&self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Writes every column family's memtable to table files.
    pub(crate) fn flush_memtables(&self) -> Result<()> {
        for name in cf::ALL {
            self.db.flush_cf(self.cf(name))?;
        }
        Ok(())
    }

    /// Compacts every column family over its whole key range.
    pub(crate) fn compact(&self) -> Result<()> {
        for name in cf::ALL {
            self.db
                .compact_range_cf(self.cf(name), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}
