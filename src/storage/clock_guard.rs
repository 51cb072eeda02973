//! Local writes never take a timestamp their peers would refuse.
//!
//! The node tells the store, at every heartbeat, the highest wall-clock time a majority of its
//! peers accepts as a timestamp ([`PeerClockLimit`], computed by the replication layer's
//! `PeerClocks`). Before a local commit takes its timestamp, the guard compares what the hybrid
//! clock would hand out with that limit, aged by the monotonic clock since it was set:
//!
//! - at or below it: the write goes ahead;
//! - above it while the wall clock itself is above it too (this node's clock is ahead of its
//!   peers'): the write fails with [`Error::ClockSkew`](crate::Error::ClockSkew), before anything
//!   is staged or the clock moves, so no acknowledged write is ever refused by the peers;
//! - above it while the wall clock is within it (the hybrid clock ran ahead earlier, say while
//!   the node was alone with a fast clock, and the clock has been corrected since): the clock is
//!   *regressed* to the wall clock. Every write made with the old clock is first made durable
//!   (`FlushWAL(sync)`), so each of their keys' next write continues a clock (per-key `clock`) at
//!   least as high and no version can repeat; then the clock lease is lowered to the new clock
//!   with fsync, so a restart does not put the clock ahead again.
//!
//! Without a limit (no peer heard yet, or no node) writes are not guarded: nobody said what they
//! accept. A limit stays good while the peers are silent (it ages by the monotonic clock).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::commit::CommitState;
use super::keys::{cf, meta};
use super::lease::HLC_LEASE_AHEAD;
use super::rocks::Store;
use crate::hlc::{self, Hlc};
use crate::Error;

/// What a majority of the node's peers accepts, as the node last computed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerClockLimit {
    /// The highest timestamp, in wall-clock milliseconds, a majority accepts at `at`.
    pub limit_ms: u64,
    /// When it was computed, by the runtime's monotonic clock.
    pub at: Instant,
    /// How many peers it was computed from.
    pub peers: usize,
}

impl PeerClockLimit {
    /// The limit aged to `now`, in hybrid-clock units. It stays good however old: the peers'
    /// clocks run at the rate of this node's monotonic clock.
    pub(crate) fn at(&self, now: Instant) -> u64 {
        let aged = now.checked_duration_since(self.at).unwrap_or_default();
        let ms = self.limit_ms.saturating_add(aged.as_millis() as u64);
        hlc::pack(ms.min((1 << 48) - 1), u16::MAX)
    }
}

/// The runtime's monotonic clock (simulated in the deterministic simulation).
pub(crate) fn monotonic_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Why the guard refused a write; cloned for every writer of a group.
#[derive(Clone, Debug)]
pub(crate) enum Refusal {
    /// The write would take a timestamp a majority refuses.
    Skew { ahead_by: Duration, peers: usize },
    /// Moving the clock back failed (the write is refused, nothing changed).
    Storage(rocksdb::Error),
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        match r {
            Refusal::Skew { ahead_by, peers } => Error::ClockSkew { ahead_by, peers },
            Refusal::Storage(e) => e.into(),
        }
    }
}

impl Store {
    /// Sets (or clears) the limit local writes are checked against.
    pub(crate) fn set_peer_clock_limit(&self, limit: Option<PeerClockLimit>) {
        *self.peer_clock.lock() = limit;
    }

    /// The limit, if one is set and fresh: (hybrid-clock units now, peers).
    pub(crate) fn peer_clock_limit(&self) -> Option<(u64, usize)> {
        let limit = (*self.peer_clock.lock())?;
        Some((limit.at(monotonic_now()), limit.peers))
    }

    /// The guard of the module docs, under the commit lock, before a local commit takes its
    /// timestamp from `state.hlc` with wall clock `physical`.
    pub(crate) fn guard_clock(
        &self,
        state: &mut CommitState,
        physical: u64,
    ) -> std::result::Result<(), Refusal> {
        let Some((limit, peers)) = self.peer_clock_limit() else {
            return Ok(());
        };
        let next = physical.max(state.hlc.last().saturating_add(1));
        if next <= limit {
            return Ok(());
        }
        if physical > limit {
            self.stats_clock_refused.fetch_add(1, Ordering::Relaxed);
            let ahead_ms = hlc::millis(next).saturating_sub(hlc::millis(limit));
            return Err(Refusal::Skew {
                ahead_by: Duration::from_millis(ahead_ms.max(1)),
                peers,
            });
        }
        self.regress_clock(state, physical)
            .map_err(Refusal::Storage)
    }

    /// Moves the clock back to `physical` (see the module docs for why it is safe).
    fn regress_clock(
        &self,
        state: &mut CommitState,
        physical: u64,
    ) -> std::result::Result<(), rocksdb::Error> {
        let from = state.hlc.last();
        self.db.flush_wal(true)?;
        let lease = physical.saturating_add(HLC_LEASE_AHEAD);
        self.db.put_cf_opt(
            self.cf(cf::META),
            meta::HLC_LEASE,
            lease.to_be_bytes(),
            &self.sync_opts,
        )?;
        self.leases.lower_hlc(lease);
        state.leases.hlc = lease;
        state.hlc = Hlc::new(physical.saturating_sub(1));
        self.stats_clock_regressed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            ahead_ms = hlc::millis(from).saturating_sub(hlc::millis(physical)),
            "the clock was ahead of what the peers accept while the wall clock is not: moved it \
             back to the wall clock (every earlier write synced first)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_ages_with_the_monotonic_clock() {
        let t0 = Instant::now();
        let l = PeerClockLimit {
            limit_ms: 1_000,
            at: t0,
            peers: 2,
        };
        assert_eq!(l.at(t0), hlc::pack(1_000, u16::MAX));
        assert_eq!(
            l.at(t0 + Duration::from_secs(2)),
            hlc::pack(3_000, u16::MAX)
        );
    }
}
