//! A catch-up's progress: [`Progress`] (rate, expected entries, time left) and the per-round
//! counters behind the "catching up" log lines.

use std::time::{Duration, Instant};

use crate::Entry;

/// How often a long sync round logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A catch-up's progress: its rate so far, the entries the round should bring (from the peer's
/// high sequence, as of its last heartbeat, minus our cursor), and the time left at this rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Progress {
    pub(crate) rate: f64,
    pub(crate) expected: Option<u64>,
    pub(crate) eta: Option<Duration>,
}

impl Progress {
    /// `entries` received in `elapsed`, pulling above `cursor` from a peer at `peer_last_seq`.
    pub(crate) fn of(
        entries: u64,
        elapsed: Duration,
        cursor: Option<u64>,
        peer_last_seq: Option<u64>,
    ) -> Progress {
        let rate = entries as f64 / elapsed.as_secs_f64().max(0.001);
        let expected = peer_last_seq.map(|last| last.saturating_sub(cursor.unwrap_or(0)));
        let eta = match expected {
            Some(total) if rate > 0.0 => Some(Duration::from_secs_f64(
                total.saturating_sub(entries) as f64 / rate,
            )),
            _ => None,
        };
        Progress {
            rate,
            expected,
            eta,
        }
    }
}

/// Counts a round's entries and bytes, for the catch-up log lines.
pub(crate) struct RoundStats {
    started: Instant,
    last_progress: Instant,
    entries: u64,
    bytes: u64,
}

impl RoundStats {
    /// A round that starts now.
    pub(crate) fn new() -> Self {
        RoundStats {
            started: Instant::now(),
            last_progress: Instant::now(),
            entries: 0,
            bytes: 0,
        }
    }

    /// Every [`PROGRESS_EVERY`] of a round: logs entries and bytes so far, the rate, and an
    /// estimate of the time left. The estimate takes the peer's last sequence minus the cursor
    /// as the round's size: an upper bound, since the peer's log holds one entry per key and
    /// skips the sequences of superseded writes.
    pub(crate) fn progress(&mut self, peer: &str, cursor: Option<u64>, peer_last_seq: Option<u64>) {
        if self.last_progress.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_progress = Instant::now();
        let p = Progress::of(self.entries, self.started.elapsed(), cursor, peer_last_seq);
        let eta = p.eta.map_or_else(
            || "unknown".to_string(),
            |d| format!("{:.0}s", d.as_secs_f64()),
        );
        tracing::info!(
            peer,
            entries = self.entries,
            bytes = self.bytes,
            entries_per_sec = p.rate.round() as u64,
            expected_entries = ?p.expected,
            eta = %eta,
            "catching up"
        );
    }

    /// Entries received in this round so far.
    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    /// Counts a batch received.
    pub(crate) fn add(&mut self, entries: &[(u64, Entry)]) {
        self.entries += entries.len() as u64;
        self.bytes += entries
            .iter()
            .map(|(_, e)| (e.key.len() + e.value.as_ref().map_or(0, Vec::len)) as u64)
            .sum::<u64>();
    }

    /// Logs the end of the round and starts the next.
    pub(crate) fn finish(&mut self, peer: &str, high_seq: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        if self.entries >= 1000 {
            tracing::info!(
                peer,
                entries = self.entries,
                bytes = self.bytes,
                seconds = secs,
                high_seq,
                "catch-up round done"
            );
        } else {
            tracing::debug!(peer, entries = self.entries, high_seq, "sync round done");
        }
        *self = RoundStats::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rate_expected_and_time_left() {
        // 50,000 entries in 5 s from cursor 100 toward a peer at 200,100: 150,000 to go.
        let p = Progress::of(50_000, Duration::from_secs(5), Some(100), Some(200_100));
        assert_eq!(p.rate, 10_000.0);
        assert_eq!(p.expected, Some(200_000));
        assert_eq!(p.eta, Some(Duration::from_secs(15)));
        // Unknown peer position: no estimate; nothing received yet: no estimate either.
        assert_eq!(
            Progress::of(10, Duration::from_secs(1), None, None).eta,
            None
        );
        assert_eq!(
            Progress::of(0, Duration::from_secs(1), None, Some(9)).eta,
            None
        );
        // Past the expected count (the peer wrote meanwhile): zero left, never negative.
        let over = Progress::of(300, Duration::from_secs(1), Some(0), Some(200));
        assert_eq!(over.eta, Some(Duration::ZERO));
    }
}
