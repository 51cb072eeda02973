//! Invariant 5 (proptest): applying the same remote entries in any order, in any chunks, with
//! duplicates, gives the same contents and versions on every database — the winner per key that the
//! resolver order names. Checked with `LastWriteWins` and with a value-based resolver (the larger
//! value wins). The anti-entropy digests kept by the commits are those of the final `(key,
//! version)` set, whatever the order.

use std::collections::{BTreeMap, BTreeSet};

use meshkv::replica::{Candidate, Choice, DigestTree, Entry};
use meshkv::{Db, LastWriteWins, NodeId, Options, Resolver, Version};
use proptest::prelude::*;

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    // A small key space and few distinct clocks and timestamps force ties of every kind.
    let one = (
        0u8..4,
        1u64..4,
        1u64..4,
        1u8..4,
        proptest::option::of(0u8..3),
    )
        .prop_map(|(k, clock, timestamp, origin, value)| Entry {
            key: vec![b'k', k],
            // A version names one write, so it determines the value.
            value: value.map(|v| vec![v, clock as u8, timestamp as u8, origin]),
            version: Version {
                clock,
                timestamp,
                origin: NodeId([origin; 16]),
            },
            expires_at: None,
        });
    proptest::collection::vec(one, 1..30).prop_map(|mut v| {
        let mut seen = BTreeSet::new();
        v.retain(|e| {
            seen.insert((
                e.key.clone(),
                e.version.clock,
                e.version.timestamp,
                e.version.origin,
            ))
        });
        v
    })
}

/// An order with duplicates, cut into chunks: (chunk sizes, permutation seed, duplicate picks).
fn delivery(entries: &[Entry], seed: u64, chunk: usize) -> Vec<Vec<Entry>> {
    let mut order: Vec<Entry> = entries.to_vec();
    // Duplicate a few entries, then shuffle deterministically from the seed.
    for i in 0..entries.len() / 3 {
        order.push(entries[(seed as usize + i * 7) % entries.len()].clone());
    }
    let mut state = seed | 1;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order.chunks(chunk.max(1)).map(|c| c.to_vec()).collect()
}

fn contents(db: &Db) -> BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version)> {
    (0u8..4)
        .filter_map(|k| {
            let key = vec![b'k', k];
            db.get_versioned(&key)
                .unwrap()
                .map(|r| (key, (r.value, r.version)))
        })
        .collect()
}

fn run(
    entries: &[Entry],
    seed: u64,
    chunk: usize,
    resolver: &dyn Resolver,
) -> BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version)> {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for part in delivery(entries, seed, chunk) {
        db.replica().apply(&part, resolver).unwrap();
    }
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        report.log_entries as usize,
        contents(&db).len(),
        "one log entry per key"
    );
    let mut expected = DigestTree::default();
    for (key, (_, version)) in contents(&db) {
        expected.add(&key, &version);
    }
    assert_eq!(db.replica().digests(), expected);
    contents(&db)
}

/// A resolver that uses values: the larger value wins, tombstones lose, then LWW.
fn bigger_value(a: &Candidate<'_>, b: &Candidate<'_>) -> Choice {
    match b.value.cmp(&a.value) {
        std::cmp::Ordering::Greater => Choice::Second,
        std::cmp::Ordering::Less => Choice::First,
        std::cmp::Ordering::Equal => LastWriteWins.resolve(a, b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn any_order_any_duplicates_same_state(
        entries in entries(),
        seeds in proptest::array::uniform3(any::<u64>()),
        chunks in proptest::array::uniform3(1usize..8),
    ) {
        let first = run(&entries, seeds[0], chunks[0], &LastWriteWins);
        // The expected winner per key under LWW: highest clock, then timestamp, then origin.
        let mut expected = BTreeMap::new();
        for e in &entries {
            let better = match expected.get(&e.key) {
                None => true,
                Some((_, v)) => {
                    let v: &Version = v;
                    (e.version.clock, e.version.timestamp, e.version.origin) > (v.clock, v.timestamp, v.origin)
                }
            };
            if better {
                expected.insert(e.key.clone(), (e.value.clone(), e.version));
            }
        }
        prop_assert_eq!(&first, &expected);
        for i in 1..3 {
            prop_assert_eq!(&run(&entries, seeds[i], chunks[i], &LastWriteWins), &first);
        }
        // A custom pure resolver converges too, whatever the order.
        let custom = run(&entries, seeds[0], chunks[0], &bigger_value);
        for i in 1..3 {
            prop_assert_eq!(&run(&entries, seeds[i], chunks[i], &bigger_value), &custom);
        }
    }
}

#[test]
fn applying_twice_changes_nothing_and_relogs_under_new_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"local", b"x").unwrap();
    let remote = vec![
        Entry {
            key: b"a".to_vec(),
            value: Some(b"1".to_vec()),
            version: Version {
                clock: 3,
                timestamp: 10,
                origin: NodeId([5; 16]),
            },
            expires_at: None,
        },
        Entry {
            key: b"b".to_vec(),
            value: None,
            version: Version {
                clock: 1,
                timestamp: 11,
                origin: NodeId([5; 16]),
            },
            expires_at: None,
        },
    ];
    let r1 = db.replica().apply(&remote, &LastWriteWins).unwrap();
    assert_eq!((r1.applied, r1.duplicate), (2, 0));
    let seq = db.last_seq();
    assert_eq!(seq, 3);
    let r2 = db.replica().apply(&remote, &LastWriteWins).unwrap();
    assert_eq!((r2.applied, r2.duplicate), (0, 2));
    assert_eq!(db.last_seq(), seq, "a known entry is not logged again");
    // The relayed entries keep their original versions in this node's log.
    let log: Vec<_> = db.replica().changes_since(1).map(|r| r.unwrap()).collect();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].1, remote[1]);
    assert_eq!(log[1].1, remote[0]);
    // A later local write continues the remote clock, and its timestamp passes the remote one.
    let v = db.put(b"a", b"2").unwrap();
    assert_eq!(v.clock, 4);
    assert!(v.timestamp > 11);
}

#[test]
fn stale_and_conflicting_entries_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let local = db.put(b"k", b"local").unwrap();
    let local2 = db.put(b"k", b"local2").unwrap(); // clock 2
    let old = Entry {
        key: b"k".to_vec(),
        value: Some(b"old".to_vec()),
        version: Version {
            clock: 1,
            timestamp: local.timestamp + 100,
            origin: NodeId([1; 16]),
        },
        expires_at: None,
    };
    let tie_loses = Entry {
        key: b"k".to_vec(),
        value: Some(b"tie".to_vec()),
        version: Version {
            clock: 2,
            timestamp: 1,
            origin: NodeId([1; 16]),
        },
        expires_at: None,
    };
    let r = db
        .replica()
        .apply(&[old, tie_loses], &LastWriteWins)
        .unwrap();
    assert_eq!((r.applied, r.stale, r.conflicts), (0, 2, 1));
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"local2"[..]));
    let tie_wins = Entry {
        key: b"k".to_vec(),
        value: None,
        version: Version {
            clock: 2,
            // One second (HLC: milliseconds above 16 counter bits) past the write it must beat;
            // an offset from `local` alone lost whenever the two puts were 15 ms apart.
            timestamp: local2.timestamp + (1_000 << 16),
            origin: NodeId([1; 16]),
        },
        expires_at: None,
    };
    let r = db.replica().apply(&[tie_wins], &LastWriteWins).unwrap();
    assert_eq!((r.applied, r.conflicts), (1, 1));
    assert!(db.get_versioned(b"k").unwrap().unwrap().is_tombstone());
    assert!(db.verify().unwrap().is_clean());
}
