//! [`LogThrottle`]: logs a refusal once per peer per interval, not once per packet.
//!
//! A hostile or misconfigured peer can make a node refuse thousands of connections or datagrams
//! a second; logging each would turn the log into the attack's amplifier. Every refusal is still
//! counted in status; the log gets the first one per key (a peer's IP address) per interval,
//! then, when the interval has passed, the next one together with how many were suppressed in
//! between.
//!
//! Invariants: a key is logged at most once per `interval`; memory is bounded by `max_keys`
//! entries (when full, entries older than the interval are dropped; if none is, the refusal is
//! suppressed and counted under no key, reported with the next key that logs). Time is an
//! argument, so the decisions are tested with explicit instants.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How often one peer's refusals are logged.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Decides which refusals get a log line.
#[derive(Debug)]
pub(crate) struct LogThrottle<K> {
    interval: Duration,
    max_keys: usize,
    /// Per key: when it last logged, and how many were suppressed since.
    last: HashMap<K, (Instant, u64)>,
    /// Suppressed while the table was full of recent keys.
    overflow: u64,
}

impl<K: Hash + Eq + Clone> LogThrottle<K> {
    /// At most one line per key per `interval`, remembering at most `max_keys` keys.
    pub(crate) fn new(interval: Duration, max_keys: usize) -> Self {
        LogThrottle {
            interval,
            max_keys: max_keys.max(1),
            last: HashMap::new(),
            overflow: 0,
        }
    }

    /// Whether to log a refusal of `key` at `now`: `Some(n)` with the number of refusals
    /// suppressed since this key last logged (plus those suppressed under no key), `None` to
    /// stay silent.
    pub(crate) fn allow(&mut self, key: &K, now: Instant) -> Option<u64> {
        if let Some((at, suppressed)) = self.last.get_mut(key) {
            if now.saturating_duration_since(*at) < self.interval {
                *suppressed += 1;
                return None;
            }
            let n = std::mem::take(suppressed) + std::mem::take(&mut self.overflow);
            *at = now;
            return Some(n);
        }
        if self.last.len() >= self.max_keys {
            let interval = self.interval;
            self.last
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < interval);
            if self.last.len() >= self.max_keys {
                self.overflow += 1;
                return None;
            }
        }
        self.last.insert(key.clone(), (now, 0));
        Some(std::mem::take(&mut self.overflow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_key_per_interval_with_the_suppressed_count() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = LogThrottle::new(10 * s, 8);
        assert_eq!(t.allow(&"a", t0), Some(0));
        for i in 1..100 {
            assert_eq!(t.allow(&"a", t0 + s * i / 100), None);
        }
        assert_eq!(t.allow(&"b", t0 + s), Some(0), "another key logs at once");
        assert_eq!(t.allow(&"a", t0 + 9 * s), None);
        assert_eq!(t.allow(&"a", t0 + 10 * s), Some(100));
        assert_eq!(t.allow(&"a", t0 + 11 * s), None);
        assert_eq!(t.allow(&"a", t0 + 20 * s), Some(1));
    }

    #[test]
    fn memory_is_bounded_and_overflow_is_reported() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = LogThrottle::new(10 * s, 2);
        assert_eq!(t.allow(&1, t0), Some(0));
        assert_eq!(t.allow(&2, t0), Some(0));
        // Full of recent keys: a third is suppressed, not remembered.
        assert_eq!(t.allow(&3, t0 + s), None);
        assert_eq!(t.allow(&4, t0 + s), None);
        assert_eq!(t.last.len(), 2);
        // Once the old entries are stale they make room; the overflow is reported.
        assert_eq!(t.allow(&3, t0 + 10 * s), Some(2));
        assert_eq!(t.allow(&3, t0 + 11 * s), None);
        assert!(t.last.len() <= 2);
    }
}
