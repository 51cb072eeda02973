//! The one error type of meshkv and its `Result` alias.
//!
//! Every failure a caller can meet is a variant here, with a message that names what went wrong
//! and where. Bad input (from a caller, a disk or, later, the network) always becomes one of these
//! variants; it never panics and never writes anything.

use std::path::PathBuf;

/// The result type of every fallible meshkv call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in meshkv.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option has a value that cannot work; `field` names it.
    #[error("invalid option `{field}`: {reason}")]
    InvalidOptions {
        /// The option's field name, e.g. `max_key_size`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// Keys must hold at least one byte.
    #[error("empty key: keys must hold at least one byte")]
    EmptyKey,

    /// A key longer than `Options::max_key_size`.
    #[error("key of {len} bytes is over the limit of {max} bytes (Options::max_key_size)")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },

    /// A value longer than `Options::max_value_size`.
    #[error("value of {len} bytes is over the limit of {max} bytes (Options::max_value_size)")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },

    /// A deadline past the latest one a key may have (2^48 ms after the Unix epoch, the year
    /// 10889), from a time-to-live too long or a time too far ahead.
    #[error("deadline of {at_ms} ms after the Unix epoch is past the latest, {max_ms} ms")]
    DeadlineTooLate {
        /// The deadline asked for, ms since the Unix epoch (saturated).
        at_ms: u64,
        /// The latest accepted.
        max_ms: u64,
    },

    /// The directory holds something that is not a meshkv database.
    #[error("{path} is not a meshkv database: {reason}")]
    NotMeshkv {
        /// The directory given to `Db::open`.
        path: PathBuf,
        /// What was found there instead.
        reason: String,
    },

    /// The database was written by a newer meshkv with an on-disk format this build cannot read.
    #[error("on-disk format version {found} is newer than the {supported} this build supports")]
    UnsupportedFormat {
        /// The format version stored in the database.
        found: u32,
        /// The newest format version this build reads.
        supported: u32,
    },

    /// `Options::node_id` asks for a node id other than the one stored in the database.
    #[error(
        "node id mismatch: the database belongs to node {stored}, options ask for {requested}"
    )]
    NodeIdMismatch {
        /// The id kept in the database.
        stored: crate::NodeId,
        /// The id given in `Options::node_id`.
        requested: crate::NodeId,
    },

    /// Cluster keys are configured but the node id is not the one derived from the folder's
    /// key (an id set in `Options::node_id` at creation, or a folder made before node keys):
    /// keyed peers would refuse every hello. `meshkv renew-id DIR` (or `Db::renew_node_id`)
    /// gives the folder a key-bound id.
    #[error(
        "node id {node_id} is not bound to this folder's key (node.key), which keyed peers \
         require: run `meshkv renew-id` on the folder (and drop any node_id setting)"
    )]
    UnboundNodeId {
        /// The folder's node id.
        node_id: crate::NodeId,
    },

    /// A local write was refused because its timestamp would be further ahead than a majority
    /// of this node's peers accepts (their wall clocks plus their `max_clock_drift`): this
    /// node's clock is ahead of theirs. Nothing was written. Writes succeed again once the clock
    /// is back in range (fix the clock: NTP); `Node::status` shows the peers refusing it.
    #[error(
        "this node's clock is {ahead_by:?} ahead of what a majority of its {peers} peer(s) \
         accept: the write was refused (fix the clock)"
    )]
    ClockSkew {
        /// How far the write's timestamp would have been past the majority's limit.
        ahead_by: std::time::Duration,
        /// How many peers the limit was computed from.
        peers: usize,
    },

    /// A local write of a key whose logical clock is at the ceiling peers accept (2^62): its
    /// next clock would be refused everywhere, so it is refused here. Honest histories never
    /// get there (see docs/design.md, "Clocks").
    #[error(
        "key {key}: its clock is at the ceiling of 2^62, a write would be refused by every peer"
    )]
    KeyClockExhausted {
        /// The key, printable.
        key: String,
    },

    /// Bytes read from disk do not decode: the database is damaged.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which record, e.g. `meta record "node_id"` or `log entry 42`.
        what: String,
        /// What is wrong with its bytes.
        detail: String,
    },

    /// An entry from a peer carries a version no honest node produces (clock 0 or absurdly
    /// high, a nil origin, a timestamp more than `NodeConfig::max_clock_drift` ahead). Nothing of its
    /// batch is applied.
    #[error("invalid remote entry for key {key}: {reason}")]
    InvalidEntry {
        /// The entry's key, printable.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A peer's hello was refused (another cluster or protocol version, our own node id), by us
    /// or by the peer.
    #[error("peer {peer} refused: {reason}")]
    Refused {
        /// The peer's address.
        peer: String,
        /// Why.
        reason: String,
    },

    /// The connection could not be established: Noise failed (a wrong cluster key, or a
    /// plaintext peer talking to a keyed one), or the peer closed it during the handshake.
    #[error("handshake with {peer} failed: {detail}")]
    Handshake {
        /// The peer's address.
        peer: String,
        /// What failed.
        detail: String,
    },

    /// A peer broke the protocol: an oversized or corrupt frame, an undecodable or misplaced
    /// message, a frame that fails authentication. The connection is closed.
    #[error("protocol error from {peer}: {detail}")]
    Protocol {
        /// The peer's address.
        peer: String,
        /// What was wrong.
        detail: String,
    },

    /// A [`Watch`](crate::Watch) fell more than
    /// [`Options::watch_buffer`](crate::Options::watch_buffer) changes behind. Nothing is lost:
    /// [`Db::watch_from`](crate::Db::watch_from) with `resume_from` continues from the log.
    #[error("the watcher fell behind; resume from sequence {resume_from}")]
    Lagged {
        /// The last sequence this watcher saw: every change up to it was delivered.
        resume_from: u64,
    },

    /// This folder is an old copy of its node: a peer holds sequences from it that this copy
    /// never wrote. Replication stops and refuses to start until
    /// [`Db::renew_node_id`](crate::Db::renew_node_id) gives it a new identity.
    #[error("rolled back: {detail}; give the folder a new node id (Db::renew_node_id)")]
    RolledBack {
        /// How it was found.
        detail: String,
    },

    /// This node was decommissioned from its cluster (a peer refused it as such): replication
    /// refuses to start until [`Db::renew_node_id`](crate::Db::renew_node_id) gives the folder
    /// a new id, which joins as a new node.
    #[error(
        "decommissioned: {detail}; give the folder a new node id (renew-id) to join as a new node"
    )]
    Decommissioned {
        /// How it was told.
        detail: String,
    },

    /// [`Node::decommission`](crate::Node::decommission) refused: the id is no member, is this
    /// node's own, or some member may still lack its writes (`force` skips that check).
    #[error("cannot decommission node {node}: {reason}")]
    NotDecommissioned {
        /// The id asked for.
        node: crate::NodeId,
        /// Why, naming the members that lack its writes.
        reason: String,
    },

    /// Multicast discovery could not set up its sockets (binding the group's port, joining the
    /// group on the interface, setting socket options).
    #[error("multicast discovery on {group}: {what}: {source}")]
    Discovery {
        /// The configured group and port.
        group: String,
        /// Which step failed.
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A failure reported by RocksDB (I/O error, lock held by another process...).
    #[error("storage error: {0}")]
    Storage(crate::storage::StorageError),

    /// An operating-system I/O failure outside RocksDB.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The index says `key` holds a value, but `data` has none.
    pub(crate) fn missing_value(key: &[u8]) -> Self {
        Error::corrupt(
            format!("data of key {}", crate::storage::printable(key)),
            "the index says put but the value is missing",
        )
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }
}
