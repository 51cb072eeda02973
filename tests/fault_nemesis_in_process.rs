//! The fault suite on in-process nodes: three nodes on the fault network take a seeded workload
//! while a nemesis partitions them (halves, one node, one way), delays, throttles, duplicates,
//! reorders and cuts frames, resets connections and restarts nodes; then everything heals, the
//! nodes quiesce, and the checker compares every node with the history.
//!
//! Seeds: `MESHKV_FAULT_SEED=N` replays one; `MESHKV_FAULT_SEEDS=N` runs N (default 3);
//! `MESHKV_SOAK=1` runs 50. Every seed in `tests/regressions/fault_nemesis_in_process.seeds`
//! (one per line, `#` comments) is replayed first on every run.

mod common;

use std::time::{Duration, Instant};

use common::contents;
use common::jepsen::checker::{check, Report};
use common::jepsen::cluster::{settle, Cluster};
use common::jepsen::history::{History, Outcome};
use common::jepsen::net::Fault;
use common::jepsen::workload::{Mode, Op, Workload};
use meshkv::LastWriteWins;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NODES: usize = 3;
const STEPS: usize = 60;

/// One seeded run: returns the checker's report, the faults applied, and the time to converge.
async fn run(seed: u64) -> (Report, u64, Duration) {
    let mut rng = StdRng::seed_from_u64(seed);
    let keyed = rng.random_bool(0.7);
    let mode = match rng.random_range(0..3) {
        0 => Mode::Conflicts { keys: 8 },
        1 => Mode::UniqueKeys,
        _ => Mode::DeleteHeavy { keys: 8 },
    };
    let mut c = Cluster::start(NODES, keyed).await;
    let history = History::default();
    let mut clients: Vec<Workload> = (0..NODES as u32)
        .map(|i| Workload::new(seed, i, mode))
        .collect();
    let mut faults = 0u64;
    for _ in 0..STEPS {
        for (i, client) in clients.iter_mut().enumerate() {
            for _ in 0..rng.random_range(0..4) {
                let op = client.next_op();
                let db = c.db(i);
                let outcome = match &op {
                    Op::Put { key, value } => db.put(key, value),
                    Op::Delete { key } => db.delete(key),
                };
                let outcome = match outcome {
                    Ok(v) => Outcome::Ok(v),
                    Err(_) => Outcome::Fail,
                };
                history.record(i as u32, i, op, outcome);
            }
        }
        if rng.random_ratio(1, 3) {
            faults += 1;
            let a = rng.random_range(0..NODES);
            let b = (a + rng.random_range(1..NODES)) % NODES;
            match rng.random_range(0..10) {
                0 => c.net.heal(),
                1 => {
                    let others: Vec<usize> = (0..NODES).filter(|&j| j != a).collect();
                    c.net.partition(&[a], &others);
                }
                2 => c.net.set(a, b, Fault::Blackhole),
                3 => c.net.set(a, b, Fault::Delay(Duration::from_millis(30))),
                4 => c.net.set(a, b, Fault::Throttle(64 << 10)),
                5 if keyed => c.net.set(a, b, Fault::Duplicate),
                6 if keyed => c.net.set(a, b, Fault::Reorder),
                7 => c.net.set(a, b, Fault::CutMidFrame),
                8 => c.net.reset(a, b),
                9 => {
                    c.stop_node(a).await;
                    c.start_node(a).await;
                }
                _ => c.net.partition(&[a], &[b]),
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..40))).await;
    }
    c.net.heal();
    let took = settle(&c.dbs(), Duration::from_secs(60)).await;
    let finals: Vec<_> = c.dbs().iter().map(|db| contents(db)).collect();
    for db in c.dbs() {
        assert!(db.verify().unwrap().is_clean(), "seed {seed}: verify");
    }
    let report = check(&LastWriteWins, &history.events(), &finals);
    c.shutdown().await;
    (report, faults, took)
}

fn regression_seeds() -> Vec<u64> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/regressions/fault_nemesis_in_process.seeds"
    );
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().expect("a seed per line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nemesis_runs_lose_nothing_and_converge() {
    let mut seeds = regression_seeds();
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
    for &seed in &seeds {
        println!("seed {seed}");
        let (r, f, took) = run(seed).await;
        assert!(
            r.valid(),
            "seed {seed}: {r:?} (add it to tests/regressions/)"
        );
        total.acknowledged += r.acknowledged;
        faults += f;
        times.push(took);
    }
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "cluster (in-process): {} seeds x {STEPS} steps, {NODES} nodes, {faults} faults, acked {}, \
         lost {}, unexpected {}, divergent {}, resurrected {}, convergence after heal p50 {:?} \
         p99 {:?}, {:.1} s",
        seeds.len(),
        total.acknowledged,
        total.lost,
        total.unexpected,
        total.divergent_keys,
        total.resurrected,
        pct(0.5),
        pct(0.99),
        started.elapsed().as_secs_f64()
    );
}
