//! The network layer's shared parts: the [`Transport`] seam every socket goes through, the
//! operating system's sockets behind it, rate-limited refusal logs, the stop signal, and the
//! task set that records failures. Replication, discovery and the server build on it; it
//! imports none of them (no module cycle).
//!
//! - [`transport`](Transport): the trait, [`Tcp`] (TCP and UDP through tokio) and
//!   [`MulticastGroup`].
//! - `multicast_socket`: the `socket2` multicast sockets [`Tcp`] opens for discovery.
//! - `log_throttle`: logs a refusal once per peer per interval.
//! - [`shutdown`](Shutdown): one stop signal fanned out to tasks, and [`stopped`].
//! - `task_set`: the tasks of an owner, drained on shutdown, their panics and errors recorded
//!   as [`TaskFailure`]s.

pub(crate) mod log_throttle;
mod multicast_socket;
mod shutdown;
pub(crate) mod task_set;
pub mod transport;

pub(crate) use log_throttle::{LogThrottle, REFUSAL_LOG_INTERVAL};
pub use shutdown::{stopped, Shutdown};
pub use task_set::TaskFailure;
pub(crate) use task_set::TaskSet;
pub use transport::{MulticastGroup, Tcp, Transport};
