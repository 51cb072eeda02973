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

mod db;
pub mod discovery;
mod error;
#[cfg(feature = "internals")]
pub mod fuzzing;
#[cfg(feature = "internals")]
pub mod net;
#[cfg(not(feature = "internals"))]
mod net;
mod options;
pub mod record;
pub mod replica;
pub mod replication;
#[cfg(feature = "internals")]
pub mod sabotage;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)]
mod sabotage;
#[cfg(feature = "server")]
pub mod server;
pub mod storage;

// What a service uses: the database, its options, replication, and their errors.
pub use db::{Db, DELETE_ALL_BATCH};
pub use discovery::MulticastConfig;
pub use error::{Error, Result};
pub use options::{Durability, Options};
pub use record::{Expiry, LastWriteWins, NodeId, Record, Resolver, Version};
pub use replication::{
    Member, MemberState, Node, NodeConfig, NodeStatus, PeerStatus, RepairReport, RepairStatus,
};
pub use storage::{Batch, Event, Watch};

// Crate-internal short paths for the types that live in the modules above.
pub(crate) use record::{hlc, Clock, Entry, Op};
pub(crate) use replica::{ApplyReport, Commits, PeerCursor};
pub(crate) use storage::DbStats;
