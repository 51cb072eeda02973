//! The fault suite on in-process nodes: three nodes on the fault network take a seeded workload
//! in one of three modes (conflicts, unique keys, delete-heavy; each with puts with a TTL,
//! expires and persists, short TTLs of 50-800 ms and long ones of days) while a nemesis partitions them
//! (halves, one node, one way), blackholes links one way, delays, throttles, duplicates, reorders
//! and cuts frames, resets connections and restarts nodes; then everything heals, the nodes
//! quiesce, every node is read once every short deadline has passed, and the checker compares
//! every node with the history: nothing lost, unexpected, divergent or resurrected, no deadline
//! read wrong (expired visible or early, a persist undone, a wrong deadline), and `verify()`
//! clean, and at least [`MIN_ACKED_SHARE`] of the
//! writes acknowledged (a build whose writes fail cannot pass). Prints each seed and a summary
//! line.
//!
//! Seeds: `MESHKV_FAULT_SEED=N` replays one; `MESHKV_FAULT_SEEDS=N` runs N (default 3);
//! `MESHKV_SOAK=1` runs 50. Every seed in `tests/regressions/fault_nemesis_in_process.seeds`
//! (one per line, `#` comments) is replayed first on every run.

use crate::common;

use std::time::Instant;

use common::jepsen::checker::Report;
use common::jepsen::nemesis::{run, NODES, SETTLE, STEPS};

/// The share of a run's writes that must be acknowledged: a healthy run acknowledges all of them
/// (nothing in this nemesis makes a local write fail).
const MIN_ACKED_SHARE: f64 = 0.9;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nemesis_runs_lose_nothing_and_converge() {
    let mut seeds = common::jepsen::regression_seeds("fault_nemesis_in_process");
    if let Some(seed) = std::env::var("MESHKV_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        seeds = vec![seed];
    } else {
        let count: usize = if std::env::var_os("MESHKV_SOAK").is_some() {
            50
        } else {
            std::env::var("MESHKV_FAULT_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(3)
        };
        seeds.extend((0..count).map(|_| rand::random::<u64>()));
    }
    let started = Instant::now();
    let (mut total, mut faults, mut times) = (Report::default(), 0u64, Vec::new());
    let mut lowest_share = 1.0f64;
    for &seed in &seeds {
        println!("seed {seed}");
        let (r, f, took) = run(seed, None, SETTLE).await;
        assert!(
            r.valid(),
            "seed {seed}: {r:?} (add it to tests/regressions/)"
        );
        assert!(
            r.acked_at_least(MIN_ACKED_SHARE),
            "seed {seed}: {} of {} writes acknowledged, below the floor of {:.0}%",
            r.acknowledged,
            r.attempted(),
            100.0 * MIN_ACKED_SHARE
        );
        lowest_share = lowest_share.min(r.acked_share());
        let took = took.expect("converged (a valid report means no divergence)");
        total.add(&r);
        faults += f;
        times.push(took);
    }
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "cluster (in-process): {} seeds x {STEPS} steps, {NODES} nodes, {faults} faults, acked {} \
         of {} (lowest run {:.0}%, floor {:.0}%), {}; \
         convergence after heal p50 {:?} p99 {:?}, {:.1} s",
        seeds.len(),
        total.acknowledged,
        total.attempted(),
        100.0 * lowest_share,
        100.0 * MIN_ACKED_SHARE,
        total.outcomes(),
        pct(0.5),
        pct(0.99),
        started.elapsed().as_secs_f64()
    );
}
