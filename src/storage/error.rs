//! [`StorageError`]: a failure reported by RocksDB, wrapped so that the public API does not
//! name the `rocksdb` crate (an upgrade of it is then no breaking change of ours).

/// A failure reported by the storage engine (RocksDB): an I/O error, a lock held by another
/// process, a corruption it detected. Its text is RocksDB's message.
#[derive(Debug, Clone)]
pub struct StorageError(rocksdb::Error);

impl StorageError {
    /// RocksDB's message.
    pub fn message(&self) -> String {
        self.0.to_string()
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StorageError {}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError(e)
    }
}

impl From<rocksdb::Error> for crate::Error {
    fn from(e: rocksdb::Error) -> Self {
        crate::Error::Storage(StorageError(e))
    }
}
