//! The clock scenario of the storage issue: per-key logical clocks across single puts, deletes and
//! a batch, and a log that keeps exactly one entry per key.

use meshkv::replica::Op;
use meshkv::{Db, Options};

#[test]
fn clocks_count_every_write_and_the_log_keeps_one_entry_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();

    let v = db.put(b"normal_put", b"1").unwrap();
    assert_eq!(v.clock, 1);
    assert_eq!(v.origin, db.node_id());

    let mut batch = db.batch();
    batch.put(b"batched_put", b"2");
    batch.delete(b"normal_put");
    let vs = db.write(batch).unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0].clock, 1, "batched_put is new");
    assert_eq!(vs[1].clock, 2, "normal_put's delete increments its clock");

    let v = db.delete(b"batched_put").unwrap();
    assert_eq!(v.clock, 2);

    let log: Vec<_> = db.replica().changes_since(0).map(|r| r.unwrap()).collect();
    assert_eq!(log.len(), 2, "exactly two log entries: {log:?}");
    for (_, entry) in &log {
        assert_eq!(entry.op(), Op::Delete);
        assert_eq!(entry.version.clock, 2);
    }
    // Newest first.
    assert_eq!(log[0].1.key, b"batched_put");
    assert_eq!(log[1].1.key, b"normal_put");
    assert!(log[0].0 > log[1].0);

    for key in [&b"normal_put"[..], b"batched_put"] {
        let rec = db.get_versioned(key).unwrap().unwrap();
        assert!(rec.is_tombstone());
        assert_eq!(rec.version.clock, 2);
        assert_eq!(db.get(key).unwrap(), None);
    }
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        (report.live_keys, report.tombstones, report.log_entries),
        (0, 2, 2)
    );
}

#[test]
fn timestamps_increase_within_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut last = 0;
    for i in 0..1000u32 {
        let v = db.put(i.to_be_bytes(), b"x").unwrap();
        assert!(v.timestamp > last);
        last = v.timestamp;
    }
}

#[test]
fn a_key_named_twice_in_a_batch_keeps_its_last_operation() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut batch = db.batch();
    batch
        .put(b"k", b"first")
        .put(b"k", b"second")
        .delete(b"other");
    let vs = db.write(batch).unwrap();
    assert_eq!(vs.iter().map(|v| v.clock).collect::<Vec<_>>(), [1, 2, 1]);
    let rec = db.get_versioned(b"k").unwrap().unwrap();
    assert_eq!(rec.value.as_deref(), Some(&b"second"[..]));
    assert_eq!(rec.version, vs[1]);
    assert_eq!(db.replica().changes_since(0).count(), 2);
    assert!(db.verify().unwrap().is_clean());
}
