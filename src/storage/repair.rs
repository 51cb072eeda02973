//! The entries of named keys, from one snapshot, as a feed would send them: what anti-entropy
//! repair sends a peer once the digests (`storage::digest`) named the keys two nodes hold
//! differently.
//!
//! Each entry is the key's one live record: its version and deadline, and its value when it is
//! a put not past its deadline by [`Store::drop_clock_ms`] (the clock `Changes` and
//! `FullSync` judge by, so that what a peer receives never expires early by its own clock).
//! A key without a record is left out, and so is an empty key (no record can have it) and a
//! key whose record does not decode or whose value is missing (`Db::verify` reports those): one
//! bad record never stops the repair of the others. A call reads at most `max_bytes` of keys
//! and values (or one entry alone); the keys after are left for the next call.

use rocksdb::ReadOptions;

use crate::storage::keys::{cf, IndexRecord};
use crate::storage::rocks::Store;
use crate::{Entry, Result};

impl Store {
    /// The entries of `keys` that have a record here, in the order given, from one snapshot,
    /// within `max_bytes` of keys and values (at least one entry); and how many of `keys` it
    /// went through.
    pub(crate) fn entries_of(
        &self,
        keys: &[Vec<u8>],
        max_bytes: usize,
    ) -> Result<(Vec<Entry>, usize)> {
        let snapshot = self.db.snapshot();
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&snapshot);
        let now = self.drop_clock_ms();
        let mut out = Vec::new();
        let (mut bytes, mut done) = (0usize, 0usize);
        for key in keys {
            if key.is_empty() {
                done += 1;
                continue;
            }
            let Some(raw) = snapshot.get_pinned_cf(self.cf(cf::INDEX), key)? else {
                done += 1;
                continue;
            };
            let Ok((rec, held)) = IndexRecord::decode_inline(key, &raw) else {
                done += 1;
                continue;
            };
            let Ok(value) = self.live_value(key, &rec, held, now, &opts) else {
                done += 1;
                continue;
            };
            let size = key.len() + value.as_ref().map_or(0, Vec::len);
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            done += 1;
            out.push(Entry {
                key: key.clone(),
                value,
                version: rec.version,
                expires_at: rec.expires_at,
            });
        }
        Ok((out, done))
    }
}
