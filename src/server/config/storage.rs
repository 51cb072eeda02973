//! Storage settings: the database folder and the [`Options`] it opens with.

use std::path::PathBuf;

use super::error::{bad, named, ConfigError};
use super::setting::settings;
use crate::{Durability, NodeId, Options};

/// Default `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "meshkv-data";

settings! {
    /// The database's settings: its folder and its [`Options`].
    #[settings(heading = "Storage", table = "", values = StorageValues, file = StorageFile)]
    pub struct StorageSettings {
        /// Database folder, created if missing.
        #[setting(flag = "data-dir", env = "MESHKV_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf = PathBuf::from(DEFAULT_DATA_DIR);

        /// `buffered` (the write-ahead log without fsync: survives a process crash) or `sync`
        /// (fsync before a write returns: survives power loss).
        #[setting(flag = "durability", env = "MESHKV_DURABILITY", value_name = "MODE")]
        durability: Durability = Options::default().durability;

        /// Node id of a new database, 32 hex digits. Plaintext only: under cluster keys a node
        /// id must be the one derived from the folder's key, which a new database takes when
        /// this is unset.
        #[setting(
            flag = "node-id",
            env = "MESHKV_NODE_ID",
            value_name = "HEX",
            shown = "derived from the folder's key at creation"
        )]
        node_id: NodeId => Option<NodeId> = Options::default().node_id;

        /// Largest key in bytes, 1 ..= 16 MiB; larger keys get HTTP 413.
        #[setting(flag = "max-key-size", env = "MESHKV_MAX_KEY_SIZE", value_name = "BYTES")]
        max_key_size: usize = Options::default().max_key_size;

        /// Largest value and request body in bytes, at most 1 GiB; larger ones get HTTP 413.
        #[setting(flag = "max-value-size", env = "MESHKV_MAX_VALUE_SIZE", value_name = "BYTES")]
        max_value_size: usize = Options::default().max_value_size;

        /// RocksDB block cache in bytes; at least 1 MiB.
        #[setting(flag = "cache-size", env = "MESHKV_CACHE_SIZE", value_name = "BYTES")]
        cache_size: usize = Options::default().cache_size;

        /// RocksDB memtable budget in bytes; at least 4 MiB.
        #[setting(
            flag = "write-buffer-size",
            env = "MESHKV_WRITE_BUFFER_SIZE",
            value_name = "BYTES"
        )]
        write_buffer_size: usize = Options::default().write_buffer_size;

        /// Changes a watcher may fall behind before it gets `lagged`; 1 ..= 1048576.
        #[setting(flag = "watch-buffer", env = "MESHKV_WATCH_BUFFER", value_name = "CHANGES")]
        watch_buffer: usize = Options::default().watch_buffer;
    }
}

impl StorageValues {
    /// The [`Options`] to open the database with, validated ([`Options::validate`]).
    pub fn options(&self) -> Result<Options, ConfigError> {
        let options = Options {
            durability: self.durability,
            node_id: self.node_id,
            max_key_size: self.max_key_size,
            max_value_size: self.max_value_size,
            cache_size: self.cache_size,
            write_buffer_size: self.write_buffer_size,
            watch_buffer: self.watch_buffer,
            // The system clock: simulated time is for the library's simulations.
            ..Options::default()
        };
        options.validate().map_err(named)?;
        Ok(options)
    }

    /// The database folder; it must not be empty.
    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir", "must not be empty"));
        }
        Ok(self.data_dir.clone())
    }
}
