//! The fault suite's parts: a seeded workload, a history of what clients were told, and a
//! checker that computes from that history what every node must hold after the faults heal.
//!
//! Values are unique per write (`c<client>-<n>`), so a value found on a node names the write
//! that produced it (an expire or a persist rewrites a value some put wrote). Keys also expire:
//! the workload writes puts with a TTL, expires and persists (see [`workload`]), the history
//! keeps each operation's node clock around it, and every node's final record carries its
//! deadline and whether it reads as expired, read when no short deadline is pending on any clock.
//! The checker reports `acknowledged / unknown / failed / no_effect` and the violations `lost /
//! unexpected / divergent_keys / resurrected / expired_visible / expired_early / persist_undone /
//! wrong_deadline`; a run is valid only when every violation is 0, and each suite also asks a
//! floor of acknowledged writes of it (`Report::acked_at_least`), so that a build whose writes
//! fail cannot pass.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod sim;
pub mod workload;

/// The seeds in `tests/regressions/<suite>.seeds` (one per line, `#` comments): seeds that once
/// failed, replayed first on every run.
pub fn regression_seeds(suite: &str) -> Vec<u64> {
    let path = format!(
        "{}/tests/regressions/{suite}.seeds",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().expect("a seed per line"))
        .collect()
}
