//! Point reads and maintenance: `get`, `get_versioned`, `expiry`, the live-key count, and the flush and
//! compaction calls `Db` exposes.

use rocksdb::ReadOptions;

use super::keys::{cf, IndexRecord};
use super::rocks::Store;
use crate::record::entry::{deadline_time, expired};
use crate::{Expiry, Op, Record, Result};

impl Store {
    /// The value at `key` (checked by the caller), or `None` when absent, deleted or expired.
    ///
    /// A value without a deadline is found in `data` with one lookup, as before deadlines
    /// existed; a value with one in the key's index record with a second. A record that says
    /// the key has a plain value (a write moved it into `data` between the two reads) is read
    /// again with `data` from one snapshot, so a live key never looks absent.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.db.get_pinned_cf(self.cf(cf::DATA), key)? {
            return Ok(Some(value.to_vec()));
        }
        // The record found now is the key's state now: no snapshot needed, unless it points
        // back at `data`.
        let Some(bytes) = self.db.get_pinned_cf(self.cf(cf::INDEX), key)? else {
            return Ok(None);
        };
        let (rec, held) = IndexRecord::decode_inline(key, &bytes)?;
        if rec.op == Op::Delete || rec.expires_at.is_some() {
            let live = held.filter(|_| !expired(rec.expires_at, self.now_ms()));
            return Ok(live.map(<[u8]>::to_vec));
        }
        drop(bytes);
        let snapshot = self.db.snapshot();
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&snapshot);
        let value = match snapshot.get_pinned_cf(self.cf(cf::INDEX), key)? {
            Some(bytes) => {
                let (rec, held) = IndexRecord::decode_inline(key, &bytes)?;
                self.live_value(key, &rec, held, self.now_ms(), &opts)
            }
            None => Ok(None),
        };
        value
    }

    /// The key's value or tombstone with its version and deadline, from one snapshot.
    pub(crate) fn get_versioned(&self, key: &[u8]) -> Result<Option<Record>> {
        let snapshot = self.db.snapshot();
        let Some(bytes) = snapshot.get_pinned_cf(self.cf(cf::INDEX), key)? else {
            return Ok(None);
        };
        let (rec, held) = IndexRecord::decode_inline(key, &bytes)?;
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&snapshot);
        let value = self.live_value(key, &rec, held, self.now_ms(), &opts)?;
        Ok(Some(Record {
            expired: rec.op == Op::Put && value.is_none(),
            value,
            version: rec.version,
            expires_at: rec.expires_at.map(deadline_time),
        }))
    }

    /// Whether `key` holds a live value, and until when: from the index record alone (a put
    /// whose value the sweeper removed is marked swept there).
    pub(crate) fn expiry(&self, key: &[u8]) -> Result<Expiry> {
        let Some(rec) = self.read_index(key)? else {
            return Ok(Expiry::Missing);
        };
        if rec.op == Op::Delete || rec.swept || expired(rec.expires_at, self.now_ms()) {
            return Ok(Expiry::Missing);
        }
        Ok(match rec.expires_at {
            None => Expiry::Never,
            Some(at) => Expiry::At(deadline_time(at)),
        })
    }

    /// Live keys, counted by walking `data` and the index records that hold a value (values
    /// are not copied; such a record is looked at for its deadline).
    pub(crate) fn live_keys(&self) -> Result<u64> {
        let snapshot = self.db.snapshot();
        let mut n = 0u64;
        let mut iter = snapshot.raw_iterator_cf(self.cf(cf::DATA));
        iter.seek_to_first();
        while iter.valid() {
            n += 1;
            iter.next();
        }
        iter.status()?;
        let now = self.now_ms();
        let mut iter = snapshot.raw_iterator_cf(self.cf(cf::INDEX));
        iter.seek_to_first();
        while let Some((k, v)) = iter.item() {
            let rec = IndexRecord::decode(k, v)?;
            n += u64::from(rec.holds_value() && !expired(rec.expires_at, now));
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
