//! Replication benchmark on loopback (a plain harness that prints its figures):
//!
//! - catch-up: an empty node pulls 1,000,000 entries (16-byte keys, 100-byte values) from a
//!   peer; entries/s, the ratio to the local `put` rate of the same volume measured just before,
//!   and the peak RSS of the pulling process (a child process, so its RSS is its own); three
//!   runs, the median ratio;
//! - lag: node A writes 5,000 puts/s for 10 s; the delay until each write is readable on B,
//!   p50 / p99 / max;
//! - three nodes each writing 100,000 keys at full speed: time until all three hold 300,000.
//!
//! `MESHKV_BENCH_SCALE=0.1` shrinks every count (for a quick look);
//! `MESHKV_BENCH_ONLY_CATCHUP=1` stops after the catch-up.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshkv::{Db, Node, NodeConfig, Options};

const VALUE: [u8; 100] = [0x42; 100];
const CHILD: &str = "MESHKV_BENCH_PULL_FROM";

fn key(prefix: u8, n: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[0] = prefix;
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
}

fn scale() -> f64 {
    std::env::var("MESHKV_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn config(peers: Vec<String>) -> NodeConfig {
    NodeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        peers,
        cluster: "bench".into(),
        heartbeat_interval: Duration::from_millis(200),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(500),
        initial_sync_timeout: Duration::from_millis(1),
        ..NodeConfig::default()
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The pulling child: an empty node that pulls `expected` entries from the given address.
async fn child(addr: String) {
    let expected: u64 = std::env::var("MESHKV_BENCH_EXPECTED")
        .unwrap()
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let start = Instant::now();
    let node = Node::start(db.clone(), config(vec![addr])).await.unwrap();
    loop {
        let done = node
            .status()
            .peers
            .iter()
            .any(|p| p.cursor.unwrap_or(0) >= expected);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let count = db.replica().changes_since(0).count() as u64;
    assert_eq!(count, expected);
    println!("CHILD {secs} {}", peak_rss_mib());
    node.shutdown().await.unwrap();
}

/// One catch-up run: (entries/s, local puts/s, puller peak RSS in MiB).
async fn catch_up(n: u64) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    // The local put rate on this machine, same data shape and the same volume (so that both
    // pay for the same flushes and compactions).
    let local = {
        let d = tempfile::tempdir().unwrap();
        let p = Db::open(d.path(), Options::default()).unwrap();
        let count = n;
        let t = Instant::now();
        for i in 0..count {
            p.put(key(9, i), VALUE).unwrap();
        }
        count as f64 / t.elapsed().as_secs_f64()
    };
    for chunk in 0..n.div_ceil(1000) {
        let mut batch = db.batch();
        for i in chunk * 1000..((chunk + 1) * 1000).min(n) {
            batch.put(key(1, i), VALUE);
        }
        db.write(batch).unwrap();
    }
    let node = Node::start(db.clone(), config(vec![])).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .env(CHILD, node.local_addr().to_string())
        .env("MESHKV_BENCH_EXPECTED", n.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .unwrap_or_else(|| {
            panic!(
                "child failed: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mut parts = line.split_whitespace().skip(1);
    let secs: f64 = parts.next().unwrap().parse().unwrap();
    let rss: f64 = parts.next().unwrap().parse().unwrap();
    let rate = n as f64 / secs;
    println!(
        "catch-up run: {n} entries in {secs:.2} s = {rate:.0} entries/s; local put {local:.0}/s; \
         ratio {:.2}; puller peak RSS {rss:.0} MiB",
        rate / local
    );
    node.shutdown().await.unwrap();
    (rate, local, rss)
}

/// Catch-up runs repeated (this machine's run-to-run noise is larger than the margins that
/// matter); prints the median ratio and the largest RSS.
async fn catch_ups(n: u64, runs: usize) {
    let mut results = Vec::new();
    for _ in 0..runs {
        results.push(catch_up(n).await);
    }
    let mut ratios: Vec<f64> = results.iter().map(|(r, l, _)| r / l).collect();
    ratios.sort_by(|a, b| a.total_cmp(b));
    let rss = results.iter().map(|r| r.2).fold(0.0, f64::max);
    println!(
        "catch-up: median of {runs} runs: {:.2}x the local put rate (min {:.2}, max {:.2}; \
         target >= 1.0); puller peak RSS at most {rss:.0} MiB (target < 256)",
        ratios[runs / 2],
        ratios[0],
        ratios[runs - 1]
    );
}

async fn lag(seconds: u64, rate: u64) {
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Db::open(da.path(), Options::default()).unwrap();
    let b = Db::open(dbb.path(), Options::default()).unwrap();
    let na = Node::start(a.clone(), config(vec![])).await.unwrap();
    let nb = Node::start(b.clone(), config(vec![na.local_addr().to_string()]))
        .await
        .unwrap();
    let epoch = Instant::now();
    let total = seconds * rate;
    // Reader on B: wakes on every commit, reads what is new, notes when each key arrived.
    let reader = {
        let b = b.clone();
        tokio::task::spawn_blocking(move || {
            let mut commits = b.replica().subscribe_commits();
            let mut cursor = 0u64;
            let mut delays = Vec::with_capacity(total as usize);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            while (delays.len() as u64) < total {
                let _ = rt.block_on(async {
                    tokio::time::timeout(Duration::from_millis(50), commits.changed()).await
                });
                let now = epoch.elapsed().as_micros() as u64;
                let mut changes = b.replica().changes_since(cursor);
                for item in changes.by_ref() {
                    let (_, e) = item.unwrap();
                    let v = e.value.unwrap();
                    let sent = u64::from_be_bytes(v[..8].try_into().unwrap());
                    delays.push(now.saturating_sub(sent));
                }
                cursor = changes.high_seq();
            }
            delays
        })
    };
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for i in 0..total {
        ticker.tick().await;
        let mut v = [0u8; 100];
        v[..8].copy_from_slice(&(epoch.elapsed().as_micros() as u64).to_be_bytes());
        a.put(key(2, i), v).unwrap();
    }
    let mut delays = reader.await.unwrap();
    delays.sort_unstable();
    let pct =
        |p: f64| delays[((delays.len() as f64 * p) as usize).min(delays.len() - 1)] as f64 / 1000.0;
    println!(
        "lag at {rate} puts/s for {seconds} s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 5 ms)",
        pct(0.5),
        pct(0.99),
        *delays.last().unwrap() as f64 / 1000.0
    );
    nb.shutdown().await.unwrap();
    na.shutdown().await.unwrap();
}

async fn three_writers(per_node: u64) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let dbs: Vec<Db> = dirs
        .iter()
        .map(|d| Db::open(d.path(), Options::default()).unwrap())
        .collect();
    let n0 = Node::start(dbs[0].clone(), config(vec![])).await.unwrap();
    let a0 = n0.local_addr().to_string();
    let n1 = Node::start(dbs[1].clone(), config(vec![a0.clone()]))
        .await
        .unwrap();
    let n2 = Node::start(
        dbs[2].clone(),
        config(vec![a0, n1.local_addr().to_string()]),
    )
    .await
    .unwrap();
    let start = Instant::now();
    let writers: Vec<_> = dbs
        .iter()
        .enumerate()
        .map(|(i, db)| {
            let db = db.clone();
            std::thread::spawn(move || {
                for c in 0..per_node.div_ceil(100) {
                    let mut batch = db.batch();
                    for k in c * 100..((c + 1) * 100).min(per_node) {
                        batch.put(key(10 + i as u8, k), VALUE);
                    }
                    db.write(batch).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let written = start.elapsed().as_secs_f64();
    let nodes = Arc::new([n0, n1, n2]);
    loop {
        let all = nodes.iter().all(|n| {
            n.status().peers.iter().filter(|p| p.connected).count() >= 2
                && n.status().peers.iter().all(|p| p.entries_behind == Some(0))
        });
        let counts: Vec<usize> = dbs.iter().map(|d| d.scan_prefix([]).count()).collect();
        if all && counts.iter().all(|&c| c as u64 == 3 * per_node) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "three nodes x {per_node} keys at full speed: written in {written:.2} s, all three hold all {} keys after {:.2} s",
        3 * per_node,
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(addr) = std::env::var(CHILD) {
        rt.block_on(child(addr));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let s = scale();
    println!("replication benchmark (scale {s}), loopback");
    rt.block_on(async {
        catch_ups((1_000_000.0 * s) as u64, 3).await;
        if std::env::var_os("MESHKV_BENCH_ONLY_CATCHUP").is_some() {
            return;
        }
        lag(((10.0 * s).ceil()) as u64, 5_000).await;
        three_writers((100_000.0 * s) as u64).await;
    });
}
