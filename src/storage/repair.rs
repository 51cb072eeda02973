//! The entries of named keys, from one snapshot, as a feed would send them: what anti-entropy
//! repair sends a peer once the digests (`storage::digest`) named the keys two nodes hold
//! differently.
//!
//! Each entry is the key's one live record: its version and deadline, and its value when it is
//! a put not past its deadline by [`Store::drop_clock_ms`] (the clock `Changes` and
//! `FullSync` judge by, so that what a peer receives never expires early by its own clock).
//! A key without a record is left out; a malformed key (empty, too long) is too, since no
//! record can have it.

use rocksdb::ReadOptions;

use crate::storage::keys::{cf, IndexRecord};
use crate::storage::rocks::Store;
use crate::{Entry, Result};

impl Store {
    /// The entries of `keys` that have a record here, in the order given, from one snapshot.
    pub(crate) fn entries_of(&self, keys: &[Vec<u8>]) -> Result<Vec<Entry>> {
        let snapshot = self.db.snapshot();
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&snapshot);
        let now = self.drop_clock_ms();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if self.check_key(key).is_err() {
                continue;
            }
            let Some(bytes) = snapshot.get_pinned_cf(self.cf(cf::INDEX), key)? else {
                continue;
            };
            let (rec, held) = IndexRecord::decode_inline(key, &bytes)?;
            let value = self.live_value(key, &rec, held, now, &opts)?;
            out.push(Entry {
                key: key.clone(),
                value,
                version: rec.version,
                expires_at: rec.expires_at,
            });
        }
        Ok(out)
    }
}
