//! Scans list live keys in order over every kind of range bound and over prefixes (including ones
//! that end in 0xff), skip tombstones, and see one consistent view: the point in time the scan
//! started. The `Db` handle is a cheap `Send + Sync` clone.

use std::ops::Bound;

use meshkv::{Db, Options};

fn keys(items: impl Iterator<Item = meshkv::Result<(Vec<u8>, Vec<u8>)>>) -> Vec<Vec<u8>> {
    items.map(|r| r.unwrap().0).collect()
}

fn setup() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for k in ["a", "b", "c", "d", "e"] {
        db.put(k, k.to_uppercase()).unwrap();
    }
    db.delete("c").unwrap();
    (dir, db)
}

#[test]
fn ranges_of_every_bound_kind() {
    let (_dir, db) = setup();
    let v = |s: &[&str]| s.iter().map(|k| k.as_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(
        keys(db.scan(b"b".as_slice()..b"e".as_slice())),
        v(&["b", "d"])
    );
    assert_eq!(
        keys(db.scan(b"b".as_slice()..=b"e".as_slice())),
        v(&["b", "d", "e"])
    );
    assert_eq!(keys(db.scan(..b"b".as_slice())), v(&["a"]));
    assert_eq!(keys(db.scan(b"d".as_slice()..)), v(&["d", "e"]));
    assert_eq!(
        keys(db.scan::<std::ops::RangeFull>(..)),
        v(&["a", "b", "d", "e"])
    );
    let excluded = (
        Bound::Excluded(b"a".as_slice()),
        Bound::Excluded(b"e".as_slice()),
    );
    assert_eq!(keys(db.scan(excluded)), v(&["b", "d"]));
    assert!(keys(db.scan(b"x".as_slice()..b"z".as_slice())).is_empty());
    assert!(keys(db.scan(..b"".as_slice())).is_empty());
    let (k, val) = db
        .scan(b"a".as_slice()..=b"a".as_slice())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!((k, val), (b"a".to_vec(), b"A".to_vec()));
}

#[test]
fn prefixes_including_ones_that_end_in_0xff() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for k in [
        &b"user/1"[..],
        b"user/2",
        b"users",
        b"user0",
        &[0xff, 0xff, 1],
        &[0xff, 0xff],
    ] {
        db.put(k, b"v").unwrap();
    }
    db.delete(b"user/2").unwrap();
    assert_eq!(keys(db.scan_prefix(b"user/")), vec![b"user/1".to_vec()]);
    assert_eq!(keys(db.scan_prefix(b"user")).len(), 3);
    assert_eq!(
        keys(db.scan_prefix([0xff, 0xff])),
        vec![vec![0xff, 0xff], vec![0xff, 0xff, 1]]
    );
    assert_eq!(keys(db.scan_prefix(b"")).len(), 5);
}

#[test]
fn a_scan_sees_the_view_of_its_start() {
    let (_dir, db) = setup();
    let mut scan = db.scan_prefix(b"");
    let first = scan.next().unwrap().unwrap();
    db.put("bb", "new").unwrap();
    db.delete("e").unwrap();
    let rest = keys(scan);
    assert_eq!(first.0, b"a");
    assert_eq!(rest, vec![b"b".to_vec(), b"d".to_vec(), b"e".to_vec()]);
}

#[test]
fn handle_is_a_cheap_send_sync_clone() {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    send_sync::<Db>();
    let (_dir, db) = setup();
    let other = db.clone();
    std::thread::spawn(move || other.put("from-thread", "x").unwrap())
        .join()
        .unwrap();
    assert_eq!(db.get("from-thread").unwrap(), Some(b"x".to_vec()));
    assert_eq!(db.node_id(), db.clone().node_id());
}
