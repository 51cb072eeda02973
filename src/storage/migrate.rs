//! Migration of a format-3 folder: the values of puts with a deadline move from the `expiring`
//! column family into their index records (format 4), and the family is dropped.
//!
//! Format 3 kept such a value as `expiring[key] = expires_at u64 | value`, its index record
//! being op 0 with the deadline (49 bytes); early format-3 builds also left such records
//! without a value (removed by the sweeper, or applied already expired) instead of marking them
//! op 2. Format 4 writes the first kind as op 3 followed by the value and the second as op 2
//! (swept), and has no 49-byte op-0 record (`storage::keys`).
//!
//! The open that finds `expiring` first marks the folder format 4 (so that a format-3 build,
//! which would read op 3 as corruption, refuses it), then walks the index once, rewriting every
//! 49-byte op-0 record in synced batches (bounded in entries and in bytes), and drops the family
//! last. The walk changes only records of the old layout, so an open cut short at any point
//! walks again and finds exactly the records not yet rewritten, their values still in
//! `expiring`. An `expiring` entry no record accounts for (another deadline, a record that is not
//! a put with one) was never readable, by format 3 either (`Db::verify` reported it); it leaves
//! with the family.

use rocksdb::{WriteBatch, WriteOptions, DB};

use super::keys::{cf, decode_expiring, IndexRecord};
use super::rocks::handle;
use crate::Result;

/// Records rewritten per synced batch, at most.
const MIGRATE_BATCH: usize = 10_000;

/// Bytes of values moved per synced batch, at most (or one value alone): values may be large.
const MIGRATE_BATCH_BYTES: usize = 64 << 20;

/// What [`migrate_expiring`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Migrated {
    /// Values moved into their index records.
    pub(crate) moved: u64,
    /// Records of puts past their deadline without a value, marked swept.
    pub(crate) swept: u64,
}

/// Rewrites every format-3 index record and drops `expiring`; nothing to do when the folder has
/// no `expiring` family.
pub(crate) fn migrate_expiring(db: &mut DB) -> Result<Migrated> {
    let mut done = Migrated::default();
    if db.cf_handle(cf::LEGACY_EXPIRING).is_none() {
        return Ok(done);
    }
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    {
        let (legacy, index) = (handle(db, cf::LEGACY_EXPIRING)?, handle(db, cf::INDEX)?);
        let mut iter = db.raw_iterator_cf(index);
        iter.seek_to_first();
        let mut batch = WriteBatch::default();
        let (mut entries, mut bytes) = (0usize, 0usize);
        while let Some((key, rec)) = iter.item() {
            if let Some(at) = format_3_deadline(rec) {
                let mut new = rec.to_vec();
                match db.get_pinned_cf(legacy, key)? {
                    Some(raw) => match decode_expiring(key, &raw) {
                        Ok((stored, value)) if stored == at => {
                            new[8] = IndexRecord::INLINE_OP;
                            new.extend_from_slice(value);
                            done.moved += 1;
                        }
                        _ => {
                            new[8] = IndexRecord::SWEPT_OP;
                            done.swept += 1;
                        }
                    },
                    None => {
                        new[8] = IndexRecord::SWEPT_OP;
                        done.swept += 1;
                    }
                }
                bytes += new.len();
                entries += 1;
                batch.put_cf(index, key, new);
                if entries == MIGRATE_BATCH || bytes >= MIGRATE_BATCH_BYTES {
                    db.write_opt(std::mem::take(&mut batch), &sync)?;
                    (entries, bytes) = (0, 0);
                }
            }
            iter.next();
        }
        iter.status()?;
        if !batch.is_empty() {
            db.write_opt(batch, &sync)?;
        }
    }
    db.drop_cf(cf::LEGACY_EXPIRING)?;
    if done != Migrated::default() {
        tracing::info!(
            moved = done.moved,
            swept = done.swept,
            "format-3 folder migrated: values with a deadline moved into their index records"
        );
    }
    Ok(done)
}

/// The deadline of a format-3 index record of a put with one (op 0 and 49 bytes, ending with
/// the deadline), or `None` for any other record.
fn format_3_deadline(rec: &[u8]) -> Option<u64> {
    if rec.len() != IndexRecord::MAX_ENCODED_LEN || rec[8] != 0 {
        return None;
    }
    let mut at = [0u8; 8];
    at.copy_from_slice(&rec[IndexRecord::ENCODED_LEN..]);
    Some(u64::from_be_bytes(at))
}
