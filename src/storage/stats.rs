//! [`DbStats`]: counters of what a [`Db`](crate::Db) committed since it was opened, for
//! metrics (`GET /metrics` of the `meshkv` server) and operators.
//!
//! The counters live beside the database handle (one set shared by every clone) and are
//! bumped after each successful call of `put`, `delete`, `write` and `apply`, with relaxed
//! atomics: they are monotonic and never reset while the database is open, and they start at
//! zero at every open (they are not persisted).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ApplyReport;

/// A snapshot of a database's counters since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Local operations committed: each `put` and `delete`, and each operation of a `write`.
    pub local_writes: u64,
    /// Remote entries committed by `apply` (they won against the local version).
    pub remote_applied: u64,
    /// Remote entries `apply` skipped because they lost to the local version.
    pub remote_stale: u64,
    /// Remote entries `apply` skipped because this node already held the same write.
    pub remote_duplicate: u64,
    /// Remote entries with the local clock but another write: conflicts handed to the
    /// [`Resolver`](crate::Resolver), whichever side won.
    pub conflicts_resolved: u64,
    /// Local writes refused with [`Error::ClockSkew`](crate::Error::ClockSkew): their timestamp
    /// would have been further ahead than a majority of the peers accepts.
    pub clock_skew_refusals: u64,
    /// Times the clock was moved back to the wall clock because it had run ahead of what the
    /// peers accept (see docs/design.md, "Clocks").
    pub clock_regressions: u64,
    /// Values of expired puts removed by the sweeper (they read as absent from their deadline
    /// on; this counts the space reclaimed).
    pub expired_swept: u64,
}

/// The live counters behind [`DbStats`].
#[derive(Default)]
pub(crate) struct Stats {
    local_writes: AtomicU64,
    remote_applied: AtomicU64,
    remote_stale: AtomicU64,
    remote_duplicate: AtomicU64,
    conflicts_resolved: AtomicU64,
}

impl Stats {
    /// Counts `n` committed local operations.
    pub(crate) fn local(&self, n: usize) {
        self.local_writes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts what one `apply` did.
    pub(crate) fn applied(&self, report: &ApplyReport) {
        self.remote_applied
            .fetch_add(report.applied, Ordering::Relaxed);
        self.remote_stale.fetch_add(report.stale, Ordering::Relaxed);
        self.remote_duplicate
            .fetch_add(report.duplicate, Ordering::Relaxed);
        self.conflicts_resolved
            .fetch_add(report.conflicts, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub(crate) fn snapshot(&self) -> DbStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DbStats {
            local_writes: get(&self.local_writes),
            remote_applied: get(&self.remote_applied),
            remote_stale: get(&self.remote_stale),
            remote_duplicate: get(&self.remote_duplicate),
            conflicts_resolved: get(&self.conflicts_resolved),
            clock_skew_refusals: 0,
            clock_regressions: 0,
            expired_swept: 0,
        }
    }
}
