//! Replication: nodes pull each other's logs over TCP and converge.
//!
//! - [`frame`]: `u32` length, `u32` crc32, payload; limits checked before allocating.
//! - [`message`]: the protocol's messages and their one bincode configuration.
//! - `channel`: a framed message channel, plaintext or inside Noise `NNpsk0`.
//! - [`handshake`]: Noise with the cluster key, then the hello exchange and its checks.
//! - [`transport`]: the network seam (TCP in production).
//! - `config`, `node`: [`NodeConfig`] and the [`Node`]'s tasks.
//!
//! Invariants kept here (docs/design.md): 7 one snapshot per round, 8 the cursor moves only after a
//! round's `End` is committed, 10 frames, batches, buffers and connections are bounded.

pub(crate) mod channel;
mod config;
pub mod frame;
pub mod handshake;
pub mod message;
mod node;
pub mod transport;

pub use config::NodeConfig;
pub use node::{backoff, Node, NodeStatus, PeerSource, PeerStatus};
