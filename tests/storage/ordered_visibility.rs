//! Invariant 3, ordered visibility: with 4 writer threads and a concurrent apply, a reader that
//! follows the log never finds an entry below a sequence it already passed, and a puller that
//! stores each read's high sequence as its cursor misses no write. Run with buffered and with
//! synced writes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use meshkv::{Db, Durability, Options};

const WRITERS: usize = 4;
const PER_WRITER: usize = 1500;
const APPLIED: usize = 2000;

fn run(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(durability)).unwrap();
    let done = Arc::new(AtomicBool::new(false));

    // Follower: reads the whole log each time (unique keys, so no entry is ever superseded);
    // everything at or below the highest sequence it saw must never change afterwards.
    let follower = {
        let (db, done) = (db.clone(), done.clone());
        thread::spawn(move || {
            let mut seen: BTreeSet<u64> = BTreeSet::new();
            let mut passed = 0u64;
            let mut rounds = 0u64;
            loop {
                let finished = done.load(Ordering::Acquire);
                let now: BTreeSet<u64> = db
                    .replica()
                    .changes_since(0)
                    .map(|r| r.unwrap().0)
                    .collect();
                let below: BTreeSet<u64> = now.range(..=passed).copied().collect();
                assert_eq!(
                    below, seen,
                    "an entry appeared at or below {passed}, already passed"
                );
                passed = now.iter().next_back().copied().unwrap_or(0);
                seen = now;
                rounds += 1;
                if finished {
                    return rounds;
                }
            }
        })
    };

    // Puller: cursor-based, as replication reads.
    let puller = {
        let (db, done) = (db.clone(), done.clone());
        thread::spawn(move || {
            let mut cursor = 0u64;
            let mut keys = BTreeSet::new();
            loop {
                let finished = done.load(Ordering::Acquire);
                let mut changes = db.replica().changes_since(cursor);
                for item in changes.by_ref() {
                    let (seq, entry) = item.unwrap();
                    assert!(seq > cursor);
                    keys.insert(entry.key);
                }
                cursor = changes.high_seq();
                if finished {
                    return keys;
                }
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            thread::spawn(move || {
                for i in 0..PER_WRITER {
                    if i % 10 == 9 {
                        let mut batch = db.batch();
                        batch
                            .put(format!("w{w}/{i}/a"), b"v")
                            .put(format!("w{w}/{i}/b"), b"v");
                        db.write(batch).unwrap();
                    } else {
                        db.put(format!("w{w}/{i}"), b"v").unwrap();
                    }
                }
            })
        })
        .collect();
    // A replicator applying remote entries at the same time: its entries take sequences from
    // the same counter, outside the local writers' group-commit queue.
    let applier = {
        let db = db.clone();
        thread::spawn(move || {
            let origin = meshkv::NodeId([9; 16]);
            for i in 0..APPLIED / 10 {
                let entries: Vec<meshkv::replica::Entry> = (0..10)
                    .map(|j| meshkv::replica::Entry {
                        key: format!("remote/{i}/{j}").into_bytes(),
                        value: Some(b"r".to_vec()),
                        version: meshkv::Version {
                            clock: 1,
                            timestamp: 1,
                            origin,
                        },
                        expires_at: None,
                    })
                    .collect();
                let report = db
                    .replica()
                    .apply(&entries, &meshkv::LastWriteWins)
                    .unwrap();
                assert_eq!(report.applied, 10);
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    applier.join().unwrap();
    done.store(true, Ordering::Release);
    let rounds = follower.join().unwrap();
    let pulled = puller.join().unwrap();
    let expected = WRITERS * (PER_WRITER + PER_WRITER / 10) + APPLIED;
    assert_eq!(db.replica().changes_since(0).count(), expected);
    assert_eq!(
        pulled.len(),
        expected,
        "the cursor-following puller missed writes"
    );
    assert!(rounds > 1);
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn buffered_writers_become_visible_in_order() {
    run(Durability::Buffered);
}

#[test]
fn synced_writers_sharing_fsyncs_become_visible_in_order() {
    run(Durability::Sync);
}
