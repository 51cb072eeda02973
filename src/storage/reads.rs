//! Point reads and maintenance: `get`, `get_versioned`, `expiry`, the live-key count, and the flush and
//! compaction calls `Db` exposes.

use rocksdb::ReadOptions;

use super::keys::{cf, decode_expiring, IndexRecord};
use super::rocks::Store;
use crate::record::entry::{deadline_time, expired};
use crate::{Expiry, Op, Record, Result};

impl Store {
    /// The value at `key` (checked by the caller), or `None` when absent, deleted or expired.
    ///
    /// A value without a deadline is found in `data` with one lookup, as before deadlines
    /// existed; a value with one in `expiring` with a second. A key in neither is read again
    /// from one snapshot of both families: a write moving the key from one to the other
    /// between the two reads could otherwise make a live key look absent.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.db.get_pinned_cf(self.cf(cf::DATA), key)? {
            return Ok(Some(value.to_vec()));
        }
        // A value with a deadline found now was the key's value now: no snapshot needed.
        if let Some(bytes) = self.db.get_pinned_cf(self.cf(cf::EXPIRING), key)? {
            let (at, value) = decode_expiring(key, &bytes)?;
            return Ok((!expired(Some(at), self.now_ms())).then(|| value.to_vec()));
        }
        // In neither: absent, unless a write moved the key between the two reads; one
        // snapshot of both settles it.
        let snapshot = self.db.snapshot();
        if let Some(bytes) = snapshot.get_pinned_cf(self.cf(cf::EXPIRING), key)? {
            let (at, value) = decode_expiring(key, &bytes)?;
            return Ok((!expired(Some(at), self.now_ms())).then(|| value.to_vec()));
        }
        let value = snapshot.get_pinned_cf(self.cf(cf::DATA), key)?;
        Ok(value.map(|v| v.to_vec()))
    }

    /// The key's value or tombstone with its version and deadline, from one snapshot.
    pub(crate) fn get_versioned(&self, key: &[u8]) -> Result<Option<Record>> {
        let snapshot = self.db.snapshot();
        let Some(bytes) = snapshot.get_pinned_cf(self.cf(cf::INDEX), key)? else {
            return Ok(None);
        };
        let rec = IndexRecord::decode(key, &bytes)?;
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&snapshot);
        let value = self.live_value(key, &rec, self.now_ms(), &opts)?;
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

    /// Live keys, counted by walking `data` and `expiring` (values are not copied; an
    /// `expiring` value is looked at for its deadline).
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
        let mut iter = snapshot.raw_iterator_cf(self.cf(cf::EXPIRING));
        iter.seek_to_first();
        while let Some((k, v)) = iter.item() {
            let (at, _) = decode_expiring(k, v)?;
            n += u64::from(!expired(Some(at), now));
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
