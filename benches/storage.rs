//! Storage benchmark: meshkv against raw RocksDB with the same options, in one process.
//!
//! `cargo bench --bench storage` measures, with 16-byte keys and 100-byte values, no fsync
//! unless named:
//! - `put`: meshkv `put` | raw `put_cf` | raw three-entry batch (data + log + index per key: the
//!   floor this design can reach);
//! - `get`: meshkv `get` | raw `get_cf`, random keys of a 200k-key table;
//! - `batch100`: meshkv `write(batch of 100)` | raw 100-put `WriteBatch` | raw 300-entry batch;
//! - `sync8`: 8 threads of synced puts, meshkv `Durability::Sync` | raw `put_cf` with sync;
//! - `put_ttl`: meshkv `put_with_ttl` | meshkv `put` (goal: at least 0.9x), and `get_ttl`: `get`
//!   of keys with a deadline | `get` of keys without one (information: the first looks in two
//!   column families);
//! - the sweeper: 1,000,000 expired keys removed by `sweep_expired` steps (keys/s), and puts
//!   while the sweeper thread drains such a backlog against puts once it is gone
//!   (`MESHKV_BENCH=sweeper` runs these alone).
//!
//! Criterion measures each case on its own and prints its figures. Then, because a ratio of two
//! runs taken minutes apart on a shared 2-core machine swings by ±15%, each meshkv/raw pair is
//! measured again *interleaved* — alternating chunks of 5,000 operations, 40 rounds, fresh
//! databases — and the table of ops/s and ratios printed at the end comes from those.

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
            raw_three_batches(&raw_three, n, 1, 1)
        })
    });
    g.finish();
}

fn bench_get(c: &mut Criterion) {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let db = Db::open(dirs[0].path(), Options::default()).unwrap();
    let raw_db = raw(dirs[1].path());
    let data = raw_db.cf_handle("data").unwrap();
    fill(&db, &raw_db);
    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(1));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || xorshift(&mut rng) % GET_KEYS;
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
            raw_three_batches(&raw_three, n + 1, 100, 100);
            n += 100;
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

/// Raw RocksDB writing meshkv's three entries for `count` new keys from `first`, `per_batch`
/// keys to a batch.
fn raw_three_batches(db: &DB, first: u64, count: u64, per_batch: u64) {
    for b in 0..count / per_batch {
        let mut batch = WriteBatch::default();
        for n in first + b * per_batch..first + (b + 1) * per_batch {
            three_entries(db, &mut batch, n, n);
        }
        db.write(batch).unwrap();
    }
}

/// Writes `count` new keys from `first` through meshkv in batches of 100.
fn meshkv_batches(db: &Db, first: u64, count: u64) {
    for b in 0..count / 100 {
        let mut batch = db.batch();
        for n in 0..100 {
            batch.put(key(first + b * 100 + n), VALUE);
        }
        db.write(batch).unwrap();
    }
}

/// Times `a` and `b` in alternating chunks (the order flips every round) so that background
/// flushes, compactions and a noisy neighbour weigh on both alike; returns ops/s of each.
fn paired(
    rounds: u64,
    ops_per_chunk: u64,
    mut a: impl FnMut(u64),
    mut b: impl FnMut(u64),
) -> (f64, f64) {
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    for r in 0..rounds {
        let run = |f: &mut dyn FnMut(u64), t: &mut Duration| {
            let start = Instant::now();
            f(r);
            *t += start.elapsed();
        };
        if r % 2 == 0 {
            run(&mut a, &mut ta);
            run(&mut b, &mut tb);
        } else {
            run(&mut b, &mut tb);
            run(&mut a, &mut ta);
        }
    }
    let ops = (rounds * ops_per_chunk) as f64;
    (ops / ta.as_secs_f64(), ops / tb.as_secs_f64())
}

/// The ratio table: every pair measured interleaved, on fresh databases.
fn summary() {
    const CHUNK: u64 = 5_000;
    const ROUNDS: u64 = 40;
    let dirs: Vec<_> = (0..16).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut rows: Vec<(&str, &str, f64, f64, f64)> = Vec::new();

    // put: meshkv vs raw put, and vs the three-entry floor.
    {
        let db = Db::open(dirs[0].path(), Options::default()).unwrap();
        let (raw_put, raw_three) = (raw(dirs[1].path()), raw(dirs[2].path()));
        let data = raw_put.cf_handle("data").unwrap();
        let (m, r) = paired(
            ROUNDS,
            CHUNK,
            |c| {
                for n in c * CHUNK..(c + 1) * CHUNK {
                    db.put(key(n), VALUE).unwrap();
                }
            },
            |c| {
                for n in c * CHUNK..(c + 1) * CHUNK {
                    raw_put.put_cf(data, key(n), VALUE).unwrap();
                }
            },
        );
        rows.push(("put", "raw put_cf", m, r, 0.4));
        let db = Db::open(dirs[3].path(), Options::default()).unwrap();
        let (m, r) = paired(
            ROUNDS,
            CHUNK,
            |c| {
                for n in c * CHUNK..(c + 1) * CHUNK {
                    db.put(key(n), VALUE).unwrap();
                }
            },
            |c| raw_three_batches(&raw_three, c * CHUNK, CHUNK, 1),
        );
        rows.push(("put", "raw 3-entry batch", m, r, 0.85));
    }
    // get: random keys of a GET_KEYS table on both sides.
    {
        let db = Db::open(dirs[4].path(), Options::default()).unwrap();
        let raw_db = raw(dirs[5].path());
        let data = raw_db.cf_handle("data").unwrap();
        fill(&db, &raw_db);
        let (mut x, mut y) = (1u64, 1u64);
        let (m, r) = paired(
            ROUNDS,
            4 * CHUNK,
            |_| {
                for _ in 0..4 * CHUNK {
                    db.get(key(xorshift(&mut x) % GET_KEYS)).unwrap().unwrap();
                }
            },
            |_| {
                for _ in 0..4 * CHUNK {
                    raw_db
                        .get_cf(data, key(xorshift(&mut y) % GET_KEYS))
                        .unwrap()
                        .unwrap();
                }
            },
        );
        rows.push(("get", "raw get_cf", m, r, 0.95));
    }
    // write(batch of 100): vs the same three entries per key in one batch, and vs plain puts.
    {
        let db = Db::open(dirs[6].path(), Options::default()).unwrap();
        let raw_three = raw(dirs[7].path());
        let (m, r) = paired(
            ROUNDS,
            CHUNK,
            |c| meshkv_batches(&db, c * CHUNK, CHUNK),
            |c| raw_three_batches(&raw_three, c * CHUNK, CHUNK, 100),
        );
        rows.push(("batch100", "raw 3-entry batch", m, r, 0.85));
        let db = Db::open(dirs[8].path(), Options::default()).unwrap();
        let raw_put = raw(dirs[9].path());
        let data = raw_put.cf_handle("data").unwrap();
        let (m, r) = paired(
            ROUNDS,
            CHUNK,
            |c| meshkv_batches(&db, c * CHUNK, CHUNK),
            |c| {
                for b in 0..CHUNK / 100 {
                    let mut batch = WriteBatch::default();
                    for n in 0..100 {
                        batch.put_cf(data, key(c * CHUNK + b * 100 + n), VALUE);
                    }
                    raw_put.write(batch).unwrap();
                }
            },
        );
        rows.push(("batch100", "raw 100-put batch", m, r, 0.0));
    }
    // Synced puts from 8 threads.
    {
        const SYNC_CHUNK: u64 = 800;
        let db = Db::open(
            dirs[10].path(),
            Options::default().durability(Durability::Sync),
        )
        .unwrap();
        let raw_db = Arc::new(raw(dirs[11].path()));
        let (m, r) = paired(
            ROUNDS / 4,
            SYNC_CHUNK,
            |c| {
                let db = db.clone();
                threaded(
                    SYNC_CHUNK,
                    Arc::new(move |n| {
                        db.put(key(c * SYNC_CHUNK + n), VALUE).unwrap();
                    }),
                );
            },
            |c| {
                let raw_db = raw_db.clone();
                threaded(
                    SYNC_CHUNK,
                    Arc::new(move |n| {
                        let mut wo = WriteOptions::default();
                        wo.set_sync(true);
                        let data = raw_db.cf_handle("data").unwrap();
                        raw_db
                            .put_cf_opt(data, key(c * SYNC_CHUNK + n), VALUE, &wo)
                            .unwrap();
                    }),
                );
            },
        );
        rows.push(("sync8", "raw synced put_cf x8", m, r, 0.8));
    }
    // put_with_ttl against put, both meshkv, new keys.
    {
        let a = Db::open(dirs[12].path(), Options::default()).unwrap();
        let b = Db::open(dirs[13].path(), Options::default()).unwrap();
        let ttl = Duration::from_secs(3600);
        let (m, r) = paired(
            ROUNDS,
            CHUNK,
            |c| {
                for n in c * CHUNK..(c + 1) * CHUNK {
                    a.put_with_ttl(key(n), VALUE, ttl).unwrap();
                }
            },
            |c| {
                for n in c * CHUNK..(c + 1) * CHUNK {
                    b.put(key(n), VALUE).unwrap();
                }
            },
        );
        rows.push(("put_ttl", "meshkv put", m, r, 0.9));
    }
    // get of keys with a deadline against keys without one, at rest.
    {
        let a = Db::open(dirs[14].path(), Options::default()).unwrap();
        let b = Db::open(dirs[15].path(), Options::default()).unwrap();
        for chunk in (0..GET_KEYS).collect::<Vec<_>>().chunks(1000) {
            let (mut ba, mut bb) = (a.batch(), b.batch());
            for &n in chunk {
                ba.put_with_ttl(key(n), VALUE, Duration::from_secs(3600));
                bb.put(key(n), VALUE);
            }
            a.write(ba).unwrap();
            b.write(bb).unwrap();
        }
        for db in [&a, &b] {
            db.flush_memtables().unwrap();
            db.compact().unwrap();
        }
        let (mut x, mut y) = (1u64, 1u64);
        let (m, r) = paired(
            ROUNDS,
            4 * CHUNK,
            |_| {
                for _ in 0..4 * CHUNK {
                    a.get(key(xorshift(&mut x) % GET_KEYS)).unwrap().unwrap();
                }
            },
            |_| {
                for _ in 0..4 * CHUNK {
                    b.get(key(xorshift(&mut y) % GET_KEYS)).unwrap().unwrap();
                }
            },
        );
        rows.push(("get_ttl", "meshkv get, no ttl", m, r, 0.0));
    }

    println!();
    println!(
        "meshkv vs raw RocksDB, same options, measured interleaved ({ROUNDS} alternating rounds):"
    );
    println!(
        "{:<10} {:>14} {:>22} {:>14} {:>7} {:>14}",
        "case", "meshkv ops/s", "baseline", "ops/s", "ratio", "target"
    );
    for (case, baseline, m, r, target) in rows {
        let ratio = m / r;
        let verdict = if target == 0.0 {
            "-".to_string()
        } else if ratio >= target {
            format!(">={target} ok")
        } else {
            format!(">={target} MISSED")
        };
        println!("{case:<10} {m:>14.0} {baseline:>22} {r:>14.0} {ratio:>7.2} {verdict:>14}");
    }
}

/// Keys of the sweeper figures.
const SWEEP_KEYS: u64 = 1_000_000;

/// A database on a clock the benchmark moves (ms since the epoch), holding `SWEEP_KEYS` keys
/// that expire one second after the start.
fn expired_backlog(dir: &std::path::Path, sweeper: bool) -> (Db, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(1_800_000_000_000));
    let clock = Arc::clone(&now);
    let options = Options::default()
        .clock(meshkv::record::Clock::custom(move || {
            clock.load(Ordering::Relaxed)
        }))
        .sweep_interval(sweeper.then_some(Duration::from_millis(100)));
    let db = Db::open(dir, options).unwrap();
    for chunk in (0..SWEEP_KEYS).collect::<Vec<_>>().chunks(1000) {
        let mut batch = db.batch();
        for &n in chunk {
            batch.put_with_ttl(key(n), VALUE, Duration::from_secs(1));
        }
        db.write(batch).unwrap();
    }
    (db, now)
}

/// The sweeper's figures: how fast it removes a backlog, and what that does to puts.
fn sweeper_figures() {
    // Alone: steps of `sweep_batch` (1,000) one after the other.
    let dir = tempfile::tempdir().unwrap();
    let (db, now) = expired_backlog(dir.path(), false);
    now.fetch_add(2_000, Ordering::Relaxed);
    let start = Instant::now();
    let mut removed = 0;
    loop {
        let n = db.sweep_expired().unwrap();
        if n == 0 {
            break;
        }
        removed += n;
    }
    let alone = start.elapsed();
    assert_eq!(removed, SWEEP_KEYS);
    assert_eq!(db.key_count(), 0);
    drop(db);

    // Puts on other keys while the sweeper thread drains a backlog, then once it is gone.
    let dir = tempfile::tempdir().unwrap();
    let (db, now) = expired_backlog(dir.path(), true);
    now.fetch_add(2_000, Ordering::Relaxed);
    // The count holds the new keys and what is left of the backlog: puts go on until only the
    // new keys are left.
    let puts = |first: u64| {
        let start = Instant::now();
        let mut n = 0u64;
        while db.key_count() > n {
            db.put(key(first + n), VALUE).unwrap();
            n += 1;
        }
        (n, start.elapsed())
    };
    let (during_n, during_t) = puts(10 * SWEEP_KEYS);
    let drained = db.stats().expired_swept;
    let start = Instant::now();
    let after_n = 200_000u64;
    for n in 0..after_n {
        db.put(key(20 * SWEEP_KEYS + n), VALUE).unwrap();
    }
    let after_t = start.elapsed();
    let during = during_n as f64 / during_t.as_secs_f64();
    let after = after_n as f64 / after_t.as_secs_f64();
    println!();
    println!(
        "sweeper: {SWEEP_KEYS} expired keys removed in {:.2} s by sweep_expired steps: {:.0} keys/s",
        alone.as_secs_f64(),
        SWEEP_KEYS as f64 / alone.as_secs_f64()
    );
    println!(
        "sweeper: puts while the sweeper thread drained the backlog ({drained} removed meanwhile, \
         in {:.2} s): {during:.0} ops/s; once it is gone: {after:.0} ops/s; ratio {:.2}",
        during_t.as_secs_f64(),
        during / after
    );
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Loads the same GET_KEYS keys into both databases.
fn fill(db: &Db, raw_db: &DB) {
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
    // Reads of data at rest, compacted, on both sides: meshkv's memtables also hold its log and
    // index, so without this its values would sit in more, smaller files than the raw ones.
    db.flush_memtables().unwrap();
    raw_db.flush_cf(data).unwrap();
    db.compact().unwrap();
    raw_db.compact_range_cf(data, None::<&[u8]>, None::<&[u8]>);
}

fn main() {
    // `MESHKV_BENCH=sweeper` runs the sweeper figures alone.
    if std::env::var("MESHKV_BENCH").as_deref() == Ok("sweeper") {
        sweeper_figures();
        return;
    }
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
    sweeper_figures();
}
