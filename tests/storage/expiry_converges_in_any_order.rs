//! Deadlines converge (proptest): random interleavings of puts, puts with a time-to-live,
//! deletes, expires, persists and clock advances on three writing nodes, whose entries are then
//! applied in any order, in any chunks, with duplicates, on three other nodes whose clocks
//! advance at random between chunks, give every node the same state once their clocks agree:
//! the same values, versions and deadlines, and the same keys expired. An entry that reaches a
//! node after its deadline is stored expired there; it must not make that node differ.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use meshkv::record::Clock;
use meshkv::replica::Entry;
use meshkv::{Db, LastWriteWins, Options, Version};
use proptest::prelude::*;

const START: u64 = 1_800_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    Put(u8),
    PutTtl(u8, u64),
    Delete,
    Expire(u64),
    Persist,
    Advance(u64),
}

fn op() -> impl Strategy<Value = (usize, u8, Op)> {
    let kind = prop_oneof![
        (0u8..3).prop_map(Op::Put),
        ((0u8..3), prop_oneof![Just(1u64), Just(5), Just(40)]).prop_map(|(v, t)| Op::PutTtl(v, t)),
        Just(Op::Delete),
        prop_oneof![Just(0u64), Just(3), Just(30)].prop_map(Op::Expire),
        Just(Op::Persist),
        (1u64..20).prop_map(Op::Advance),
    ];
    (0usize..3, 0u8..3, kind)
}

struct Node {
    _dir: tempfile::TempDir,
    db: Db,
    now: Arc<AtomicU64>,
}

fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START));
    let clock = Arc::clone(&now);
    let options = Options::default()
        .clock(Clock::custom(move || clock.load(Ordering::SeqCst)))
        .sweep_interval(None);
    let db = Db::open(dir.path(), options).unwrap();
    Node { _dir: dir, db, now }
}

type State = BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version, Option<SystemTime>, bool)>;

fn state(db: &Db) -> State {
    (0u8..3)
        .filter_map(|k| {
            let key = vec![b'k', k];
            db.get_versioned(&key)
                .unwrap()
                .map(|r| (key, (r.value, r.version, r.expires_at, r.expired)))
        })
        .collect()
}

/// Runs `ops` on three writers; returns every entry they wrote and the latest writer clock.
fn write(ops: &[(usize, u8, Op)]) -> (Vec<Entry>, u64) {
    let writers: Vec<Node> = (0..3).map(|_| node()).collect();
    let mut entries = Vec::new();
    for (w, k, op) in ops {
        let n = &writers[*w];
        let key = [b'k', *k];
        let before = n.db.last_seq();
        let secs = Duration::from_secs;
        match op {
            Op::Put(v) => drop(n.db.put(key, [*v, *w as u8]).unwrap()),
            Op::PutTtl(v, t) => drop(n.db.put_with_ttl(key, [*v, *w as u8], secs(*t)).unwrap()),
            Op::Delete => drop(n.db.delete(key).unwrap()),
            Op::Expire(t) => drop(n.db.expire(key, secs(*t)).unwrap()),
            Op::Persist => drop(n.db.persist(key).unwrap()),
            Op::Advance(s) => drop(n.now.fetch_add(s * 1000, Ordering::SeqCst)),
        }
        entries.extend(n.db.replica().changes_since(before).map(|r| r.unwrap().1));
    }
    let latest = writers.iter().map(|n| n.now.load(Ordering::SeqCst)).max();
    (entries, latest.unwrap_or(START))
}

/// What every node must hold at clock `now`: per key the entry with the highest (clock,
/// timestamp, origin), last-writer-wins' order, expired when its deadline is at or before `now`.
fn expected(entries: &[Entry], now: u64) -> State {
    let mut best: BTreeMap<Vec<u8>, &Entry> = BTreeMap::new();
    for e in entries {
        let v = |e: &Entry| (e.version.clock, e.version.timestamp, e.version.origin);
        if !best.get(&e.key).is_some_and(|b| v(e) <= v(b)) {
            best.insert(e.key.clone(), e);
        }
    }
    best.into_iter()
        .map(|(k, e)| {
            let put = e.value.is_some() || e.expires_at.is_some();
            let expired = put && e.expires_at.is_some_and(|at| at <= now);
            let at = e
                .expires_at
                .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
            let value = e.value.clone().filter(|_| !expired);
            (k, (value, e.version, at, expired))
        })
        .collect()
}

/// Applies `entries` to a fresh node in a seeded order with duplicates, in chunks, advancing its
/// clock between chunks; returns it and the entries it refused for now.
fn deliver(entries: &[Entry], seed: u64, chunk: usize) -> (Node, Vec<Entry>) {
    let n = node();
    let mut order = entries.to_vec();
    for i in 0..entries.len() / 3 {
        order.push(entries[(seed as usize + i * 7) % entries.len()].clone());
    }
    let mut s = seed | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for i in (1..order.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    // An entry sent without its value, as expired, is refused while its deadline is ahead of
    // this node's clock (and pulled again later by a real puller): such entries wait here
    // until the end, when every clock has caught up.
    let mut waiting = Vec::new();
    for part in order.chunks(chunk.max(1)) {
        if n.db.replica().apply(part, &LastWriteWins).is_err() {
            for e in part {
                if n.db
                    .replica()
                    .apply(std::slice::from_ref(e), &LastWriteWins)
                    .is_err()
                {
                    waiting.push(e.clone());
                }
            }
        }
        n.now.fetch_add((next() % 8) * 1000, Ordering::SeqCst);
    }
    (n, waiting)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn deadlines_converge_in_any_order(
        ops in proptest::collection::vec(op(), 1..40),
        seeds in proptest::array::uniform3(any::<u64>()),
        chunk in 1usize..6,
    ) {
        let (entries, latest) = write(&ops);
        prop_assume!(!entries.is_empty());
        let delivered: Vec<(Node, Vec<Entry>)> =
            seeds.iter().map(|&s| deliver(&entries, s, chunk)).collect();
        // Compared once every clock agrees, at or past every clock any node had.
        let t = delivered
            .iter()
            .map(|(n, _)| n.now.load(Ordering::SeqCst))
            .max()
            .unwrap_or(START)
            .max(latest);
        let mut replicas = Vec::new();
        for (n, waiting) in delivered {
            n.now.store(t, Ordering::SeqCst);
            n.db.replica().apply(&waiting, &LastWriteWins).unwrap();
            replicas.push(n);
        }
        for later in [0, 10_000, 60_000] {
            for n in &replicas {
                n.now.store(t + later, Ordering::SeqCst);
            }
            let first = state(&replicas[0].db);
            prop_assert_eq!(&first, &expected(&entries, t + later), "at +{} ms", later);
            for n in &replicas[1..] {
                prop_assert_eq!(&state(&n.db), &first, "at +{} ms, entries {:?}", later, entries);
            }
        }
        for n in &replicas {
            n.db.sweep_expired().unwrap();
            prop_assert!(n.db.verify().unwrap().is_clean());
        }
        let swept = state(&replicas[0].db);
        for n in &replicas[1..] {
            prop_assert_eq!(&state(&n.db), &swept, "after sweeping");
        }
    }
}
