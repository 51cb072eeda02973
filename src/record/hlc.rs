//! The hybrid logical clock that stamps every write.
//!
//! A reading is one `u64`: physical milliseconds since the Unix epoch in the high 48 bits and a
//! logical counter in the low 16 bits. Readings are packed so that comparing two `u64`s compares
//! the clocks.
//!
//! Invariants:
//! - [`Hlc::now`] is strictly greater than every reading it returned before and every reading it
//!   [observed](Hlc::observe), whatever the wall clock does (it may run backwards or stall).
//! - Across restarts the database keeps a *lease* (see `storage::commit`): a value above every
//!   reading handed out, persisted before a reading beyond it is used; the clock restarts from
//!   the lease, so it never runs backwards over a restart either.
//!
//! The clock is plain state with no locking and no time source of its own: callers pass the
//! physical time in, so tests drive it deterministically.

use std::time::{SystemTime, UNIX_EPOCH};

/// Bits of the logical counter.
pub const LOGICAL_BITS: u32 = 16;

/// Packs physical milliseconds and a logical counter into one reading.
pub fn pack(millis: u64, logical: u16) -> u64 {
    (millis << LOGICAL_BITS) | u64::from(logical)
}

/// The physical milliseconds of a reading.
pub fn millis(reading: u64) -> u64 {
    reading >> LOGICAL_BITS
}

/// The wall clock as a reading with logical counter 0.
pub fn wall_clock() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    pack(ms.min((1 << 48) - 1), 0)
}

/// A hybrid logical clock: never runs backwards, observes remote readings.
#[derive(Debug, Clone)]
pub struct Hlc {
    last: u64,
}

impl Hlc {
    /// A clock whose next reading is above `floor` (the persisted lease, or 0).
    pub fn new(floor: u64) -> Self {
        Hlc { last: floor }
    }

    /// The next reading, given the wall clock `physical` (use [`wall_clock`]): the larger of the
    /// wall clock and the last reading + 1.
    pub fn now(&mut self, physical: u64) -> u64 {
        self.last = physical.max(self.last.saturating_add(1));
        self.last
    }

    /// Moves the clock past a reading seen in a remote write, so that every later local reading
    /// is above it.
    pub fn observe(&mut self, remote: u64) {
        self.last = self.last.max(remote);
    }

    /// The last reading handed out or observed.
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_orders() {
        assert!(pack(5, 0) > pack(4, u16::MAX));
        assert_eq!(millis(pack(1234, 77)), 1234);
    }

    #[test]
    fn monotonic_when_wall_clock_stalls_or_goes_back() {
        let mut c = Hlc::new(0);
        let a = c.now(pack(100, 0));
        let b = c.now(pack(100, 0));
        let d = c.now(pack(50, 0));
        assert!(a < b && b < d);
        assert_eq!(millis(d), 100);
    }

    #[test]
    fn follows_wall_clock_when_it_moves_ahead() {
        let mut c = Hlc::new(0);
        c.now(pack(100, 0));
        assert_eq!(c.now(pack(200, 0)), pack(200, 0));
    }

    #[test]
    fn observed_readings_are_exceeded() {
        let mut c = Hlc::new(0);
        c.observe(pack(10_000, 5));
        assert!(c.now(pack(100, 0)) > pack(10_000, 5));
        // Observing an older reading changes nothing.
        let before = c.last();
        c.observe(pack(1, 0));
        assert_eq!(c.last(), before);
    }

    #[test]
    fn restarts_above_the_floor() {
        let mut c = Hlc::new(pack(500, 0));
        assert!(c.now(pack(10, 0)) > pack(500, 0));
    }

    #[test]
    fn wall_clock_is_recent() {
        // After 2020-01-01 in milliseconds.
        assert!(millis(wall_clock()) > 1_577_836_800_000);
    }
}
