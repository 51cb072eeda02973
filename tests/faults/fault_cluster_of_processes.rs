//! The fault suite on real processes: three `meshkv serve` processes (keyed) dial each other only
//! through per-link fault proxies, while one HTTP client per node writes a seeded workload (puts
//! and deletes, puts with a TTL, expires and persists: `PUT ?ttl=`, `POST ?ttl=`, `POST
//! ?persist`, TTLs of 1-3 s or days) and a
//! controller applies a fault every 0.5-1.5 s — blackholed links (both ways or one way), delay,
//! throttle, duplicated, reordered and cut frames, resets, SIGKILL and restart, SIGSTOP and
//! SIGCONT. Then everything heals, the nodes quiesce, stop (SIGTERM, exit 0), and the checker reads
//! every folder once every short deadline has passed: nothing acknowledged lost, nothing
//! unexpected, divergent or resurrected, no deadline read wrong (the checker's report valid),
//! `verify()` clean on every folder after the crashes, and at least
//! [`MIN_ACKED_SHARE`] of the requests acknowledged (a build whose writes fail cannot pass).
//! Prints its seed, the faults applied and a summary line.
//!
//! `MESHKV_FAULT_SEED=N` replays a seed's workload and fault schedule (real processes keep real
//! timing, so a replay is close, not exact); `MESHKV_CLUSTER_SECS=N` sets the fault phase
//! (default 20 s; `MESHKV_SOAK=1`: 300 s). Every seed in
//! `tests/regressions/fault_cluster_of_processes.seeds` (one per line, `#` comments) runs first.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::jepsen::checker::{check, Report};
use common::jepsen::cluster::read_finals;
use common::jepsen::history::{History, Outcome};
use common::jepsen::net::{Fault, Net};
use common::jepsen::workload::{Mode, Op, Ttls, Workload};
use common::process::{loopback_config, write_file, ServerProcess};
use meshkv::server::Client;
use meshkv::{Db, LastWriteWins, NodeId, Options, Version};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

const NODES: usize = 3;
/// The share of requests that must be acknowledged. Requests to a killed or stopped process go
/// unanswered (a healthy run still acknowledges more than 99%: clients back off after one).
const MIN_ACKED_SHARE: f64 = 0.8;

/// A link proxy's address and the sender that points it at its node.
type Link = (SocketAddr, watch::Sender<Option<SocketAddr>>);
type Links = Vec<Vec<Option<Link>>>;

/// The targets of every link into node `j`.
fn into(links: &Links, j: usize) -> Vec<watch::Sender<Option<SocketAddr>>> {
    (0..NODES)
        .filter(|&i| i != j)
        .filter_map(|i| links[i][j].as_ref().map(|l| l.1.clone()))
        .collect()
}

struct Member {
    dir: PathBuf,
    config: PathBuf,
    process: Option<ServerProcess>,
    /// The HTTP address clients use (changes when the process restarts).
    http: Arc<Mutex<Option<String>>>,
    stopped: bool,
}

fn version_of(json: &serde_json::Value) -> Option<Version> {
    Some(Version {
        clock: json.get("clock")?.as_u64()?,
        timestamp: json.get("timestamp")?.as_u64()?,
        origin: json.get("origin")?.as_str()?.parse::<NodeId>().ok()?,
    })
}

/// The system clock in ms since the Unix epoch (the processes' `Options::clock`).
fn now_ms() -> u64 {
    meshkv::record::entry::deadline_ms(std::time::SystemTime::now())
}

fn signal(process: &ServerProcess, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts member `i` and points the proxies of every link into it at its replication address.
fn start(m: &mut Member, into: &[watch::Sender<Option<SocketAddr>>]) {
    let p = ServerProcess::start(&m.config);
    let addr: SocketAddr = p.replication.parse().unwrap();
    for target in into {
        target.send_replace(Some(addr));
    }
    *m.http.lock().unwrap() = Some(p.http.clone());
    m.process = Some(p);
}

/// One client: writes its workload to its node until `stop`; every outcome into `history`.
async fn client(
    i: usize,
    seed: u64,
    http: Arc<Mutex<Option<String>>>,
    history: History,
    stop: Arc<AtomicBool>,
) {
    let mut w = Workload::new(seed, i as u32, Mode::Conflicts { keys: 16 }).with_ttls(Ttls::HTTP);
    while !stop.load(Ordering::Relaxed) {
        let Some(addr) = http.lock().unwrap().clone() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let op = w.next_op();
        let client = Client::new(&addr).unwrap();
        let secs = |ttl: &Duration| ttl.as_secs();
        let call = async {
            match &op {
                Op::Put { key, value } => client.put(key, value).await.map(Some),
                Op::PutTtl { key, value, ttl } => {
                    client.put_with_ttl(key, value, secs(ttl)).await.map(Some)
                }
                Op::Delete { key } => client.delete(key).await.map(Some),
                Op::Expire { key, ttl } => client.expire(key, secs(ttl)).await,
                Op::Persist { key } => client.persist(key).await,
            }
        };
        // The processes read the system clock, as this one: a deadline a write set is its TTL
        // after a reading between these two.
        let before = now_ms();
        let outcome = match tokio::time::timeout(Duration::from_secs(1), call).await {
            Ok(Ok(Some(json))) => match version_of(&json) {
                Some(v) => Outcome::Ok(v),
                None => Outcome::Unknown,
            },
            // An expire or persist of a key without a live value: 404, nothing written.
            Ok(Ok(None)) => Outcome::NoEffect,
            // Refused, timed out, the process gone: it may or may not have happened.
            _ => Outcome::Unknown,
        };
        let failed = outcome == Outcome::Unknown;
        history.record(i as u32, i, op, outcome, (before, now_ms()));
        tokio::time::sleep(Duration::from_millis(if failed { 100 } else { 10 })).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_under_faults_lose_nothing_and_converge() {
    let secs: u64 = if std::env::var_os("MESHKV_SOAK").is_some() {
        300
    } else {
        std::env::var("MESHKV_CLUSTER_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20)
    };
    let seeds = match std::env::var("MESHKV_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => {
            let mut seeds = common::jepsen::regression_seeds("fault_cluster_of_processes");
            seeds.push(rand::random());
            seeds
        }
    };
    for seed in seeds {
        run_cluster(seed, secs).await;
    }
}

/// One seeded run: faults for `secs`, then heal, quiesce, stop, check.
async fn run_cluster(seed: u64, secs: u64) {
    println!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().unwrap();
    let key = write_file(
        root.path(),
        "cluster.key",
        &format!("{}\n", "3c".repeat(32)),
    );
    let net = Net::default();
    // links[i][j]: the proxy node i dials to reach node j (`None` on the diagonal).
    let mut links: Links = Vec::new();
    for i in 0..NODES {
        let mut row = Vec::new();
        for j in 0..NODES {
            row.push(if i == j {
                None
            } else {
                Some(net.proxy_link(i, j).await)
            });
        }
        links.push(row);
    }
    let mut members: Vec<Member> = (0..NODES)
        .map(|i| {
            let dir = root.path().join(format!("node{i}"));
            let peers: Vec<String> = (0..NODES)
                .filter(|&j| j != i)
                .map(|j| format!("{:?}", links[i][j].as_ref().unwrap().0.to_string()))
                .collect();
            // Learned addresses go nowhere: every byte between nodes crosses a link proxy.
            let extra = format!(
                "cluster_key_file = {:?}\npeers = [{}]\nadvertise = \"127.0.0.1:1\"\n",
                key.display().to_string(),
                peers.join(", ")
            );
            let config = write_file(
                root.path(),
                &format!("node{i}.toml"),
                &loopback_config(&dir, &extra),
            );
            Member {
                dir,
                config,
                process: None,
                http: Arc::new(Mutex::new(None)),
                stopped: false,
            }
        })
        .collect();
    for (j, m) in members.iter_mut().enumerate() {
        start(m, &into(&links, j));
    }

    let history = History::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            tokio::spawn(client(
                i,
                seed,
                Arc::clone(&m.http),
                history.clone(),
                Arc::clone(&stop),
            ))
        })
        .collect();

    let started = Instant::now();
    let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..1500))).await;
        let a = rng.random_range(0..NODES);
        let b = (a + rng.random_range(1..NODES)) % NODES;
        let name = match rng.random_range(0..12) {
            0 | 1 => {
                net.heal();
                for (j, m) in members.iter_mut().enumerate() {
                    if let Some(p) = &m.process {
                        if m.stopped {
                            signal(p, "-CONT");
                            m.stopped = false;
                        }
                    } else {
                        start(m, &into(&links, j));
                    }
                }
                "heal"
            }
            2 => {
                net.partition(&[a], &[b]);
                "partition"
            }
            3 => {
                net.set(a, b, Fault::Blackhole);
                "one-way"
            }
            4 => {
                net.set(a, b, Fault::Delay(Duration::from_millis(50)));
                "delay"
            }
            5 => {
                net.set(a, b, Fault::Throttle(32 << 10));
                "throttle"
            }
            6 => {
                net.set(a, b, Fault::Duplicate);
                "duplicate"
            }
            7 => {
                net.set(a, b, Fault::Reorder);
                "reorder"
            }
            8 => {
                net.set(a, b, Fault::CutMidFrame);
                "cut"
            }
            9 => {
                net.reset(a, b);
                "reset"
            }
            10 => {
                let m = &mut members[a];
                if let Some(mut p) = m.process.take() {
                    *m.http.lock().unwrap() = None;
                    p.child.kill().unwrap();
                    let _ = p.child.wait();
                    m.stopped = false;
                }
                "sigkill"
            }
            _ => {
                let m = &mut members[a];
                match &m.process {
                    Some(p) if !m.stopped => {
                        signal(p, "-STOP");
                        m.stopped = true;
                    }
                    _ => {}
                }
                "sigstop"
            }
        };
        *faults.entry(name).or_default() += 1;
    }

    // Heal everything; let the nodes quiesce while clients stop.
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    net.heal();
    for (j, m) in members.iter_mut().enumerate() {
        match &m.process {
            Some(p) if m.stopped => {
                signal(p, "-CONT");
                m.stopped = false;
            }
            Some(_) => {}
            None => start(m, &into(&links, j)),
        }
    }
    let heal = Instant::now();
    common::wait_until(Duration::from_secs(60), "quiescence", || quiet(&members)).await;
    let settled = heal.elapsed();
    for m in &mut members {
        let mut p = m.process.take().unwrap();
        let status = p.terminate();
        assert!(status.success(), "exit {status:?}; stderr:\n{}", p.stderr());
    }
    let dbs: Vec<Db> = members
        .iter()
        .map(|m| Db::open(&m.dir, Options::default()).unwrap())
        .collect();
    for db in &dbs {
        assert!(db.verify().unwrap().is_clean(), "seed {seed}: verify");
    }
    let finals = read_finals(&dbs.iter().collect::<Vec<_>>()).await;
    let report: Report = check(&LastWriteWins, &history.events(), &finals);
    println!(
        "cluster (processes): seed {seed}, {secs} s, {NODES} nodes, faults {faults:?}, acked {} \
         ({:.1}%, floor {:.0}%), unknown {}, {}; quiet {:?} after heal",
        report.acknowledged,
        100.0 * report.acked_share(),
        100.0 * MIN_ACKED_SHARE,
        report.unknown,
        report.outcomes(),
        settled
    );
    assert!(report.valid(), "seed {seed}: {report:?}");
    assert!(
        report.acked_at_least(MIN_ACKED_SHARE),
        "seed {seed}: {} of {} requests acknowledged, below the floor",
        report.acknowledged,
        report.attempted()
    );
}

/// True when every node is up, connected to both others, and nothing is behind.
fn quiet(members: &[Member]) -> bool {
    let rt = tokio::runtime::Handle::current();
    members.iter().all(|m| {
        let Some(addr) = m.http.lock().unwrap().clone() else {
            return false;
        };
        let status = std::thread::scope(|s| {
            s.spawn(|| rt.block_on(async { Client::new(&addr).unwrap().status().await }))
                .join()
                .unwrap()
        });
        let Ok(status) = status else { return false };
        let peers = status["peers"].as_array().cloned().unwrap_or_default();
        let configured: Vec<_> = peers
            .iter()
            .filter(|p| p["source"] == "configured")
            .collect();
        configured.len() == NODES - 1
            && configured.iter().all(|p| {
                p["connected"] == true
                    && p["entries_behind"] == 0
                    && p["cursor"].as_u64().is_some()
                    && p["cursor"] == p["peer_last_seq"]
            })
    })
}
