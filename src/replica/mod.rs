//! The replication extension seam: what a replicator builds on, kept apart from the API a
//! service uses. [`Db::replica`](crate::Db::replica) returns a [`Replica`] view; the shipped
//! [`Node`](crate::Node) uses nothing else, and another transport can do the same.
//!
//! - reading changes for a peer: [`Replica::sync_source`] ([`SyncSource`]: the round a puller
//!   at a cursor gets, full or incremental), or the two paths themselves,
//!   [`Replica::changes_since`] ([`Changes`], newest first from one
//!   snapshot) and [`Replica::full_sync`] ([`FullSync`], key order), both with `skip_held` for
//!   the no-echo rule; [`Replica::subscribe_commits`] ([`Commits`]) to wait for new writes;
//! - applying a peer's entries: [`Replica::apply`] ([`Entry`] in, [`ApplyReport`] out; equal
//!   clocks go to a [`Resolver`](crate::Resolver), which sees [`Candidate`]s and returns a
//!   [`Choice`]);
//! - comparing two nodes' state cheaply: [`Replica::digests`] ([`DigestTree`]: per segment of
//!   the key space, an order-independent hash of every key's version) and
//!   [`Replica::versions_in_segments`], driven by a [`Comparison`], and
//!   [`Replica::entries_of`] for the keys it names;
//! - per-peer cursors ([`PeerCursor`]), this open's incarnation and sequence floor, the proofs
//!   that a cursor came from this node's lineage ([`CursorProver`]), and the rolled-back mark
//!   of a restored copy.
//!
//! The rules these calls keep are docs/design.md's invariants 5 to 8.

mod cursor_proof;
mod view;

pub use crate::record::{Candidate, Choice, Entry, Op};
pub use crate::replication::anti_entropy::{
    Comparison, ComparisonError, Differences, Step, MAX_SEGMENTS_PER_ROUND,
};
pub use crate::storage::{
    differing, differing_segments, element_of, segment_of, ApplyReport, Changes, Commits,
    DigestTree, FullSync, MemberRecord, PeerCursor, SyncSource, DIGEST_RANGES, DIGEST_SEGMENTS,
    MAX_SEGMENTS_PER_ASK, SEGMENTS_PER_RANGE,
};
pub use cursor_proof::{CursorProver, Proof, PROOF_LEN};
pub use view::Replica;
