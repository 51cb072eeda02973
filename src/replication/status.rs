//! What a node shows of itself: [`NodeStatus`], one [`PeerStatus`] per peer address, and how
//! the node came to know each ([`PeerSource`]).

use std::net::SocketAddr;

use crate::discovery::DiscoveryStatus;
use crate::net::TaskFailure;
use crate::NodeId;

/// How the node came to know a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerSource {
    /// Listed in `NodeConfig::peers`.
    Configured,
    /// Given to `Node::add_peer`.
    Added,
    /// Learned from the hello of a peer that dialed us.
    Dialed,
    /// Heard on multicast discovery: dropped (and its connection closed) when its
    /// announcements stop for `expire_after` intervals. An address learned from a hello that is
    /// also announced becomes `Discovered`; a configured or added one stays as it is and never
    /// expires.
    Discovered,
}

/// What the node knows of one peer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The address dialed.
    pub address: String,
    /// How the node came to know it.
    pub source: PeerSource,
    /// The peer's node id, once a handshake succeeded.
    pub node_id: Option<NodeId>,
    /// True while a pulling connection is up.
    pub connected: bool,
    /// The last sequence of the peer's log committed here.
    pub cursor: Option<u64>,
    /// The peer's last sequence minus our cursor, as of its last heartbeat or round.
    pub entries_behind: Option<u64>,
    /// The last error on this peer's connection.
    pub last_error: Option<String>,
    /// Handshakes with this peer refused (by either side).
    pub refused: u64,
    /// Entries from this peer this node refused (implausible versions, over its size limits),
    /// counted each time they arrive: they are never passed over, but kept below the cursor and
    /// pulled again.
    pub invalid_entries: u64,
    /// Refused entries of this peer waiting to be pulled again (the cursor stays below the
    /// lowest of them); 0 when every entry pulled was applied.
    pub unapplied_entries: u64,
    /// Why the last refused entry was refused.
    pub last_refusal: Option<String>,
    /// Entries pulled from this peer (all received, whatever `apply` made of them).
    pub entries_received: u64,
    /// Of those, the entries that won and were committed here.
    pub entries_applied: u64,
    /// The peer's last sequence, as of its last heartbeat or completed round (a serving peer
    /// sends one before its first round, so a catch-up knows where it ends).
    pub peer_last_seq: Option<u64>,
    /// Entries received in the sync round in progress (0 between rounds): with `cursor` and
    /// `peer_last_seq`, how far a catch-up has come.
    pub round_entries: u64,
    /// Anti-entropy rounds with this peer.
    pub repair: RepairStatus,
}

/// The anti-entropy rounds this node ran with one peer (`NodeConfig::anti_entropy_interval`,
/// `Node::verify_peer`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairStatus {
    /// Rounds that completed.
    pub rounds: u64,
    /// Of those, the rounds that found a difference (and repaired it, as far as it could).
    pub differing_rounds: u64,
    /// Rounds that failed (the peer unreachable, refusing, or sending what was not asked).
    pub failed_rounds: u64,
    /// Entries fetched from the peer.
    pub fetched: u64,
    /// Entries fetched from the peer that won and were committed here.
    pub applied: u64,
    /// Entries pushed to the peer.
    pub pushed: u64,
    /// Bytes the last completed round exchanged.
    pub last_round_bytes: u64,
    /// Why the last round failed, until one completes.
    pub last_error: Option<String>,
}

/// A snapshot of the node's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// This node's id.
    pub node_id: NodeId,
    /// The bound listen address.
    pub local_addr: SocketAddr,
    /// Every known peer address.
    pub peers: Vec<PeerStatus>,
    /// Accepted connections whose handshake failed, timed out or was refused.
    pub refused_inbound: u64,
    /// Connections closed on arrival because `max_connections` or `max_handshakes` was reached.
    pub inbound_over_limit: u64,
    /// Dialers whose `Pull` claimed this folder is an old copy without this node's proof: the
    /// claim was ignored (replication went on) and they were served everything.
    pub unproven_rollback_claims: u64,
    /// What the peers think of this node's clock.
    pub clock: ClockStatus,
    /// Multicast discovery's counters, when it is on.
    pub discovery: Option<DiscoveryStatus>,
    /// Why replication stopped for good, if it did: this folder was found to be an old copy of
    /// its node ([`Error::RolledBack`](crate::Error::RolledBack)).
    pub halted: Option<String>,
    /// Replication bytes received on established connections (frames and their headers;
    /// handshakes not counted), all peers together, since the node started.
    pub bytes_in: u64,
    /// Replication bytes sent, counted the same way.
    pub bytes_out: u64,
    /// Anti-entropy connections this node answered.
    pub repairs_served: u64,
    /// Entries peers pushed to this node in their anti-entropy rounds.
    pub repair_entries_received: u64,
    /// Of those, the entries that won and were committed here.
    pub repair_entries_applied: u64,
    /// Members this node knows, itself included (`Node::members` lists them).
    pub members: usize,
    /// The last failure to store member records or sync the log for a summary (retried every
    /// five heartbeat intervals); `None` once it succeeded again.
    pub members_error: Option<String>,
    /// Tasks of this node that panicked or failed, oldest first (at most 64). A failure of an
    /// essential one (the accept loop, discovery) means the node no longer does its whole job:
    /// see [`NodeStatus::healthy`].
    pub failed_tasks: Vec<TaskFailure>,
}

/// Whether this node's peers accept its clock (docs/design.md, "Clocks").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockStatus {
    /// Peers whose wall clock this node heard recently (in their heartbeats).
    pub peers_heard: usize,
    /// How many of them would refuse a timestamp of this node's wall clock now: it is further
    /// ahead of theirs than their `max_clock_drift`.
    pub peers_refusing: usize,
    /// True when a majority of them would: local writes fail with
    /// [`Error::ClockSkew`](crate::Error::ClockSkew) until the clock is fixed.
    pub refused: bool,
}

impl NodeStatus {
    /// False once replication halted or an essential task died: the node looks alive but no
    /// longer serves (or finds) its peers.
    pub fn healthy(&self) -> bool {
        self.halted.is_none() && !self.failed_tasks.iter().any(|f| f.essential)
    }
}

impl PeerStatus {
    /// A peer address just learned from `source`: nothing known yet.
    pub(crate) fn new(address: String, source: PeerSource) -> PeerStatus {
        PeerStatus {
            address,
            source,
            node_id: None,
            connected: false,
            cursor: None,
            entries_behind: None,
            last_error: None,
            refused: 0,
            invalid_entries: 0,
            unapplied_entries: 0,
            last_refusal: None,
            entries_received: 0,
            entries_applied: 0,
            peer_last_seq: None,
            round_entries: 0,
            repair: RepairStatus::default(),
        }
    }
}
