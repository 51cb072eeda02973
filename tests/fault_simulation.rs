//! The fault suite in deterministic simulation (turmoil): five real nodes over simulated TCP,
//! each on its own real RocksDB (in 30% of the runs they find each other by multicast discovery
//! over simulated UDP), take a seeded workload while a seeded nemesis partitions them (one node,
//! halves, one way), holds links, adds latency spikes, injects link failure bursts, crashes and
//! restarts hosts and jumps their clocks (by seconds, and in 30% of the runs without discovery one
//! node's by 1 to 30 hours for 2 to 5 s: its peers refuse its clock, its writes must fail with
//! `ClockSkew`, and every other write must still reach everyone); the workload has keys that
//! expire (TTLs of 0.2-5 s or days, expires, persists; the harness runs a sweeper step now and
//! then). Then everything heals, the nodes quiesce, the simulation steps on until every short
//! deadline has passed on every skewed clock, and the checker compares every node with the
//! history: nothing lost, unexpected, divergent or resurrected, no deadline read wrong, and
//! `verify()` clean, and at least [`MIN_ACKED`] of its operations answered, by an acknowledgement
//! or a correct refusal or no-op (a build whose writes fail cannot pass). A sample of 15 seeds runs twice and must produce the same trace
//! hash (same seed, same run). Prints the seeds and a summary line.
//!
//! Seeds: `MESHKV_SIM_SEED=N` replays one; `MESHKV_SIM_SEEDS=N` runs N (default 200, as in
//! `make test`) from a random base printed at the start; `MESHKV_SOAK=1` runs 3,000. Every seed in
//! `tests/regressions/fault_simulation.seeds` (one per line, `#` comments) runs first.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::jepsen::checker::Report;
use common::jepsen::sim::{describe, run, SimRun, NODES, OPS};

/// Acknowledged writes each run must reach: 90% of its [`OPS`] operations (see [`passed`] for
/// the answers that count with them). A healthy run acknowledges all of them but its expires and
/// persists of keys without a live value (an operation finds a live host unless all five are
/// down at once).
const MIN_ACKED: u64 = OPS as u64 * 9 / 10;

/// True when a run lost nothing, converged and acknowledged enough writes. Writes refused with
/// `ClockSkew` (the node whose clock ran hours ahead) are correct refusals, and expires or
/// persists of a key without a live value correctly write nothing: both count towards the floor
/// as answered, never as acknowledged.
fn passed(r: &SimRun) -> bool {
    r.report.valid()
        && r.converged_after.is_some()
        && r.report.acknowledged + r.clock_refused + r.report.no_effect >= MIN_ACKED
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// Runs `seeds` on two threads (one simulation per thread at a time).
fn run_all(seeds: &[u64]) -> Vec<SimRun> {
    let next = AtomicUsize::new(0);
    let runs = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { return };
                let r = run(seed, None);
                if !passed(&r) {
                    println!("FAILED {}", describe(&r));
                }
                runs.lock().unwrap().push(r);
            });
        }
    });
    let mut runs = runs.into_inner().unwrap();
    runs.sort_by_key(|r| seeds.iter().position(|&s| s == r.seed));
    runs
}

#[test]
fn simulated_faults_lose_nothing_converge_and_replay_exactly() {
    let mut seeds = common::jepsen::regression_seeds("fault_simulation");
    if let Some(seed) = env_u64("MESHKV_SIM_SEED") {
        seeds = vec![seed];
    } else {
        let count = if std::env::var_os("MESHKV_SOAK").is_some() {
            3000
        } else {
            env_u64("MESHKV_SIM_SEEDS").unwrap_or(200)
        };
        let base: u64 = rand::random::<u64>() >> 16;
        println!(
            "sim: seeds {base} .. {} (MESHKV_SIM_SEED=N replays one)",
            base + count
        );
        seeds.extend(base..base + count);
    }
    let started = Instant::now();
    let runs = run_all(&seeds);
    // Same seed, same run: a sample of seeds (up to 15) again, compared by trace hash.
    let every = (seeds.len() / 15).max(1);
    let sample: Vec<u64> = seeds.iter().copied().step_by(every).take(15).collect();
    let replays = run_all(&sample);
    let mut same = 0;
    for r in &replays {
        let first = runs.iter().find(|f| f.seed == r.seed).expect("ran once");
        if first.trace == r.trace {
            same += 1;
        } else {
            println!(
                "NOT DETERMINISTIC: {}\n   then: {}",
                describe(first),
                describe(r)
            );
            if let Some(dir) = std::env::var_os("MESHKV_SIM_DUMP") {
                let dir = std::path::PathBuf::from(dir);
                std::fs::write(
                    dir.join(format!("{}-a.txt", r.seed)),
                    first.lines.join("\n"),
                )
                .unwrap();
                std::fs::write(dir.join(format!("{}-b.txt", r.seed)), r.lines.join("\n")).unwrap();
            }
            if let Some((a, b)) = first.lines.iter().zip(&r.lines).find(|(a, b)| a != b) {
                println!("   first difference:\n   {a}\n   {b}");
            }
        }
    }
    let mut total = Report::default();
    let mut faults = 0;
    let mut times: Vec<Duration> = Vec::new();
    let fewest_acked = runs.iter().map(|r| r.report.acknowledged).min();
    for r in &runs {
        total.add(&r.report);
        faults += r.faults;
        times.extend(r.converged_after);
    }
    times.sort();
    let pct = |p: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "sim: {} seeds x {OPS} ops, {NODES} nodes ({} by multicast discovery), {faults} faults, acked {} \
         of {} (fewest in a run {}, floor {MIN_ACKED}), {}; \
         convergence after heal p50 {:.1} s p99 {:.1} s (sim time), determinism {same}/{}, {:.0} s",
        runs.len(),
        runs.iter().filter(|r| r.discovered).count(),
        total.acknowledged,
        total.attempted(),
        fewest_acked.unwrap_or(0),
        total.outcomes(),
        pct(0.5).as_secs_f64(),
        pct(0.99).as_secs_f64(),
        replays.len(),
        started.elapsed().as_secs_f64()
    );
    let skewed: Vec<&SimRun> = runs.iter().filter(|r| r.hours_ahead.is_some()).collect();
    let clock_refused: u64 = skewed.iter().map(|r| r.clock_refused).sum();
    println!(
        "sim: {} runs with one node's clock 1-30 h ahead for 2-5 s of the write phase: {} of its \
         writes refused with ClockSkew, none acknowledged and lost (the checker's counts above)",
        skewed.len(),
        clock_refused
    );
    // Runs of 20 seeds and more have hours-ahead clocks; their node must have been refused. And
    // the expiry check means something: some keys ended expired, some live with a deadline still
    // ahead, some persisted.
    if runs.len() >= 20 {
        assert!(
            total.expired_keys > 0 && total.deadline_keys > 0 && total.persisted_keys > 0,
            "no key expired, kept a deadline or was persisted: {total:?}"
        );
        assert!(!skewed.is_empty(), "no run had a clock hours ahead");
        assert!(
            clock_refused > 0,
            "no write of a clock hours ahead was refused"
        );
    }
    let failed: Vec<String> = runs.iter().filter(|r| !passed(r)).map(describe).collect();
    assert!(
        failed.is_empty(),
        "failing seeds (add them to tests/regressions/fault_simulation.seeds):\n{}",
        failed.join("\n")
    );
    assert_eq!(
        same,
        replays.len(),
        "every replayed seed gives the same trace"
    );
}
