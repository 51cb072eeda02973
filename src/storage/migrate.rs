//! Migration of a format-3 folder: the values of puts with a deadline move from the `expiring`
//! column family into their index records (format 4), and the family is dropped.
//!
//! Format 3 kept such a value as `expiring[key] = expires_at u64 | value`, its index record
//! being op 0 with the deadline (49 bytes). Format 4 writes the record as op 3 followed by the
//! value (`storage::keys`). The open that finds `expiring` first marks the folder format 4
//! (so that a format-3 build, which would read op 3 as corruption, refuses it), then moves the
//! values in synced batches, each rewriting a record and deleting its `expiring` entry
//! together, and drops the family last. An open cut short at any point finds the family again
//! and carries on where it stopped: the entries left are exactly the values not yet moved.
//!
//! An `expiring` entry its index record does not account for (another deadline, a record that
//! is not a put with one) was never readable, by format 3 either (`Db::verify` reported it);
//! it is counted and dropped with the family.

use rocksdb::{WriteBatch, WriteOptions, DB};

use super::keys::{cf, decode_expiring, IndexRecord};
use crate::{Error, Result};

/// Entries moved per synced batch.
const MIGRATE_BATCH: usize = 10_000;

/// What [`migrate_expiring`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Migrated {
    /// Values moved into their index records.
    pub(crate) moved: u64,
    /// Entries no index record accounted for, dropped.
    pub(crate) dropped: u64,
}

/// Moves every value of `expiring` into its index record and drops the family; nothing to do
/// when the folder has no `expiring` family.
pub(crate) fn migrate_expiring(db: &mut DB) -> Result<Migrated> {
    let mut done = Migrated::default();
    if db.cf_handle(cf::LEGACY_EXPIRING).is_none() {
        return Ok(done);
    }
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    loop {
        let (legacy, index) = (handle(db, cf::LEGACY_EXPIRING)?, handle(db, cf::INDEX)?);
        let mut batch = WriteBatch::default();
        let mut iter = db.raw_iterator_cf(legacy);
        iter.seek_to_first();
        let mut n = 0;
        while let Some((key, raw)) = iter.item() {
            if n == MIGRATE_BATCH {
                break;
            }
            n += 1;
            batch.delete_cf(legacy, key);
            let record = db.get_pinned_cf(index, key)?;
            match (decode_expiring(key, raw), record.as_deref()) {
                (Ok((at, value)), Some(rec)) if holds_format_3(rec, at) => {
                    let mut moved = Vec::with_capacity(rec.len() + value.len());
                    moved.extend_from_slice(rec);
                    moved[8] = IndexRecord::INLINE_OP;
                    moved.extend_from_slice(value);
                    // Decodes as format 4 before it is written: a bad record stays as it was.
                    IndexRecord::decode_inline(key, &moved)?;
                    batch.put_cf(index, key, moved);
                    done.moved += 1;
                }
                _ => done.dropped += 1,
            }
            iter.next();
        }
        iter.status()?;
        drop(iter);
        if n == 0 {
            break;
        }
        db.write_opt(batch, &sync)?;
    }
    db.drop_cf(cf::LEGACY_EXPIRING)?;
    Ok(done)
}

/// Whether `rec` is a format-3 index record of a put with deadline `at` whose value was in
/// `expiring`: op 0 and 49 bytes, ending with `at`.
fn holds_format_3(rec: &[u8], at: u64) -> bool {
    rec.len() == IndexRecord::MAX_ENCODED_LEN
        && rec[8] == 0
        && rec[IndexRecord::ENCODED_LEN..] == at.to_be_bytes()
}

fn handle<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| Error::corrupt("database", format!("column family {name:?} is missing")))
}
