//! # meshkv
//!
//! An embedded, durable key-value store on RocksDB in which every node takes writes and
//! replicates them to its peers (multi-master). Each write commits its value, a log entry and a
//! log-index entry atomically; peers pull each other's logs and settle conflicts with per-key
//! logical clocks and a deterministic [`Resolver`].
//!
//! ```
//! use meshkv::{Db, Options, Version};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! let v1: Version = db.put(b"user/1", b"alice")?;
//! assert_eq!(db.get(b"user/1")?, Some(b"alice".to_vec()));
//! let v2 = db.delete(b"user/1")?;
//! assert_eq!(v2.clock, v1.clock + 1);
//! assert!(db.get_versioned(b"user/1")?.unwrap().is_tombstone());
//!
//! let mut batch = db.batch();
//! batch.put(b"a", b"1");
//! batch.delete(b"b");
//! let versions = db.write(batch)?;
//! assert_eq!(versions.len(), 2);
//!
//! for item in db.scan_prefix(b"a") {
//!     let (key, value) = item?;
//!     assert_eq!((key, value), (b"a".to_vec(), b"1".to_vec()));
//! }
//! assert!(db.verify()?.is_clean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A [`Node`] replicates a database over authenticated TCP with the peers it is given, learns
//! from their hellos, and, opt-in, finds by authenticated UDP multicast ([`MulticastConfig`],
//! module [`discovery`]).
//!
//! See `docs/design.md` for the architecture and invariants, `docs/storage.md` for the storage
//! layout and durability modes, and `docs/performance.md` for measured performance.

#![warn(missing_docs)]

mod batch;
mod clock;
mod commits;
mod db;
pub mod discovery;
mod entry;
mod error;
mod full_sync;
#[doc(hidden)]
pub mod fuzzing;
pub mod hlc;
mod log;
mod log_throttle;
mod options;
pub mod replication;
mod resolver;
#[doc(hidden)]
pub mod sabotage;
mod scan;
#[cfg(feature = "server")]
pub mod server;
mod stats;
pub mod storage;
mod verify;
mod version;
mod watch;

pub use batch::Batch;
pub use clock::Clock;
pub use commits::Commits;
pub use db::{Db, PeerCursor};
pub use discovery::{DiscoveryStatus, MulticastConfig};
pub use entry::{Entry, Op, Record};
pub use error::{Error, Result};
pub use full_sync::FullSync;
pub use log::Changes;
pub use options::{
    Durability, Options, DEFAULT_CACHE_SIZE, DEFAULT_MAX_KEY_SIZE, DEFAULT_MAX_VALUE_SIZE,
    DEFAULT_WRITE_BUFFER_SIZE,
};
pub use replication::{Node, NodeConfig, NodeStatus, PeerSource, PeerStatus};
pub use resolver::{Candidate, Choice, LastWriteWins, Resolver};
pub use scan::Scan;
pub use stats::DbStats;
pub use storage::commit::ApplyReport;
pub use verify::VerifyReport;
pub use version::{NodeId, Version};
pub use watch::{Event, Watch};
