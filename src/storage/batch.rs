//! [`Batch`]: several puts, deletes and expiry changes committed atomically by
//! [`Db::write`](crate::Db::write).
//!
//! Keys and values are appended to one buffer (no allocation per operation); each operation
//! records where its bytes are. A time-to-live stays relative until the commit, which turns it
//! into a deadline by the node's clock.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use crate::record::entry::deadline_ms;
use crate::storage::commit::OpRef;
use crate::storage::keys::MAX_EXPIRES_AT_MS;
use crate::{Error, Result};

/// What one operation of a batch does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Put,
    /// A put that expires this many ms after the commit.
    PutTtl(u64),
    /// A put that expires at this deadline (ms since the Unix epoch).
    PutAt(u64),
    Delete,
    /// A new deadline this many ms after the commit, for the key's live value.
    ExpireTtl(u64),
    ExpireAt(u64),
    Persist,
}

/// Several puts, deletes and expiry changes, committed as one atomic write by
/// [`Db::write`](crate::Db::write).
///
/// Operations apply in the order they were added, each getting its own [`Version`](crate::Version)
/// (so a key named twice gets two clock increments); a key named twice keeps its last operation.
/// An expire or persist of a key that holds no live value at the commit (or earlier in the
/// batch) writes nothing, and its version in the result is [`Version::NONE`](crate::Version::NONE).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    bytes: Vec<u8>,
    ops: Vec<(Kind, Range<usize>, Option<Range<usize>>)>,
}

/// A duration in whole milliseconds, rounded up (a key never expires before its time-to-live),
/// saturating.
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    let ms = ttl.as_millis() + u128::from(ttl.subsec_nanos() % 1_000_000 != 0);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The deadline `ms` after `now_ms`, refused past [`MAX_EXPIRES_AT_MS`].
pub(crate) fn checked_deadline(at_ms: u64) -> Result<u64> {
    if at_ms > MAX_EXPIRES_AT_MS {
        return Err(Error::DeadlineTooLate {
            at_ms,
            max_ms: MAX_EXPIRES_AT_MS,
        });
    }
    Ok(at_ms)
}

impl Batch {
    /// An empty batch (same as [`Db::batch`](crate::Db::batch)).
    pub fn new() -> Self {
        Batch::default()
    }

    fn push(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    fn add(&mut self, kind: Kind, key: &[u8], value: Option<&[u8]>) -> &mut Self {
        let k = self.push(key);
        let v = value.map(|v| self.push(v));
        self.ops.push((kind, k, v));
        self
    }

    /// Adds a put of `value` at `key`; it clears any deadline the key had.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.add(Kind::Put, key.as_ref(), Some(value.as_ref()))
    }

    /// Adds a put of `value` at `key` that expires `ttl` after the commit.
    pub fn put_with_ttl(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> &mut Self {
        self.add(
            Kind::PutTtl(ttl_ms(ttl)),
            key.as_ref(),
            Some(value.as_ref()),
        )
    }

    /// Adds a put of `value` at `key` that expires at `at`.
    pub fn put_expiring_at(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        at: SystemTime,
    ) -> &mut Self {
        self.add(
            Kind::PutAt(deadline_ms(at)),
            key.as_ref(),
            Some(value.as_ref()),
        )
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.add(Kind::Delete, key.as_ref(), None)
    }

    /// Adds a new deadline, `ttl` after the commit, for the key's live value.
    pub fn expire(&mut self, key: impl AsRef<[u8]>, ttl: Duration) -> &mut Self {
        self.add(Kind::ExpireTtl(ttl_ms(ttl)), key.as_ref(), None)
    }

    /// Adds a new deadline `at` for the key's live value (a time already past expires it).
    pub fn expire_at(&mut self, key: impl AsRef<[u8]>, at: SystemTime) -> &mut Self {
        self.add(Kind::ExpireAt(deadline_ms(at)), key.as_ref(), None)
    }

    /// Adds the removal of the key's deadline (its live value then stays until overwritten or
    /// deleted).
    pub fn persist(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.add(Kind::Persist, key.as_ref(), None)
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, borrowing the batch's bytes, with time-to-lives turned into deadlines
    /// from `now_ms`. A deadline past [`MAX_EXPIRES_AT_MS`] refuses the batch.
    pub(crate) fn op_refs(&self, now_ms: u64) -> Result<Vec<OpRef<'_>>> {
        self.ops
            .iter()
            .map(|(kind, k, v)| {
                let key = &self.bytes[k.clone()];
                let value = v
                    .as_ref()
                    .map(|v| &self.bytes[v.clone()])
                    .unwrap_or_default();
                let after = |ms: u64| checked_deadline(now_ms.saturating_add(ms));
                Ok(match *kind {
                    Kind::Put => OpRef::Put(key, value),
                    Kind::PutTtl(ms) => OpRef::PutExpiring(key, value, after(ms)?),
                    Kind::PutAt(at) => OpRef::PutExpiring(key, value, checked_deadline(at)?),
                    Kind::Delete => OpRef::Delete(key),
                    Kind::ExpireTtl(ms) => OpRef::Expire(key, Some(after(ms)?)),
                    Kind::ExpireAt(at) => OpRef::Expire(key, Some(checked_deadline(at)?)),
                    Kind::Persist => OpRef::Expire(key, None),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_ms(Duration::from_millis(5)), 5);
        assert_eq!(ttl_ms(Duration::from_micros(5001)), 6);
        assert_eq!(ttl_ms(Duration::ZERO), 0);
        assert_eq!(ttl_ms(Duration::MAX), u64::MAX);
    }

    #[test]
    fn deadlines_past_the_latest_refuse_the_batch() {
        let mut b = Batch::new();
        b.put(b"a", b"1").put_with_ttl(b"b", b"2", Duration::MAX);
        assert!(matches!(
            b.op_refs(1000),
            Err(Error::DeadlineTooLate { .. })
        ));
        let mut ok = Batch::new();
        ok.put_with_ttl(b"b", b"2", Duration::from_secs(1))
            .persist(b"b");
        assert_eq!(
            ok.op_refs(1000).unwrap(),
            vec![
                OpRef::PutExpiring(b"b", b"2", 2000),
                OpRef::Expire(b"b", None)
            ]
        );
    }
}
