//! Storage benchmark: meshkv against raw RocksDB with the same options, in one process.
//!
//! `cargo bench --bench storage` measures, with 16-byte keys and 100-byte values, no fsync
//! unless named:
//! - `put`: meshkv `put` | raw `put_cf` | raw three-entry batch (data + log + index per key: the
//!   floor this design can reach);
//! - `get`: meshkv `get` | raw `get_cf`, random keys of a 200k-key table;
//! - `batch100`: meshkv `write(batch of 100)` | raw 100-put `WriteBatch` | raw 300-entry batch;
//! - `sync8`: 8 threads of synced puts, meshkv `Durability::Sync` | raw `put_cf` with sync.
//!
//! Criterion measures each; at the end this prints ops/s per case and the ratios meshkv/raw
//! (read back from criterion's `estimates.json`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use meshkv::{Db, Durability, Options};
use rocksdb::{WriteBatch, WriteOptions, DB};

const VALUE: [u8; 100] = [0x5a; 100];
const GET_KEYS: u64 = 200_000;
const SYNC_THREADS: u64 = 8;

fn key(n: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(b"bench/k/");
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
}

/// A raw RocksDB with meshkv's exact options and column families.
fn raw(dir: &std::path::Path) -> DB {
    let (mut opts, cfs) = meshkv::storage::rocksdb_options(&Options::default());
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    DB::open_cf_descriptors(&opts, dir, cfs).unwrap()
}

/// Raw RocksDB writing what meshkv writes for a new key: value, log entry, index record.
fn three_entries(db: &DB, batch: &mut WriteBatch, n: u64, seq: u64) {
    let (data, log, index) = (
        db.cf_handle("data").unwrap(),
        db.cf_handle("log").unwrap(),
        db.cf_handle("index").unwrap(),
    );
    let k = key(n);
    batch.put_cf(data, k, VALUE);
    let mut entry = [0u8; 1 + 32 + 16];
    entry[1..9].copy_from_slice(&1u64.to_be_bytes());
    entry[33..].copy_from_slice(&k);
    batch.put_cf(log, seq.to_be_bytes(), entry);
    let mut rec = [0u8; 41];
    rec[..8].copy_from_slice(&seq.to_be_bytes());
    batch.put_cf(index, k, rec);
}

fn bench_put(c: &mut Criterion) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let db = Db::open(dirs[0].path(), Options::default()).unwrap();
    let raw_put = raw(dirs[1].path());
    let raw_three = raw(dirs[2].path());
    let mut g = c.benchmark_group("put");
    g.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    g.bench_function("meshkv", |b| {
        b.iter(|| {
            n += 1;
            db.put(key(n), VALUE).unwrap()
        })
    });
    let mut n = 0u64;
    let data = raw_put.cf_handle("data").unwrap();
    g.bench_function("raw", |b| {
        b.iter(|| {
            n += 1;
            raw_put.put_cf(data, key(n), VALUE).unwrap()
        })
    });
    let mut n = 0u64;
    g.bench_function("raw_three_entries", |b| {
        b.iter(|| {
            n += 1;
            let mut batch = WriteBatch::default();
            three_entries(&raw_three, &mut batch, n, n);
            raw_three.write(batch).unwrap()
        })
    });
    g.finish();
}

fn bench_get(c: &mut Criterion) {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let db = Db::open(dirs[0].path(), Options::default()).unwrap();
    let raw_db = raw(dirs[1].path());
    let data = raw_db.cf_handle("data").unwrap();
    for chunk in (0..GET_KEYS).collect::<Vec<_>>().chunks(1000) {
        let mut batch = db.batch();
        let mut raw_batch = WriteBatch::default();
        for &n in chunk {
            batch.put(key(n), VALUE);
            raw_batch.put_cf(data, key(n), VALUE);
        }
        db.write(batch).unwrap();
        raw_db.write(raw_batch).unwrap();
    }
    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(1));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % GET_KEYS
    };
    g.bench_function("meshkv", |b| {
        b.iter(|| db.get(key(next())).unwrap().unwrap())
    });
    g.bench_function("raw", |b| {
        b.iter(|| raw_db.get_cf(data, key(next())).unwrap().unwrap())
    });
    g.finish();
}

fn bench_batch(c: &mut Criterion) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let db = Db::open(dirs[0].path(), Options::default()).unwrap();
    let raw_put = raw(dirs[1].path());
    let raw_three = raw(dirs[2].path());
    let mut g = c.benchmark_group("batch100");
    g.throughput(Throughput::Elements(100));
    let mut n = 0u64;
    g.bench_function("meshkv", |b| {
        b.iter(|| {
            let mut batch = db.batch();
            for _ in 0..100 {
                n += 1;
                batch.put(key(n), VALUE);
            }
            db.write(batch).unwrap()
        })
    });
    let mut n = 0u64;
    let data = raw_put.cf_handle("data").unwrap();
    g.bench_function("raw", |b| {
        b.iter(|| {
            let mut batch = WriteBatch::default();
            for _ in 0..100 {
                n += 1;
                batch.put_cf(data, key(n), VALUE);
            }
            raw_put.write(batch).unwrap()
        })
    });
    let mut n = 0u64;
    g.bench_function("raw_three_entries", |b| {
        b.iter(|| {
            let mut batch = WriteBatch::default();
            for _ in 0..100 {
                n += 1;
                three_entries(&raw_three, &mut batch, n, n);
            }
            raw_three.write(batch).unwrap()
        })
    });
    g.finish();
}

/// Runs `iters` operations split over `SYNC_THREADS` threads; returns the wall time.
fn threaded(iters: u64, op: Arc<dyn Fn(u64) + Send + Sync>) -> Duration {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..SYNC_THREADS)
        .map(|_| {
            let (op, counter) = (op.clone(), counter.clone());
            std::thread::spawn(move || loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n >= iters {
                    break;
                }
                op(n);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn bench_sync(c: &mut Criterion) {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let db = Db::open(
        dirs[0].path(),
        Options::default().durability(Durability::Sync),
    )
    .unwrap();
    let raw_db = Arc::new(raw(dirs[1].path()));
    let mut g = c.benchmark_group("sync8");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    let base = Arc::new(AtomicU64::new(0));
    {
        let (db, base) = (db.clone(), base.clone());
        g.bench_function(BenchmarkId::new("meshkv", SYNC_THREADS), move |b| {
            b.iter_custom(|iters| {
                let start = base.fetch_add(iters, Ordering::Relaxed);
                let db = db.clone();
                threaded(
                    iters,
                    Arc::new(move |n| {
                        db.put(key(start + n), VALUE).unwrap();
                    }),
                )
            })
        });
    }
    {
        let (raw_db, base) = (raw_db.clone(), Arc::new(AtomicU64::new(0)));
        g.bench_function(BenchmarkId::new("raw", SYNC_THREADS), move |b| {
            b.iter_custom(|iters| {
                let start = base.fetch_add(iters, Ordering::Relaxed);
                let raw_db = raw_db.clone();
                threaded(
                    iters,
                    Arc::new(move |n| {
                        let mut wo = WriteOptions::default();
                        wo.set_sync(true);
                        let data = raw_db.cf_handle("data").unwrap();
                        raw_db.put_cf_opt(data, key(start + n), VALUE, &wo).unwrap();
                    }),
                )
            })
        });
    }
    g.finish();
}

/// Mean nanoseconds per iteration of one benchmark, from criterion's saved estimates.
fn mean_ns(dir: &std::path::Path, group: &str, bench: &str) -> Option<f64> {
    let path = dir
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

fn summary() {
    let dir = criterion_dir();
    let ops = |group: &str, bench: &str, per_iter: f64| {
        mean_ns(&dir, group, bench).map(|ns| per_iter * 1e9 / ns)
    };
    let rows = [
        ("put", "meshkv", "raw", 1.0, 0.4),
        ("put", "meshkv", "raw_three_entries", 1.0, 0.85),
        ("get", "meshkv", "raw", 1.0, 0.95),
        ("batch100", "meshkv", "raw_three_entries", 100.0, 0.85),
        ("batch100", "meshkv", "raw", 100.0, 0.0),
        ("sync8", "meshkv/8", "raw/8", 1.0, 0.8),
    ];
    println!();
    println!(
        "{:<10} {:>14} {:>22} {:>14} {:>8} {:>7}",
        "case", "meshkv ops/s", "baseline", "ops/s", "ratio", "target"
    );
    for (group, ours, theirs, per_iter, target) in rows {
        match (ops(group, ours, per_iter), ops(group, theirs, per_iter)) {
            (Some(a), Some(b)) => {
                let ratio = a / b;
                let verdict = if target == 0.0 {
                    "-".to_string()
                } else if ratio >= target {
                    format!(">={target} ok")
                } else {
                    format!(">={target} MISSED")
                };
                println!("{group:<10} {a:>14.0} {theirs:>22} {b:>14.0} {ratio:>8.2} {verdict:>7}");
            }
            _ => println!("{group:<10} (not measured in this run)"),
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
        .configure_from_args();
    bench_put(&mut c);
    bench_get(&mut c);
    bench_batch(&mut c);
    bench_sync(&mut c);
    c.final_summary();
    summary();
}
