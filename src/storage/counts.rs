//! [`Counts`]: how many keys hold a value, and how many of them have a deadline, kept in
//! memory and moved by every commit, so `DBSIZE` and `INFO keyspace` answer in constant time.
//!
//! A key counts while its index record is a put whose value has not been removed after its
//! deadline (`commit::counted`): a write moves the counts by what it changes (it knows the key's
//! previous record), the sweeper lowers them by what it removes. An expired put still counts
//! until the sweeper runs (every `Options::sweep_interval`, 100 ms by default), as a Redis key
//! counts until it is evicted. The counts are made once at open, by one pass over the index
//! (which reads the values records of keys with a deadline hold, too), and are exact from then on: a delta is applied only after
//! its batch is written, under the commit lock.

use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{ColumnFamily, DB};

use super::commit::counted;
use super::keys::IndexRecord;
use crate::Result;

/// The two counts.
pub(crate) struct Counts {
    keys: AtomicU64,
    expiring: AtomicU64,
    /// Whether some index record at open had the op byte of one holding a value, decodable or
    /// not (`Store::inline_values`: a scan must read such records, to report a corrupt one).
    pub(crate) held_at_open: bool,
}

impl Counts {
    /// Counts the index of `db` (the `index` column family `cf`), and shows `each` every
    /// record that decodes (the same pass makes the digests, `storage::digest`).
    pub(crate) fn load(
        db: &DB,
        cf: &ColumnFamily,
        mut each: impl FnMut(&[u8], &IndexRecord),
    ) -> Result<Counts> {
        let (mut keys, mut expiring) = (0u64, 0u64);
        let mut held = false;
        let mut iter = db.raw_iterator_cf(cf);
        iter.seek_to_first();
        while let Some((k, v)) = iter.item() {
            // A record that does not decode counts for nothing: reads of its key fail with
            // `Error::Corrupt` and `Db::verify` reports it, but the folder still opens.
            let rec = IndexRecord::decode(k, v).ok();
            if let Some(r) = &rec {
                each(k, r);
            }
            let (a, b) = counted(rec.as_ref());
            keys += a as u64;
            expiring += b as u64;
            held |= v.get(8) == Some(&IndexRecord::INLINE_OP);
            iter.next();
        }
        iter.status()?;
        Ok(Counts {
            keys: AtomicU64::new(keys),
            expiring: AtomicU64::new(expiring),
            held_at_open: held,
        })
    }

    /// Applies a committed batch's change.
    pub(crate) fn add(&self, (keys, expiring): (i64, i64)) {
        let apply = |c: &AtomicU64, d: i64| {
            if d >= 0 {
                c.fetch_add(d as u64, Ordering::Relaxed);
            } else {
                c.fetch_sub(d.unsigned_abs(), Ordering::Relaxed);
            }
        };
        apply(&self.keys, keys);
        apply(&self.expiring, expiring);
    }

    /// Keys holding a value (expired ones until swept).
    pub(crate) fn keys(&self) -> u64 {
        self.keys.load(Ordering::Relaxed)
    }

    /// Of those, the keys with a deadline.
    pub(crate) fn expiring(&self) -> u64 {
        self.expiring.load(Ordering::Relaxed)
    }
}
