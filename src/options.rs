//! Options for opening a [`Db`](crate::Db).
//!
//! Plain structs with `Default` and [`Options::validate`]; every field is public so that
//! `Options { durability: Durability::Sync, ..Options::default() }` works, and every field also
//! has a consuming setter that states its default.

use crate::{Clock, Error, NodeId, Result};

/// How far a commit has gone before a write call returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Written to RocksDB's write-ahead log without fsync: survives a process crash, may lose the
    /// last writes on power loss or a kernel crash. The default.
    #[default]
    Buffered,
    /// The write-ahead log is fsynced before the call returns: survives power loss. Concurrent
    /// writers share one fsync (group commit).
    Sync,
}

/// Options for [`Db::open`](crate::Db::open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// What a returned write survives. Default [`Durability::Buffered`].
    pub durability: Durability,
    /// The node id to give a new database. `None` (the default) draws a random one. Opening an
    /// existing database with a different id is an [`Error::NodeIdMismatch`].
    pub node_id: Option<NodeId>,
    /// Largest accepted key, in bytes. Default 64 KiB; at most 16 MiB.
    pub max_key_size: usize,
    /// Largest accepted value, in bytes. Default 64 MiB; at most 1 GiB.
    pub max_value_size: usize,
    /// Size of RocksDB's block cache, in bytes. Default 64 MiB; at least 1 MiB.
    pub cache_size: usize,
    /// Memory for RocksDB's memtables, all column families together, in bytes: writes are
    /// flushed to disk before they take more. Default 64 MiB; at least 4 MiB.
    pub write_buffer_size: usize,
    /// How many committed changes a [`Watch`](crate::Watch) may fall behind before it gets
    /// [`Error::Lagged`] (one buffer shared by all watchers; writers never wait for them).
    /// Default 4096; 1 ..= 1,048,576.
    pub watch_buffer: usize,
    /// Where the hybrid logical clock reads physical time. Default [`Clock::system`]; a
    /// simulation passes simulated time so that a seed replays exactly.
    pub clock: Clock,
    /// How often the sweeper thread removes the values of expired keys (they read as absent
    /// from their deadline on whether or not it has run: it only reclaims space). `None`
    /// starts no thread; [`Db::sweep_expired`](crate::Db::sweep_expired) then does the work
    /// when called (a simulation calls it in simulated time). Default 100 ms; 1 ms ..= 1 hour.
    pub sweep_interval: Option<std::time::Duration>,
    /// Most expired keys one sweeper step removes, under the commit lock (writers wait for at
    /// most one step); a full step is followed by the next after a pause as long as itself.
    /// Default 1,000; 1 ..= 1,000,000.
    pub sweep_batch: usize,
}

/// Default `max_key_size`: 64 KiB.
pub const DEFAULT_MAX_KEY_SIZE: usize = 64 << 10;
/// Default `max_value_size`: 64 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 64 << 20;
/// Default `cache_size`: 64 MiB.
pub const DEFAULT_CACHE_SIZE: usize = 64 << 20;
/// Default `write_buffer_size`: 64 MiB.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 64 << 20;
/// Default `watch_buffer`: 4096 changes.
pub const DEFAULT_WATCH_BUFFER: usize = 4096;
/// Default `sweep_interval`: 100 ms.
pub const DEFAULT_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// Default `sweep_batch`: 1,000 keys per step.
pub const DEFAULT_SWEEP_BATCH: usize = 1000;

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Buffered,
            node_id: None,
            max_key_size: DEFAULT_MAX_KEY_SIZE,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            cache_size: DEFAULT_CACHE_SIZE,
            write_buffer_size: DEFAULT_WRITE_BUFFER_SIZE,
            watch_buffer: DEFAULT_WATCH_BUFFER,
            clock: Clock::system(),
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            sweep_batch: DEFAULT_SWEEP_BATCH,
        }
    }
}

impl Options {
    /// Sets [`Options::durability`] (default [`Durability::Buffered`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets [`Options::node_id`] (default: random at creation).
    pub fn node_id(mut self, id: NodeId) -> Self {
        self.node_id = Some(id);
        self
    }

    /// Sets [`Options::max_key_size`] (default 64 KiB).
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.max_key_size = bytes;
        self
    }

    /// Sets [`Options::max_value_size`] (default 64 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Sets [`Options::cache_size`] (default 64 MiB).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = bytes;
        self
    }

    /// Sets [`Options::write_buffer_size`] (default 64 MiB).
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Sets [`Options::watch_buffer`] (default 4096).
    pub fn watch_buffer(mut self, changes: usize) -> Self {
        self.watch_buffer = changes;
        self
    }

    /// Sets [`Options::clock`] (default [`Clock::system`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets [`Options::sweep_interval`] (default 100 ms; `None`: no sweeper thread).
    pub fn sweep_interval(mut self, interval: Option<std::time::Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// Sets [`Options::sweep_batch`] (default 1,000).
    pub fn sweep_batch(mut self, keys: usize) -> Self {
        self.sweep_batch = keys;
        self
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &'static str, reason: String| Err(Error::InvalidOptions { field, reason });
        if self.max_key_size == 0 || self.max_key_size > 16 << 20 {
            return bad(
                "max_key_size",
                format!("{} is outside 1 ..= 16 MiB", self.max_key_size),
            );
        }
        if self.max_value_size > 1 << 30 {
            return bad(
                "max_value_size",
                format!("{} is over 1 GiB", self.max_value_size),
            );
        }
        if self.cache_size < 1 << 20 {
            return bad("cache_size", format!("{} is below 1 MiB", self.cache_size));
        }
        if self.write_buffer_size < 4 << 20 {
            return bad(
                "write_buffer_size",
                format!("{} is below 4 MiB", self.write_buffer_size),
            );
        }
        if self.watch_buffer == 0 || self.watch_buffer > 1 << 20 {
            return bad(
                "watch_buffer",
                format!("{} is outside 1 ..= 1,048,576", self.watch_buffer),
            );
        }
        if let Some(every) = self.sweep_interval {
            let range = std::time::Duration::from_millis(1)..=std::time::Duration::from_secs(3600);
            if !range.contains(&every) {
                return bad(
                    "sweep_interval",
                    format!("{every:?} is outside 1 ms ..= 1 hour"),
                );
            }
        }
        if self.sweep_batch == 0 || self.sweep_batch > 1_000_000 {
            return bad(
                "sweep_batch",
                format!("{} is outside 1 ..= 1,000,000", self.sweep_batch),
            );
        }
        if let Some(id) = self.node_id {
            if id.is_nil() {
                return bad("node_id", "the all-zero id is reserved".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(o: Options) -> &'static str {
        match o.validate() {
            Err(Error::InvalidOptions { field, .. }) => field,
            other => panic!("expected InvalidOptions, got {other:?}"),
        }
    }

    #[test]
    fn default_is_valid() {
        Options::default().validate().unwrap();
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(field_of(Options::default().max_key_size(0)), "max_key_size");
        assert_eq!(
            field_of(Options::default().max_key_size(17 << 20)),
            "max_key_size"
        );
        assert_eq!(
            field_of(Options::default().max_value_size(2 << 30)),
            "max_value_size"
        );
        assert_eq!(field_of(Options::default().cache_size(10)), "cache_size");
        assert_eq!(field_of(Options::default().sweep_batch(0)), "sweep_batch");
        assert_eq!(
            field_of(Options::default().sweep_interval(Some(std::time::Duration::ZERO))),
            "sweep_interval"
        );
        assert_eq!(
            field_of(Options::default().node_id(NodeId([0; 16]))),
            "node_id"
        );
    }

    #[test]
    fn message_names_the_field() {
        let err = Options::default().cache_size(1).validate().unwrap_err();
        assert!(err.to_string().contains("cache_size"), "{err}");
    }
}
