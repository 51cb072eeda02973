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

/// Set by a test that wants anti-entropy on even while a sabotage is active (to show that it
/// repairs what the sabotage broke).
pub static ANTI_ENTROPY_UNDER_SABOTAGE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The suites' `anti_entropy_interval`, `every` (500 ms in real time, 2 s of simulated time in
/// the simulation, where each round's work is the host's CPU time: the rounds still run, repair
/// and are checked a dozen times per pair and run). Off while a negative control is
/// active (unless [`ANTI_ENTROPY_UNDER_SABOTAGE`]): anti-entropy repairs exactly what some of
/// them break in the pull path (a cursor stored before its round is committed loses entries
/// that the next comparison fetches back), which would hide from the checker the bug the
/// control stands for.
pub fn anti_entropy(every: std::time::Duration) -> Option<std::time::Duration> {
    let on = !meshkv::sabotage::any_active()
        || ANTI_ENTROPY_UNDER_SABOTAGE.load(std::sync::atomic::Ordering::SeqCst);
    on.then_some(every)
}

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
