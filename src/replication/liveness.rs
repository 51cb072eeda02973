//! [`Liveness`]: when a connection sends its next heartbeat and when it gives up on a silent
//! peer. Both sessions ([`PullSession`](super::pull_session::PullSession),
//! [`ServeSession`](super::serve_session::ServeSession)) embed one; it is driven with explicit
//! times, so its decisions are tested without sockets or clocks.
//!
//! Rules:
//! - a heartbeat is due at the start and then one interval after the last one sent;
//! - the peer is presumed dead three intervals after the last message received from it (a peer
//!   that goes silent without closing its socket is noticed);
//! - while this side deliberately does not read (backpressure on the pulling side, a round being
//!   sent on the serving side) the peer's messages wait unread, so when reading resumes the
//!   silence counts from at most one interval before then, never from before the pause.

use std::time::{Duration, Instant};

use crate::Error;

/// How many heartbeat intervals of silence make a peer presumed dead.
pub(crate) const DEAD_AFTER_BEATS: u32 = 3;

/// The silence after which a connection is presumed dead, for a heartbeat `interval`.
pub(crate) fn dead_after(interval: Duration) -> Duration {
    interval * DEAD_AFTER_BEATS
}

/// Heartbeat schedule and dead-peer deadline of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Liveness {
    interval: Duration,
    last_recv: Instant,
    next_beat: Instant,
}

impl Liveness {
    /// A connection that just opened at `now`: a heartbeat is due at once.
    pub(crate) fn new(interval: Duration, now: Instant) -> Liveness {
        Liveness {
            interval,
            last_recv: now,
            next_beat: now,
        }
    }

    /// The heartbeat interval.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// The silence after which the peer is presumed dead.
    pub(crate) fn dead_after(&self) -> Duration {
        dead_after(self.interval)
    }

    /// A message arrived at `now`.
    pub(crate) fn received(&mut self, now: Instant) {
        self.last_recv = now;
    }

    /// Reading resumes at `now` after a pause: what the peer sent meanwhile waited unread.
    pub(crate) fn resumed(&mut self, now: Instant) {
        let floor = now.checked_sub(self.interval).unwrap_or(now);
        self.last_recv = self.last_recv.max(floor);
    }

    /// When the next heartbeat is due.
    pub(crate) fn beat_due(&self) -> Instant {
        self.next_beat
    }

    /// A heartbeat was sent at `now`.
    pub(crate) fn beat_sent(&mut self, now: Instant) {
        self.next_beat = now + self.interval;
    }

    /// When the peer is presumed dead if nothing arrives before.
    pub(crate) fn deadline(&self) -> Instant {
        self.last_recv + self.dead_after()
    }

    /// The error of a connection whose peer stayed silent past the deadline.
    pub(crate) fn silent(&self, peer: &str) -> Error {
        Error::Protocol {
            peer: peer.to_string(),
            detail: format!(
                "silent for {:?}: connection presumed dead",
                self.dead_after()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(1);

    #[test]
    fn a_beat_at_once_then_every_interval() {
        let t0 = Instant::now();
        let mut l = Liveness::new(BEAT, t0);
        assert_eq!(l.beat_due(), t0);
        l.beat_sent(t0 + Duration::from_millis(10));
        assert_eq!(l.beat_due(), t0 + Duration::from_millis(1010));
    }

    #[test]
    fn the_deadline_moves_only_when_a_message_arrives() {
        let t0 = Instant::now();
        let mut l = Liveness::new(BEAT, t0);
        assert_eq!(l.deadline(), t0 + 3 * BEAT);
        // Sending heartbeats does not keep a silent peer alive.
        l.beat_sent(t0 + 2 * BEAT);
        assert_eq!(l.deadline(), t0 + 3 * BEAT);
        l.received(t0 + 2 * BEAT);
        assert_eq!(l.deadline(), t0 + 5 * BEAT);
    }

    #[test]
    fn after_a_pause_silence_counts_from_one_interval_before_resuming() {
        let t0 = Instant::now();
        // (last message, reading resumes, deadline after resuming)
        let cases = [
            // A long pause: the peer gets two intervals more, not zero.
            (0, 10, 12),
            // A short pause: the last message is more recent than the floor; nothing changes.
            (9, 9, 12),
            (5, 5, 8),
        ];
        for (last, resume, deadline) in cases {
            let mut l = Liveness::new(BEAT, t0);
            l.received(t0 + last * BEAT);
            l.resumed(t0 + resume * BEAT);
            assert_eq!(l.deadline(), t0 + deadline * BEAT, "{last} {resume}");
        }
    }
}
