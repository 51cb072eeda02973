//! Replication: nodes pull each other's logs over TCP and converge.
//!
//! - [`frame`]: `u32` length, `u32` crc32, payload; limits checked before allocating.
//! - [`message`]: the protocol's messages and their one bincode configuration.
//! - `channel`: a framed message channel, plaintext or inside Noise `NNpsk0`.
//! - [`handshake`]: Noise with the cluster key, then the hello exchange and its checks.
//! - the network seam, [`Transport`](crate::net::Transport), lives in [`net`](crate::net).
//! - `config`, `node`: [`NodeConfig`] and the [`Node`]'s tasks.
//!
//! Invariants kept here (docs/design.md): 7 one snapshot per round, 8 the cursor moves only after a
//! round's `End` is committed, 10 frames, batches, buffers and connections are bounded.

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
#[cfg(feature = "internals")]
pub mod message;
#[cfg(not(feature = "internals"))]
pub(crate) mod message;
mod node;

pub use crate::net::TaskFailure;
pub use config::NodeConfig;
#[cfg(feature = "internals")]
pub use node::backoff;
pub use node::{Node, NodeStatus, PeerSource, PeerStatus};
