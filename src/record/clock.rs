//! [`Clock`]: where a database reads physical time for its hybrid logical clock.
//!
//! The system clock in production. A simulation gives each database its own source (simulated
//! time, perhaps skewed per host), so that the same seed stamps the same versions on every run.
//! Whatever the source does (stall, jump, run backwards), the HLC's invariants hold
//! (see [`crate::hlc`]): a source only decides how close readings stay to real time.

use std::fmt;
use std::sync::Arc;

use crate::hlc;

/// A source of physical time in milliseconds since the Unix epoch.
#[derive(Clone, Default)]
pub struct Clock {
    custom: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
}

impl Clock {
    /// The system's wall clock (the default).
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that calls `millis` for milliseconds since the Unix epoch (values above 2^48 are
    /// capped). For simulations and tests.
    pub fn custom(millis: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock {
            custom: Some(Arc::new(millis)),
        }
    }

    /// Whether this is the system clock.
    pub fn is_system(&self) -> bool {
        self.custom.is_none()
    }

    /// The current physical time as an HLC reading with logical counter 0.
    pub fn reading(&self) -> u64 {
        match &self.custom {
            None => hlc::wall_clock(),
            Some(f) => hlc::pack(f().min((1 << 48) - 1), 0),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_system() {
            "Clock::system()"
        } else {
            "Clock::custom(..)"
        })
    }
}

/// Two clocks are equal when both are the system clock or both are the same custom source.
impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        match (&self.custom, &other.custom) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Clock {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_source_is_read_and_capped() {
        let c = Clock::custom(|| 1234);
        assert_eq!(hlc::millis(c.reading()), 1234);
        assert_eq!(
            hlc::millis(Clock::custom(|| u64::MAX).reading()),
            (1 << 48) - 1
        );
        assert!(Clock::system().reading() > hlc::pack(1_600_000_000_000, 0));
        assert_eq!(Clock::system(), Clock::default());
        assert_ne!(c, Clock::custom(|| 1234));
        assert_eq!(c, c.clone());
    }
}
