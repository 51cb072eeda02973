//! Records and their versions: what a write is, how it is stamped, and which of two wins.
//!
//! - `entry`: [`Entry`] (a key, a value or a tombstone, a version: the unit of replication),
//!   [`Op`] and [`Record`] (what a read returns).
//! - `version`: [`Version`] (`clock`, `timestamp`, `origin`) and [`NodeId`].
//! - `hlc`: the hybrid logical clock that stamps `timestamp`; `clock`: where it reads
//!   physical time ([`Clock`]).
//! - `resolver`: the conflict rules (docs/design.md invariant 5), [`Resolver`] and
//!   [`LastWriteWins`].
//!
//! Nothing here does I/O: these are values and pure functions, shared by storage, replication
//! and the server.

pub(crate) mod clock;
pub mod entry;
#[cfg(feature = "internals")]
pub mod hlc;
#[cfg(not(feature = "internals"))]
pub(crate) mod hlc;
pub(crate) mod resolver;
pub(crate) mod version;

pub use clock::Clock;
pub use entry::{Entry, Expiry, Op, Record};
pub use resolver::{Candidate, Choice, LastWriteWins, Resolver};
pub use version::{NodeId, Version};
