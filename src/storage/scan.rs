//! [`Scan`]: live keys in order over a key range, from one consistent view.

use std::ops::Bound;

use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, DB};

use crate::storage::keys::cf;
use crate::storage::rocks::Store;
use crate::Result;

/// Live keys and their values, in key order, from a point-in-time view taken when the scan
/// started. Tombstones are not listed. Iterates `Result<(Vec<u8>, Vec<u8>)>`.
pub struct Scan<'a> {
    iter: DBRawIteratorWithThreadMode<'a, DB>,
    skip: Option<Vec<u8>>,
    started: bool,
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
        let mut opts = ReadOptions::default();
        let mut skip = None;
        let mut empty = false;
        match start {
            Bound::Included(k) => opts.set_iterate_lower_bound(k.to_vec()),
            Bound::Excluded(k) => {
                opts.set_iterate_lower_bound(k.to_vec());
                skip = Some(k.to_vec());
            }
            Bound::Unbounded => {}
        }
        match end {
            Bound::Included(k) => {
                let mut upper = k.to_vec();
                upper.push(0);
                opts.set_iterate_upper_bound(upper);
            }
            Bound::Excluded(k) => {
                empty = k.is_empty();
                opts.set_iterate_upper_bound(k.to_vec());
            }
            Bound::Unbounded => {}
        }
        let mut iter = store.db.raw_iterator_cf_opt(store.cf(cf::DATA), opts);
        iter.seek_to_first();
        Scan {
            iter,
            skip,
            started: false,
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
            if self.started {
                self.iter.next();
            }
            self.started = true;
            match self.iter.item() {
                Some((k, v)) => {
                    if self.skip.as_deref() == Some(k) {
                        continue;
                    }
                    return Some(Ok((k.to_vec(), v.to_vec())));
                }
                None => {
                    self.done = true;
                    return self.iter.status().err().map(|e| Err(e.into()));
                }
            }
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
