//! Reconnect delays: exponential from `reconnect_min`, capped at `reconnect_max`, with jitter,
//! and reset after a session that lasted (so a peer that was up for long is redialed quickly).

use std::time::Duration;

use rand::Rng;

use super::config::NodeConfig;

/// The delay before reconnect attempt `n`: exponential from `reconnect_min`, capped at
/// `reconnect_max`, with up to 50% random jitter drawn from `rng`.
pub fn backoff(config: &NodeConfig, attempt: u32, rng: &mut impl Rng) -> Duration {
    let base = config
        .reconnect_min
        .saturating_mul(1u32 << attempt.min(20))
        .min(config.reconnect_max);
    let jitter = rng.random_range(0.5..=1.0);
    base.mul_f64(jitter)
}

/// The reconnect attempts of one puller.
#[derive(Debug, Default)]
pub(crate) struct Reconnect {
    attempt: u32,
}

impl Reconnect {
    /// A session that lasted `lasted` ended: how long to wait before dialing again.
    pub(crate) fn after_session(
        &mut self,
        config: &NodeConfig,
        lasted: Duration,
        rng: &mut impl Rng,
    ) -> Duration {
        if lasted > config.reconnect_max {
            self.attempt = 0;
        }
        let delay = backoff(config, self.attempt, rng);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_reset_after_a_long_session() {
        let config = NodeConfig {
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(2),
            ..NodeConfig::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        let mut r = Reconnect::default();
        // (session length, base delay): jitter keeps each within [base / 2, base].
        let steps = [
            (0, 100),
            (0, 200),
            (0, 400),
            (0, 800),
            (0, 1600),
            (0, 2000),
            (0, 2000),
            // Up for longer than the cap: start over.
            (3000, 100),
            (0, 200),
        ];
        for (lasted, base) in steps {
            let d = r.after_session(&config, Duration::from_millis(lasted), &mut rng);
            let base = Duration::from_millis(base);
            assert!(d >= base / 2 && d <= base, "{d:?} outside {base:?}");
        }
        // Huge attempt counts neither overflow nor pass the cap.
        assert!(backoff(&config, u32::MAX, &mut rng) <= config.reconnect_max);
    }
}
