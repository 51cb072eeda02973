//! Replication: nodes pull each other's logs over TCP and converge.
//!
//! - `frame`: `u32` length, `u32` crc32, payload; limits checked before allocating.
//! - `message`: the protocol's messages and their one bincode configuration.
//! - `channel`: a framed message channel, plaintext or inside Noise `XXpsk0`.
//! - `handshake`: Noise with the cluster key, then the hello exchange and its checks.
//! - the network seam, `Transport`, lives in `net`.
//! - `config`: [`NodeConfig`]; `status`: [`NodeStatus`], [`PeerStatus`], [`PeerSource`].
//!
//! The core, without I/O (driven by events and explicit times, tested without sockets):
//! - `pull_session`: the pulling side of a connection (the `Pull`, work for the applier in
//!   order, backpressure, refusals, how it ends) and the rule for invalid entries;
//! - `serve_session`: the serving side (the first `Pull`, rollback evidence, when a round is
//!   due, what it leaves out, refusals);
//! - `liveness`: heartbeats and the dead-peer deadline, shared by both;
//! - `peers`: the registry of peer addresses (admission, expiry, per-peer status events);
//! - `backoff`: reconnect delays; `progress`: a catch-up's rate and time left;
//! - `anti_entropy`: which keys two nodes hold at different versions, from their digests
//!   ([`Comparison`](crate::replica::Comparison)), the comparing side;
//! - `repair_session`: the answering side of an anti-entropy connection (what may be asked);
//! - `members`: the member table, this node's applied frontier, and the decommission check.
//!
//! The driver, which only moves bytes, timers and blocking jobs:
//! - `node`: the [`Node`] handle, its shared state, start, status and shutdown;
//! - `puller`: one task per peer address, driving a pull session and its applier;
//! - `listener`: the accept loop and one task per dialer, driving a serve session;
//! - `repairer`: the anti-entropy rounds, each on a connection of its own, and
//!   [`Node::verify_peer`]; the listener answers them;
//! - `summaries`: the members task (member timeouts, member records to disk, this node's
//!   summary published for the listener after a sync of the write-ahead log);
//! - `round_reader`: a round read from one snapshot; `blocking_jobs`: the seam to RocksDB.
//!
//! Invariants kept here (docs/design.md): 7 one snapshot per round, 8 the cursor moves only after a
//! round's `End` is committed, 10 frames, batches, buffers and connections are bounded.

pub(crate) mod anti_entropy;
mod backoff;
mod blocking_jobs;
pub(crate) mod channel;
mod config;
#[cfg(feature = "internals")]
pub mod frame;
#[cfg(not(feature = "internals"))]
pub(crate) mod frame;
#[cfg(feature = "internals")]
pub mod handshake;
#[cfg(not(feature = "internals"))]
pub(crate) mod handshake;
mod listener;
mod liveness;
mod members;
#[cfg(feature = "internals")]
pub mod message;
#[cfg(not(feature = "internals"))]
pub(crate) mod message;
mod node;
mod peer_clocks;
mod peers;
mod progress;
mod pull_session;
mod puller;
mod repair_session;
mod repairer;
mod round_reader;
mod serve_session;
mod status;
mod summaries;

pub use crate::net::TaskFailure;
#[cfg(feature = "internals")]
pub use backoff::backoff;
pub use config::NodeConfig;
pub use members::{Member, MemberRow, MemberState, MAX_MEMBERS};
pub use node::Node;
pub use repairer::RepairReport;
pub use status::{ClockStatus, NodeStatus, PeerSource, PeerStatus, RepairStatus};
