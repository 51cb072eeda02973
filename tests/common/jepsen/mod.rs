//! The fault suite's parts: a seeded workload, a history of what clients were told, and a
//! checker that computes from that history what every node must hold after the faults heal.
//!
//! Values are unique per write (`c<client>-<n>`), so a value found on a node names the write
//! that produced it. The checker reports `acknowledged / unknown / failed / lost / unexpected /
//! divergent_keys / resurrected`; a run is valid only when the last four are 0, and each suite
//! also asks a floor of acknowledged writes of it (`Report::acked_at_least`), so that a build
//! whose writes fail cannot pass.

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
