//! [`Batch`]: several puts and deletes committed atomically by [`Db::write`](crate::Db::write).

use crate::storage::commit::WriteOp;

/// Several puts and deletes, committed as one atomic write by [`Db::write`](crate::Db::write).
///
/// Operations apply in the order they were added, each getting its own [`Version`](crate::Version)
/// (so a key named twice gets two clock increments); a key named twice keeps its last operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub(crate) ops: Vec<WriteOp>,
}

impl Batch {
    /// An empty batch (same as [`Db::batch`](crate::Db::batch)).
    pub fn new() -> Self {
        Batch::default()
    }

    /// Adds a put of `value` at `key`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.ops
            .push(WriteOp::Put(key.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.ops.push(WriteOp::Delete(key.as_ref().to_vec()));
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
}
