//! [`Replica`]: the replication hooks of a [`Db`], as a borrowed view.

use crate::record::Clock;
use crate::storage::{ApplyReport, Changes, Commits, DigestTree, FullSync, PeerCursor, SyncSource};
use crate::{Db, Entry, NodeId, Resolver, Result, Version};

/// The replication hooks of one database (`db.replica()`): reading its changes for a peer,
/// applying a peer's entries, per-peer cursors, and the evidence of a restored copy. The
/// shipped [`Node`](crate::Node) is built on these calls alone; another transport can be too.
#[derive(Clone, Copy, Debug)]
pub struct Replica<'a> {
    db: &'a Db,
}

impl<'a> Replica<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        Replica { db }
    }

    /// A clock reading above which this node's own writes are all held here.
    ///
    /// It is where the clock stood when this database was opened: the larger of the clock lease
    /// (at or above every timestamp used before, across power loss too) and the wall clock.
    /// Every version this node writes from now on has a timestamp above it, and a running
    /// database loses nothing: each is held here (or superseded by a newer version of its key).
    /// Writes from before the open are at or below it: they may have been lost (an unsynced
    /// write-ahead-log tail in a power cut under `Durability::Buffered`, or later writes missing
    /// from a folder restored from an old copy, which are below the wall clock at the open).
    /// `None` for a database this open created with a node id given in
    /// [`Options::node_id`](crate::Options::node_id): that id may have written before, in a
    /// folder now gone. A puller passes it to its peers, which skip this node's own writes
    /// above it instead of echoing them back (see [`Changes::skip_held`]).
    pub fn holds_own_writes_after(&self) -> Option<u64> {
        self.db.store.holds_own_after
    }

    /// The entries a puller at `cursor` gets in one round, from one snapshot: a full sync for
    /// cursor 0 or a cursor above everything committed here, else the log above it, leaving
    /// out the puller's own writes `held` tells of (its node id and its
    /// [`Replica::holds_own_writes_after`]). See [`SyncSource`].
    pub fn sync_source(&self, cursor: u64, held: Option<(NodeId, u64)>) -> SyncSource<'a> {
        SyncSource::open(&self.db.store, cursor, held)
    }

    /// Every log entry above sequence `after` (0 for all), newest first, each
    /// with its value, from one snapshot. See [`Changes`].
    pub fn changes_since(&self, after: u64) -> Changes<'a> {
        Changes::new(&self.db.store, after)
    }

    /// Every key's live entry in key order from one snapshot, for a peer
    /// that knows nothing of this database yet (cursor 0). Cheaper than `changes_since(0)`:
    /// sequential reads only. See `storage::FullSync`.
    pub fn full_sync(&self) -> FullSync<'a> {
        FullSync::new(&self.db.store)
    }

    /// The digests of every key's `(key, version)` here, per segment of the key space, as of
    /// the last commit (a copy, 1 MiB): compare two nodes' [`DigestTree::ranges`], then the
    /// [`DigestTree::segments`] of the ranges that differ, then
    /// [`Replica::versions_in_segments`] of the segments that differ. See `storage::digest`.
    pub fn digests(&self) -> DigestTree {
        self.db.store.digest_tree()
    }

    /// The 256 range digests now: [`DigestTree::ranges`] without the copy of the whole tree.
    pub fn range_digests(&self) -> Vec<u128> {
        self.db.store.range_digests()
    }

    /// The 256 segment digests of `range` now, without the copy of the whole tree.
    pub fn range_segments(&self, range: u8) -> Vec<u128> {
        self.db.store.range_segments(range)
    }

    /// The digests of `segments` now, in order: [`Replica::digests`] without the copy of the
    /// whole tree.
    pub fn segment_digests(&self, segments: &[u16]) -> Vec<u128> {
        self.db.store.segment_digests(segments)
    }

    /// The key and version of every record (tombstones and expired puts included) whose key is
    /// in one of `segments` ([`segment_of`](crate::replica::segment_of)), in key order, from one
    /// snapshot; one pass over the index.
    pub fn versions_in_segments(&self, segments: &[u16]) -> Result<Vec<(Vec<u8>, Version)>> {
        self.db.store.versions_in_segments(segments)
    }

    /// The entries of `keys` that have a record here (tombstones and puts past their deadline
    /// included, the latter without a value), in the order given, from one snapshot, within
    /// `max_bytes` of keys and values (at least one entry), and how many of `keys` the call went
    /// through (call again with the rest): what a peer that found these keys differ through the
    /// digests applies. See `storage::repair`.
    pub fn entries_of(&self, keys: &[Vec<u8>], max_bytes: usize) -> Result<(Vec<Entry>, usize)> {
        self.db.store.entries_of(keys, max_bytes)
    }

    /// The last sequence of `peer`'s log committed here, as stored by
    /// [`Replica::set_peer_cursor`]; `None` before the first complete sync with it.
    pub fn peer_cursor(&self, peer: NodeId) -> Result<Option<PeerCursor>> {
        self.db.store.peer_cursor(peer)
    }

    /// Stores `peer`'s cursor (see [`Replica::peer_cursor`]).
    pub fn set_peer_cursor(&self, peer: NodeId, cursor: PeerCursor) -> Result<()> {
        self.db.store.set_peer_cursor(peer, cursor)
    }

    /// Every member record this folder keeps (`storage::members`), in node-id order.
    pub fn members(&self) -> Result<Vec<(NodeId, super::MemberRecord)>> {
        self.db.store.members()
    }

    /// Writes member records in one batch, deleting the cursors of the members `forget` names
    /// (synced when it forgets any: a decommission survives a crash).
    pub fn put_members(
        &self,
        records: &[(NodeId, super::MemberRecord)],
        forget: &[NodeId],
    ) -> Result<()> {
        self.db.store.put_members(records, forget)
    }

    /// This node's last committed sequence and its hybrid clock's last reading, read together:
    /// every write this node made with a timestamp at or below the reading has a sequence at or
    /// below the sequence. What the node's own entry of its applied frontier is taken from.
    pub fn applied_point(&self) -> (u64, u64) {
        self.db.store.applied_point()
    }

    /// Syncs the write-ahead log: everything committed before the call is durable after it.
    pub fn sync_wal(&self) -> Result<()> {
        self.db.store.flush_wal()
    }

    /// Marks this folder decommissioned (synced): `Node::start` refuses it until
    /// [`Db::renew_node_id`](crate::Db::renew_node_id).
    pub fn mark_decommissioned(&self, why: &str) -> Result<()> {
        self.db.store.mark_decommissioned(why)
    }

    /// The decommissioned mark's explanation, if any.
    pub fn decommissioned(&self) -> Result<Option<String>> {
        self.db.store.decommissioned()
    }

    /// A random number drawn at every open. A peer's cursor records the
    /// incarnation it was read from, so a cursor from another incarnation can be told apart.
    pub fn incarnation(&self) -> u64 {
        self.db.store.incarnation
    }

    /// The first sequence this open hands out. Every sequence an earlier
    /// incarnation of this folder handed out is below it (the sequence lease); a peer holding a
    /// cursor at or above it from another incarnation has seen sequences this folder never
    /// wrote: the folder is an old copy of its node (see [`Replica::mark_rolled_back`]).
    pub fn seq_floor(&self) -> u64 {
        self.db.store.seq_floor
    }

    /// Sets how far ahead of this node's wall clock a remote timestamp may be, from now on:
    /// further ahead, [`Replica::apply`] and [`Replica::check_entry`] refuse the entry, and the
    /// clock adopts remote timestamps only up to half of it. The [`Node`](crate::Node) sets
    /// `NodeConfig::max_clock_drift`; without a node the default is
    /// [`DEFAULT_MAX_CLOCK_DRIFT`](crate::storage::DEFAULT_MAX_CLOCK_DRIFT).
    pub fn set_max_clock_drift(&self, drift: std::time::Duration) {
        self.db.store.set_clock_bound(drift);
    }

    /// The private half of the folder's static key pair, for the Noise handshake. Secret: never
    /// logged, never sent.
    pub(crate) fn static_key(&self) -> [u8; 32] {
        self.db.store.node_key.private
    }

    /// Sets the limit local writes are checked against: the highest timestamp a majority of the
    /// peers accepts (see [`PeerClockLimit`](crate::storage::PeerClockLimit)); `None` clears it.
    /// A write past it fails with [`Error::ClockSkew`](crate::Error::ClockSkew). The
    /// [`Node`](crate::Node) sets it at every heartbeat.
    pub fn set_peer_clock_limit(&self, limit: Option<crate::storage::PeerClockLimit>) {
        self.db.store.set_peer_clock_limit(limit);
    }

    /// This node's cursor prover: the proof each `End` carries, and the check of a cursor a
    /// peer presents as evidence that this folder is an old copy.
    pub fn cursor_prover(&self) -> crate::replica::CursorProver {
        crate::replica::CursorProver::new(self.db.store.node_secret, self.db.node_id())
    }

    /// Records, durably, that this folder is an old copy of a node that has since handed out later
    /// sequences (`why` says how it was found). From then on [`Replica::rolled_back`] returns it
    /// and `Node::start` refuses with [`Error::RolledBack`](crate::Error::RolledBack) until
    /// [`Db::renew_node_id`](crate::Db::renew_node_id) gives the folder a new identity.
    pub fn mark_rolled_back(&self, why: &str) -> Result<()> {
        self.db.store.mark_rolled_back(why)
    }

    /// Why this folder was found to be an old copy of its node, if it was (see
    /// [`Replica::mark_rolled_back`]).
    pub fn rolled_back(&self) -> Result<Option<String>> {
        self.db.store.rolled_back()
    }

    /// The clock this database stamps writes with ([`Options::clock`](crate::Options::clock)).
    pub fn clock(&self) -> &'a Clock {
        &self.db.store.options.clock
    }

    /// Wakes whenever a commit raises the last sequence, so a task can wait
    /// for new writes without polling (see [`Commits`](crate::Commits)).
    pub fn subscribe_commits(&self) -> crate::Commits {
        Commits::new(self.db.clone())
    }

    /// Whether [`Replica::apply`] would refuse `entry` on its own (an empty or oversized key or
    /// value for this database's limits, an implausible version), without applying anything:
    /// how a replicator finds the entries of a refused batch.
    pub fn check_entry(&self, entry: &Entry) -> Result<()> {
        self.db.store.check_entry(entry)
    }

    /// Applies entries received from a peer, in one atomic batch.
    ///
    /// Per entry (docs/design.md invariant 5): a higher clock than the local version wins; a lower
    /// one loses; an identical version is skipped; an equal clock with another write is decided by
    /// `resolver` over the two candidates in canonical order. Winners are committed with their
    /// original versions under new local sequence numbers (invariant 6), so this node relays them.
    /// The clock observes every timestamp seen. Applying is idempotent and commutative.
    ///
    /// A key or value over this database's limits rejects the whole call, applying nothing.
    pub fn apply(&self, entries: &[Entry], resolver: &dyn Resolver) -> Result<ApplyReport> {
        if entries.is_empty() {
            return Ok(ApplyReport {
                last_seq: self.db.last_seq(),
                ..ApplyReport::default()
            });
        }
        let report = self.db.store.apply(entries, resolver)?;
        self.db.stats.applied(&report);
        Ok(report)
    }
}
