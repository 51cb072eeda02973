//! The anti-entropy digests (`storage::digest`) of two databases that hold the same writes are
//! equal, whatever each node's own history (writes replaced on the way, deadlines, deletes,
//! expiries, a reopen); a single difference between them (a missing write, another version of
//! a key) shows in exactly its key's segment, and `versions_in_segments` names the key.

use std::time::Duration;

use meshkv::replica::{differing_segments, segment_of, Entry};
use meshkv::{Db, LastWriteWins, NodeId, Options};

/// Every entry of `from`, applied to `to` in `chunk`-sized batches, oldest last (the feed is
/// newest first).
fn copy(from: &Db, to: &Db, chunk: usize) {
    let entries: Vec<Entry> = from
        .replica()
        .changes_since(0)
        .map(|r| r.unwrap().1)
        .collect();
    for part in entries.chunks(chunk) {
        to.replica().apply(part, &LastWriteWins).unwrap();
    }
}

#[test]
fn equal_contents_equal_digests_and_one_difference_is_named() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let open = |i: usize| {
        Db::open(
            dirs[i].path(),
            Options::default().node_id(NodeId([i as u8 + 1; 16])),
        )
        .unwrap()
    };
    let a = open(0);
    for i in 0..2_000u32 {
        let key = format!("key:{:05}", i % 700);
        match i % 7 {
            0 => drop(a.delete(&key).unwrap()),
            1 => drop(
                a.put_with_ttl(&key, b"brief", Duration::from_secs(3600))
                    .unwrap(),
            ),
            2 => drop(a.expire(&key, Duration::ZERO).unwrap()),
            3 => drop(a.persist(&key).unwrap()),
            _ => drop(a.put(&key, i.to_be_bytes()).unwrap()),
        }
    }
    let (b, c) = (open(1), open(2));
    copy(&a, &b, 1);
    copy(&a, &c, 97);
    for db in [&a, &b, &c] {
        assert!(
            db.verify().unwrap().is_clean(),
            "{:?}",
            db.verify().unwrap()
        );
    }
    let da = a.replica().digests();
    assert_eq!(da.ranges(), b.replica().digests().ranges());
    assert_eq!(da, c.replica().digests());

    // The digests made at open from the index are the ones the commits kept.
    drop(c);
    let c = open(2);
    assert_eq!(c.replica().digests(), da);

    // One key gets a newer version on B only; one key is missing on C (a write A made after
    // the copy). Each difference is found in its segment and nowhere else.
    b.put(b"key:00042", b"only on b").unwrap();
    a.put(b"key:new", b"only on a").unwrap();
    let (db_, dc) = (b.replica().digests(), c.replica().digests());
    let da = a.replica().digests();
    let ab = differing_segments(&da, &db_);
    assert_eq!(
        ab,
        {
            let mut s = vec![segment_of(b"key:00042"), segment_of(b"key:new")];
            s.sort();
            s.dedup();
            s
        },
        "B differs from A by its write and by A's new key"
    );
    assert_eq!(differing_segments(&da, &dc), vec![segment_of(b"key:new")]);
    let on_a = a
        .replica()
        .versions_in_segments(&[segment_of(b"key:new")])
        .unwrap();
    let on_c = c
        .replica()
        .versions_in_segments(&[segment_of(b"key:new")])
        .unwrap();
    let missing: Vec<_> = on_a.iter().filter(|kv| !on_c.contains(kv)).collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].0, b"key:new");

    // The repair read is bounded in bytes (at least one entry) and says how far it went.
    let keys = vec![
        b"key:00001".to_vec(),
        b"key:00004".to_vec(),
        b"no such key".to_vec(),
    ];
    let (one, done) = a.replica().entries_of(&keys, 1).unwrap();
    assert_eq!((one.len(), done), (1, 1));
    let (all, done) = a.replica().entries_of(&keys, 1 << 20).unwrap();
    assert_eq!(
        (all.len(), done),
        (2, 3),
        "a key without a record is left out"
    );

    // Repaired by applying what C lacks: equal again.
    copy(&a, &c, 50);
    assert_eq!(a.replica().digests(), c.replica().digests());
}
