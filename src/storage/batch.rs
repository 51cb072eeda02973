//! [`Batch`]: several puts and deletes committed atomically by [`Db::write`](crate::Db::write).
//!
//! Keys and values are appended to one buffer (no allocation per operation); each operation
//! records where its bytes are.

use std::ops::Range;

use crate::storage::commit::OpRef;

/// Several puts and deletes, committed as one atomic write by [`Db::write`](crate::Db::write).
///
/// Operations apply in the order they were added, each getting its own [`Version`](crate::Version)
/// (so a key named twice gets two clock increments); a key named twice keeps its last operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    bytes: Vec<u8>,
    ops: Vec<(Range<usize>, Option<Range<usize>>)>,
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

    /// Adds a put of `value` at `key`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let k = self.push(key.as_ref());
        let v = self.push(value.as_ref());
        self.ops.push((k, Some(v)));
        self
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let k = self.push(key.as_ref());
        self.ops.push((k, None));
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, borrowing the batch's bytes.
    pub(crate) fn op_refs(&self) -> Vec<OpRef<'_>> {
        self.ops
            .iter()
            .map(|(k, v)| {
                let key = &self.bytes[k.clone()];
                match v {
                    Some(v) => OpRef::Put(key, &self.bytes[v.clone()]),
                    None => OpRef::Delete(key),
                }
            })
            .collect()
    }
}
