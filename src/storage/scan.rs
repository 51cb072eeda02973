//! [`Scan`]: live keys in order over a key range, from one consistent view.
//!
//! Values without a deadline are in `data`, values with one in their index records (never
//! both), so a scan merges an iterator over `data` with one over `index` that stops only at
//! records holding a value, from one snapshot, and leaves out the values whose deadline had
//! passed when the scan started. The index iterator walks every record of the range, so it is
//! made only when a record may hold a value (`Store::inline_values`, read after the snapshot
//! is taken: a put with a deadline sets it before its batch is written, so a snapshot that
//! holds one sees it set); until a node's first put with a deadline, a scan reads `data` alone.

use std::ops::Bound;

use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, SnapshotWithThreadMode, DB};

use std::sync::atomic::Ordering::SeqCst;

use crate::record::entry::expired;
use crate::storage::keys::{cf, IndexRecord};
use crate::storage::rocks::Store;
use crate::Result;

/// Live keys and their values, in key order, from a point-in-time view taken when the scan
/// started. Tombstones and expired keys are not listed. Iterates `Result<(Vec<u8>, Vec<u8>)>`.
pub struct Scan<'a> {
    // Field order matters: the iterators must be dropped before the snapshot they read.
    data: DBRawIteratorWithThreadMode<'a, DB>,
    /// Over `index`, kept at a record that holds a value ([`to_held`]).
    held: Option<DBRawIteratorWithThreadMode<'a, DB>>,
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
        let held = store.inline_values.load(SeqCst).then(|| {
            let mut index = store.db.raw_iterator_cf_opt(store.cf(cf::INDEX), bounded());
            index.seek_to_first();
            to_held(&mut index);
            index
        });
        Scan {
            data,
            held,
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

impl Scan<'_> {
    fn advance_held(&mut self) {
        if let Some(h) = self.held.as_mut() {
            h.next();
            to_held(h);
        }
    }
}

/// Moves an index iterator forward to the next record that holds a value (op byte 3 at offset
/// 8; a record too short to tell is stopped at, so that its decoding reports it).
fn to_held(index: &mut DBRawIteratorWithThreadMode<'_, DB>) {
    while let Some(raw) = index.value() {
        if raw.get(8).map_or(true, |&op| op == IndexRecord::INLINE_OP) {
            return;
        }
        index.next();
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
            // `data`'s would be listed and the index's skipped).
            use std::cmp::Ordering;
            let held_key = self.held.as_ref().and_then(|h| h.key());
            let order = match (self.data.key(), held_key) {
                (None, None) => None,
                (Some(_), None) => Some(Ordering::Less),
                (None, Some(_)) => Some(Ordering::Greater),
                (Some(d), Some(e)) => Some(d.cmp(e)),
            };
            let take_data = match order {
                None => {
                    self.done = true;
                    let held = self.held.as_ref().map_or(Ok(()), |h| h.status());
                    let status = self.data.status().and(held);
                    return status.err().map(|e| Err(e.into()));
                }
                Some(Ordering::Equal) => {
                    self.advance_held();
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
                let item = self.held.as_ref().and_then(|h| h.item()).map(|(k, raw)| {
                    let value = IndexRecord::decode_inline(k, raw).map(|(rec, v)| {
                        v.filter(|_| !expired(rec.expires_at, now))
                            .map(<[u8]>::to_vec)
                    });
                    (k.to_vec(), value)
                });
                self.advance_held();
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
