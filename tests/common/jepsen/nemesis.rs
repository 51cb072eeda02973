//! One seeded nemesis run on in-process nodes: a workload (with keys that expire) on every node
//! while faults come and go, then heal, quiesce, read every node once no short deadline is
//! pending, check. Shared by the fault suite and its negative controls.

use std::time::Duration;

use meshkv::LastWriteWins;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::checker::{check, Report};
use super::cluster::{read_finals, try_settle, Cluster};
use super::history::History;
use super::net::Fault;
use super::workload::{Mode, Workload};

pub const NODES: usize = 3;
pub const STEPS: usize = 60;
/// How long nodes get to converge after the heal.
pub const SETTLE: Duration = Duration::from_secs(60);

/// One seeded run (the workload's mode drawn from the seed unless given): returns the checker's
/// report, the faults applied, and the time to converge after the heal (`None`: not within
/// `settle`; the report then counts the divergence).
pub async fn run(
    seed: u64,
    mode: Option<Mode>,
    settle: Duration,
) -> (Report, u64, Option<Duration>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let keyed = rng.random_bool(0.7);
    let drawn = match rng.random_range(0..3) {
        0 => Mode::Conflicts { keys: 8 },
        1 => Mode::UniqueKeys,
        _ => Mode::DeleteHeavy { keys: 8 },
    };
    let mode = mode.unwrap_or(drawn);
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
                let (outcome, clock) = op.apply(c.db(i));
                history.record(i as u32, i, op, outcome, clock);
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
    let took = try_settle(&c.dbs(), settle).await;
    let finals = read_finals(&c.dbs()).await;
    for db in c.dbs() {
        assert!(db.verify().unwrap().is_clean(), "seed {seed}: verify");
    }
    let report = check(&LastWriteWins, &history.events(), &finals);
    c.shutdown().await;
    (report, faults, took)
}
