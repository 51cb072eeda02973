//! [`Scan`]: live keys in order over a key range, from one consistent view.
//!
//! Values without a deadline are in `data`, values with one in `expiring` (never both), so a
//! scan merges an iterator over each, from one snapshot, and leaves out the values whose
//! deadline had passed when the scan started.

use std::ops::Bound;

use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, SnapshotWithThreadMode, DB};

use crate::record::entry::expired;
use crate::storage::keys::{cf, decode_expiring};
use crate::storage::rocks::Store;
use crate::Result;

/// Live keys and their values, in key order, from a point-in-time view taken when the scan
/// started. Tombstones and expired keys are not listed. Iterates `Result<(Vec<u8>, Vec<u8>)>`.
pub struct Scan<'a> {
    // Field order matters: the iterators must be dropped before the snapshot they read.
    data: DBRawIteratorWithThreadMode<'a, DB>,
    expiring: DBRawIteratorWithThreadMode<'a, DB>,
    _snapshot: SnapshotWithThreadMode<'a, DB>,
    now_ms: u64,
    skip: Option<Vec<u8>>,
    done: bool,
}

/// The smallest key above every key that starts with `prefix`, if any.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl<'a> Scan<'a> {
    pub(crate) fn new(store: &'a Store, start: Bound<&[u8]>, end: Bound<&[u8]>) -> Scan<'a> {
        let snapshot = store.db.snapshot();
        let mut skip = None;
        let mut empty = false;
        let bounded = || {
            let mut opts = ReadOptions::default();
            opts.set_snapshot(&snapshot);
            match start {
                Bound::Included(k) | Bound::Excluded(k) => opts.set_iterate_lower_bound(k.to_vec()),
                Bound::Unbounded => {}
            }
            match end {
                Bound::Included(k) => {
                    let mut upper = k.to_vec();
                    upper.push(0);
                    opts.set_iterate_upper_bound(upper);
                }
                Bound::Excluded(k) => opts.set_iterate_upper_bound(k.to_vec()),
                Bound::Unbounded => {}
            }
            opts
        };
        if let Bound::Excluded(k) = start {
            skip = Some(k.to_vec());
        }
        if let Bound::Excluded(k) = end {
            empty = k.is_empty();
        }
        let mut data = store.db.raw_iterator_cf_opt(store.cf(cf::DATA), bounded());
        data.seek_to_first();
        let mut expiring = store
            .db
            .raw_iterator_cf_opt(store.cf(cf::EXPIRING), bounded());
        expiring.seek_to_first();
        Scan {
            data,
            expiring,
            _snapshot: snapshot,
            now_ms: store.now_ms(),
            skip,
            done: empty,
        }
    }

    pub(crate) fn prefix(store: &'a Store, prefix: &[u8]) -> Scan<'a> {
        let end = prefix_end(prefix);
        let end = match &end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        Scan::new(store, Bound::Included(prefix), end)
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            // The smaller key of the two iterators goes first (a key is never in both; were it,
            // `data`'s would be listed and `expiring`'s skipped).
            use std::cmp::Ordering;
            let order = match (self.data.key(), self.expiring.key()) {
                (None, None) => None,
                (Some(_), None) => Some(Ordering::Less),
                (None, Some(_)) => Some(Ordering::Greater),
                (Some(d), Some(e)) => Some(d.cmp(e)),
            };
            let take_data = match order {
                None => {
                    self.done = true;
                    let status = self.data.status().and(self.expiring.status());
                    return status.err().map(|e| Err(e.into()));
                }
                Some(Ordering::Equal) => {
                    self.expiring.next();
                    true
                }
                Some(o) => o == Ordering::Less,
            };
            let item = if take_data {
                let item = self.data.item().map(|(k, v)| (k.to_vec(), Ok(v.to_vec())));
                self.data.next();
                item
            } else {
                let now = self.now_ms;
                let item = self.expiring.item().map(|(k, raw)| {
                    let value = decode_expiring(k, raw)
                        .map(|(at, v)| (!expired(Some(at), now)).then(|| v.to_vec()));
                    (k.to_vec(), value)
                });
                self.expiring.next();
                match item {
                    Some((_, Ok(None))) => continue,
                    Some((k, Ok(Some(v)))) => Some((k, Ok(v))),
                    Some((k, Err(e))) => Some((k, Err(e))),
                    None => None,
                }
            };
            let Some((key, value)) = item else { continue };
            if self.skip.as_deref() == Some(key.as_slice()) {
                continue;
            }
            return Some(match value {
                Ok(v) => Ok((key, v)),
                Err(e) => {
                    self.done = true;
                    Err(e)
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
