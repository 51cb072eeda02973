//! The fault suite's parts: a seeded workload, a history of what clients were told, and a
//! checker that computes from that history what every node must hold after the faults heal.
//!
//! Values are unique per write (`c<client>-<n>`), so a value found on a node names the write
//! that produced it. The checker reports `acknowledged / lost / unexpected / divergent_keys /
//! resurrected`; a run is valid only when the last four are 0.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod sim;
pub mod workload;
