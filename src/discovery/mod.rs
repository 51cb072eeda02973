//! UDP multicast peer discovery: opt-in (`NodeConfig::discovery`), authenticated, forgetful.
//!
//! Every node multicasts an announcement each [`MulticastConfig::interval`]: magic,
//! format version, cluster name, node id, the TCP address peers should dial, a timestamp, and,
//! with cluster keys, an HMAC-SHA256 (byte layout in `announcement`). A node that hears a
//! valid announcement of another node dials its address like a configured peer; configured and
//! discovered peers are one set, deduplicated by address, and `NodeStatus` tells how each was
//! found (`PeerSource::Discovered`).
//!
//! - [`config`](MulticastConfig): the settings, their defaults and `validate()`.
//! - `announcement`: the datagram's encoding, decoding and authentication (pure functions).
//! - `membership`: the discovered set, replay and own checks, expiry and
//!   counters, as a state machine driven by explicit times (no sockets, no clocks).
//! - `multicast`: the `socket2` sockets and the tokio task that moves bytes and timers.
//!
//! Invariants:
//! - a datagram is never trusted before it decodes, names our cluster, carries a valid HMAC
//!   under one of our keys (or none when we have none), is not ours, and is fresh (within the
//!   replay window and newer than the sender's last); each drop reason has its own counter, and
//!   no datagram, however bad, stops the listener;
//! - a discovered peer not heard for `expire_after` intervals (and half an interval of grace) is
//!   dropped and its connection closed; it is added again when heard. Configured and added
//!   peers never expire;
//! - the discovered set is bounded (`NodeConfig::max_connections` node ids);
//! - shutdown leaves the group and closes both sockets; the task is one of the node's tasks
//!   and never outlives it.

#[cfg(feature = "internals")]
pub mod announcement;
#[cfg(not(feature = "internals"))]
pub(crate) mod announcement;
mod config;
#[cfg(feature = "internals")]
pub mod membership;
#[cfg(not(feature = "internals"))]
pub(crate) mod membership;
pub(crate) mod multicast;

#[cfg(feature = "internals")]
pub use announcement::{Announcement, Rejection};
pub use config::MulticastConfig;
pub use membership::DiscoveryStatus;
#[cfg(feature = "internals")]
pub use membership::Membership;
