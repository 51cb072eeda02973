//! What this node knows of its peers' clocks, and which of its own timestamps a majority of them
//! accepts.
//!
//! A peer refuses an entry whose timestamp is more than its `max_clock_drift` ahead of its wall
//! clock. Every heartbeat carries the sender's wall clock, and its hello its drift bound, so a
//! node knows each peer's *limit* (wall clock + drift) at the moment a heartbeat arrived, and
//! ages it with its own monotonic clock (never its wall clock, which is what may be wrong). A
//! local write whose timestamp a majority of the recently heard peers would refuse fails at the
//! source with `Error::ClockSkew` instead of being acknowledged and then refused everywhere.
//!
//! Invariants:
//! - A majority, never one peer: with `n` peers heard within `max_age`, a timestamp is allowed
//!   when at least `ceil(n / 2)` of them accept it, so one hostile or broken peer among two or
//!   more cannot make this node refuse its own writes (with a single peer, that peer is the
//!   whole cluster).
//! - A reading stays good while the peer is silent (a partition, a restart of the peer): both
//!   clocks run at the same rate, so aging it by the monotonic clock keeps it right; only a
//!   newer heartbeat of that peer replaces it. The table is bounded ([`MAX_PEERS`] node ids; the
//!   one heard longest ago makes room) and holds only peers whose hello was accepted.
//! - The estimate of a peer's limit errs low (by the one-way delay of its heartbeat), so a
//!   timestamp allowed here is one the peer accepts.

use std::collections::HashMap;
use std::time::Instant;

use crate::NodeId;

/// One peer's limit when its last heartbeat arrived.
#[derive(Clone, Copy, Debug)]
struct Reading {
    /// The peer's wall clock plus its drift bound, in milliseconds.
    limit_ms: u64,
    /// When the heartbeat arrived.
    at: Instant,
}

/// Most peers whose readings are kept.
pub const MAX_PEERS: usize = 1024;

/// The highest wall-clock time, in milliseconds, that a majority of the heard peers accepts as
/// a timestamp now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Majority {
    /// The limit, in milliseconds since the Unix epoch.
    pub limit_ms: u64,
    /// How many peers it was computed from.
    pub peers: usize,
}

impl Majority {
    /// Whether a majority refuses a timestamp of `ms`.
    pub fn refuses(&self, ms: u64) -> bool {
        ms > self.limit_ms
    }
}

/// The peers' clock readings (see the module docs).
#[derive(Debug, Default)]
pub struct PeerClocks {
    readings: HashMap<NodeId, Reading>,
}

impl PeerClocks {
    /// No reading yet.
    pub fn new() -> Self {
        PeerClocks::default()
    }

    /// Records a heartbeat from `peer`: its wall clock `clock_ms` and drift bound `drift_ms`,
    /// arrived at `at`.
    pub fn heard(&mut self, peer: NodeId, clock_ms: u64, drift_ms: u64, at: Instant) {
        if self.readings.len() >= MAX_PEERS && !self.readings.contains_key(&peer) {
            let oldest = self
                .readings
                .iter()
                .min_by_key(|(_, r)| r.at)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.readings.remove(&oldest);
            }
        }
        self.readings.insert(
            peer,
            Reading {
                limit_ms: clock_ms.saturating_add(drift_ms),
                at,
            },
        );
    }

    /// Forgets `peer`'s reading (a decommissioned member no longer counts).
    pub fn forget(&mut self, peer: NodeId) {
        self.readings.remove(&peer);
    }

    /// Each peer's limit as of `now`.
    fn limits(&self, now: Instant) -> Vec<u64> {
        self.readings
            .values()
            .map(|r| {
                let aged = now.saturating_duration_since(r.at).as_millis();
                r.limit_ms
                    .saturating_add(aged.min(u128::from(u64::MAX)) as u64)
            })
            .collect()
    }

    /// The highest timestamp (ms) a majority of the peers accepts as of `now`; `None` before
    /// any peer was heard.
    pub fn majority(&self, now: Instant) -> Option<Majority> {
        let mut limits = self.limits(now);
        if limits.is_empty() {
            return None;
        }
        limits.sort_unstable_by(|a, b| b.cmp(a));
        let peers = limits.len();
        // Allowed when at least ceil(n/2) peers accept: the ceil(n/2)-th largest limit.
        let limit_ms = limits[peers.div_ceil(2) - 1];
        Some(Majority { limit_ms, peers })
    }

    /// How many of the peers refuse a timestamp of `ms` as of `now`, and how many were heard:
    /// what the status shows.
    pub fn refusing(&self, now: Instant, ms: u64) -> (usize, usize) {
        let limits = self.limits(now);
        (limits.iter().filter(|&&l| ms > l).count(), limits.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIN: u64 = 60_000;
    const DRIFT: u64 = 15 * MIN;
    const T: u64 = 1_700_000_000_000;

    fn id(i: u8) -> NodeId {
        NodeId([i; 16])
    }

    #[test]
    fn no_reading_no_limit_and_a_reading_ages_with_the_monotonic_clock() {
        let t0 = Instant::now();
        let mut c = PeerClocks::new();
        assert_eq!(c.majority(t0), None);
        c.heard(id(1), T, DRIFT, t0);
        // A silent peer's reading stays good, aged.
        let m = c.majority(t0 + Duration::from_secs(3600)).unwrap();
        assert_eq!(m.limit_ms, T + DRIFT + 3_600_000);
        assert_eq!(m.peers, 1);
        // A newer heartbeat replaces it.
        c.heard(id(1), T, DRIFT, t0 + Duration::from_secs(10));
        assert_eq!(
            c.majority(t0 + Duration::from_secs(10)).unwrap().limit_ms,
            T + DRIFT
        );
        // A decommissioned peer's reading goes.
        c.forget(id(1));
        assert_eq!(c.majority(t0), None);
    }

    #[test]
    fn one_peer_out_of_two_or_more_cannot_decide() {
        let t0 = Instant::now();
        let mut c = PeerClocks::new();
        // Two honest peers at T, one liar claiming a clock a day behind.
        c.heard(id(1), T, DRIFT, t0);
        c.heard(id(2), T - 24 * 60 * MIN, DRIFT, t0);
        assert_eq!(
            c.majority(t0).unwrap().limit_ms,
            T + DRIFT,
            "2 peers: the liar alone"
        );
        c.heard(id(3), T, DRIFT, t0);
        assert_eq!(
            c.majority(t0).unwrap().limit_ms,
            T + DRIFT,
            "3 peers: one liar"
        );
        // A node a day ahead of honest peers is refused by all of them.
        let ahead = T + 24 * 60 * MIN;
        assert_eq!(c.refusing(t0, ahead), (3, 3));
        assert!(ahead > c.majority(t0).unwrap().limit_ms);
        // Two liars of three decide: they are the majority.
        c.heard(id(3), T - 24 * 60 * MIN, DRIFT, t0);
        assert_eq!(c.majority(t0).unwrap().limit_ms, T - 24 * 60 * MIN + DRIFT);
    }

    #[test]
    fn the_table_is_bounded_and_absurd_readings_saturate() {
        let t0 = Instant::now();
        let mut c = PeerClocks::new();
        for i in 0..MAX_PEERS as u32 + 10 {
            let mut raw = [0u8; 16];
            raw[..4].copy_from_slice(&i.to_be_bytes());
            c.heard(
                NodeId(raw),
                T,
                DRIFT,
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(c.readings.len(), MAX_PEERS);
        c.heard(id(200), u64::MAX, u64::MAX, t0 + Duration::from_secs(5));
        // The oldest reading made room; the absurd one saturates instead of overflowing, and
        // accepts everything (the others refuse the largest timestamp).
        let (refusing, heard) = c.refusing(t0 + Duration::from_secs(6), u64::MAX);
        assert_eq!((refusing, heard), (MAX_PEERS - 1, MAX_PEERS));
    }
}
