//! `Db::delete_all` (what RESP `FLUSHALL` runs) converges and keeps exactly the concurrent
//! writes that beat it. Node A holds k1 and k2 (also on B); while they are apart, B writes k2
//! again and a new key k3, and A clears everything. Whatever the order the two nodes' entries
//! meet in, both end with: k1 deleted (nobody wrote it again), k2 the later of A's delete and
//! B's put (equal key clocks: last writer wins), k3 kept (A never held it), and a key A wrote
//! after its clear kept. A clear of more keys than one batch deletes them all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::common::open_at;
use meshkv::replica::Entry;
use meshkv::{Db, LastWriteWins, DELETE_ALL_BATCH};

fn entries_after(db: &Db, seq: u64) -> Vec<Entry> {
    db.replica()
        .changes_since(seq)
        .map(|r| r.unwrap().1)
        .collect()
}

fn state(db: &Db) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    ["k1", "k2", "k3", "after"]
        .iter()
        .map(|k| (k.as_bytes().to_vec(), db.get(k).unwrap()))
        .collect()
}

#[test]
fn concurrent_writes_survive_a_clear_exactly_when_they_beat_it() {
    for (b_later, a_first) in [(false, true), (false, false), (true, true), (true, false)] {
        let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let clock = Arc::new(AtomicU64::new(1_800_000_000_000));
        let (a, b) = (open_at(da.path(), &clock), open_at(db_dir.path(), &clock));
        a.put(b"k1", b"a1").unwrap();
        a.put(b"k2", b"a2").unwrap();
        b.replica()
            .apply(&entries_after(&a, 0), &LastWriteWins)
            .unwrap();
        let (a_seen, b_seen) = (a.last_seq(), b.last_seq());
        // Apart: B's put of k2 and A's clear, in one order or the other in time.
        let tick = |ms| clock.fetch_add(ms, Ordering::SeqCst);
        if b_later {
            tick(10);
            assert_eq!(a.delete_all().unwrap(), 2);
            tick(10);
            b.put(b"k2", b"b2").unwrap();
        } else {
            tick(10);
            b.put(b"k2", b"b2").unwrap();
            tick(10);
            assert_eq!(a.delete_all().unwrap(), 2);
        }
        b.put(b"k3", b"b3").unwrap();
        a.put(b"after", b"x").unwrap();
        // They meet, either side first.
        let from_a = entries_after(&a, a_seen);
        let from_b = entries_after(&b, b_seen);
        if a_first {
            b.replica().apply(&from_a, &LastWriteWins).unwrap();
            a.replica().apply(&from_b, &LastWriteWins).unwrap();
        } else {
            a.replica().apply(&from_b, &LastWriteWins).unwrap();
            b.replica().apply(&from_a, &LastWriteWins).unwrap();
        }
        let expect_k2 = b_later.then(|| b"b2".to_vec());
        let want = vec![
            (b"k1".to_vec(), None),
            (b"k2".to_vec(), expect_k2),
            (b"k3".to_vec(), Some(b"b3".to_vec())),
            (b"after".to_vec(), Some(b"x".to_vec())),
        ];
        assert_eq!(state(&a), want, "A, B later: {b_later}, A first: {a_first}");
        assert_eq!(state(&b), want, "B, B later: {b_later}, A first: {a_first}");
        assert!(a.verify().unwrap().is_clean() && b.verify().unwrap().is_clean());
    }
}

#[test]
fn a_clear_of_more_than_one_batch_deletes_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(1_800_000_000_000));
    let db = open_at(dir.path(), &clock);
    let n = DELETE_ALL_BATCH + 17;
    let mut batch = db.batch();
    for i in 0..n {
        if i % 2 == 0 {
            batch.put(format!("k{i:06}"), b"v");
        } else {
            batch.put_with_ttl(format!("k{i:06}"), b"v", std::time::Duration::from_secs(60));
        }
    }
    db.write(batch).unwrap();
    assert_eq!(db.key_count(), n as u64);
    assert_eq!(db.delete_all().unwrap(), n as u64);
    assert_eq!((db.key_count(), db.expiring_key_count()), (0, 0));
    assert_eq!(db.live_keys().unwrap(), 0);
    assert_eq!(db.delete_all().unwrap(), 0);
    assert!(db.verify().unwrap().is_clean());
}
