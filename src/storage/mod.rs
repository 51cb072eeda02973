//! The storage layer: RocksDB, its five column families, the atomic commit, and every read path
//! and feed. No file outside this folder names `rocksdb`.
//!
//! - `keys`: typed keys and values of each column family and their byte layouts.
//! - `rocks`: opening (creating, checking the format, the node id), the RocksDB tuning, reads.
//! - `migrate`: a format-3 folder's values with a deadline move into their index records.
//! - `lease`: durable leases that keep the sequence and the clock from going back.
//! - `commit`: the commit core: one write as one `WriteBatch` under the commit lock, with the
//!   lease extension; `group_commit`: local writes, concurrent writers sharing one write and
//!   one fsync; `apply`: remote entries against the local versions ([`ApplyReport`]).
//! - `batch`: [`Batch`], several operations committed together.
//! - `expiry`: keys with deadlines: reading their values, `expire`/`persist`, the sweeper's
//!   step; `sweeper`: the background thread that runs it.
//! - `clock_guard`: local writes never take a timestamp a majority of the peers would refuse
//!   ([`PeerClockLimit`], `Error::ClockSkew`), and a clock that ran ahead is moved back safely.
//! - `changes`, `full_sync`: the read paths a peer pulls from ([`Changes`], [`FullSync`]), one
//!   snapshot each (`snapshot` pins it); `sync_source`: which of the two a round reads
//!   ([`SyncSource`]).
//! - `identity`: the node's static key pair (`node.key`), from which a folder's own node id is
//!   derived.
//! - `reads`, `meta`: point reads and maintenance; peer cursors, the rolled-back mark and the
//!   node-id renewal.
//! - `members`: the cluster's members as the folder remembers them ([`MemberRecord`]), and the
//!   point the node's own applied frontier is taken at.
//! - `scan`, `verify`: key-ordered scans ([`Scan`]) and the consistency check
//!   ([`VerifyReport`]).
//! - `watch`, `commits`, `stats`, `counts`: change notifications ([`Watch`]), the commit signal
//!   ([`Commits`]), the counters ([`DbStats`]) and the key counts kept by every commit.
//! - `repair`: the entries of named keys, for anti-entropy repair.
//! - `digest`: the anti-entropy digests of every key's version, per segment of the key space
//!   ([`DigestTree`]), kept by every commit.
//!
//! Invariants kept here (docs/design.md): 1 atomic commit, 2 one live log entry per key, 3 ordered
//! visibility, 4 the sequence never goes back, 5 deterministic resolution, 6 relay without echo,
//! 7 consistent sync reads, 9 tombstones stay.

pub(crate) mod apply;
pub(crate) mod batch;
pub(crate) mod changes;
pub(crate) mod clock_guard;
pub(crate) mod commit;
pub(crate) mod commits;
pub(crate) mod counts;
pub(crate) mod digest;
mod error;
pub(crate) mod expiry;
pub(crate) mod full_sync;
pub(crate) mod group_commit;
#[cfg(feature = "internals")]
pub mod identity;
#[cfg(not(feature = "internals"))]
pub(crate) mod identity;
#[cfg(feature = "internals")]
pub mod keys;
#[cfg(not(feature = "internals"))]
pub(crate) mod keys;
pub(crate) mod lease;
pub(crate) mod members;
pub(crate) mod meta;
mod migrate;
pub(crate) mod reads;
mod repair;
pub(crate) mod rocks;
pub(crate) mod scan;
mod snapshot;
pub(crate) mod stats;
pub(crate) mod sweeper;
pub(crate) mod sync_source;
pub(crate) mod verify;
pub(crate) mod watch;

pub use apply::{ApplyReport, DEFAULT_MAX_CLOCK_DRIFT};
pub use batch::Batch;
pub use changes::Changes;
pub use clock_guard::PeerClockLimit;
pub use commits::Commits;
pub use digest::{
    differing, differing_segments, element_of, segment_of, DigestTree, DIGEST_RANGES,
    DIGEST_SEGMENTS, MAX_SEGMENTS_PER_ASK, SEGMENTS_PER_RANGE,
};
pub use error::StorageError;
pub use full_sync::FullSync;
pub use members::MemberRecord;
pub use meta::PeerCursor;
#[cfg(feature = "internals")]
pub use rocks::rocksdb_options;
pub use scan::Scan;
pub use stats::DbStats;
pub use sync_source::SyncSource;
pub use verify::VerifyReport;
pub use watch::{Event, Watch};

/// A key for error messages: UTF-8 text when it is printable, hex otherwise; cut at 64 bytes.
pub(crate) fn printable(key: &[u8]) -> String {
    let cut = &key[..key.len().min(64)];
    let more = if key.len() > 64 { "..." } else { "" };
    match std::str::from_utf8(cut) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}{more}"),
        _ => {
            let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
            format!("0x{hex}{more}")
        }
    }
}
