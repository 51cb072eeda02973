//! Invariant 4 and the node identity: the sequence, the clocks and the node id survive a
//! restart; two databases never share a node id.

use meshkv::{Db, NodeId, Options};

#[test]
fn sequence_clock_and_node_id_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (id, seq, ts) = {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        for i in 0..50u32 {
            db.put(format!("k{}", i % 10), b"v").unwrap();
        }
        let v = db.put(b"k0", b"last").unwrap();
        (db.node_id(), db.last_seq(), v.timestamp)
    };
    assert_eq!(seq, 51);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.node_id(), id);
    assert_eq!(db.last_seq(), seq);
    let v = db.put(b"new", b"v").unwrap();
    assert!(v.timestamp > ts);
    assert_eq!(db.last_seq(), seq + 1);
    let (top, _) = db.changes_since(0).next().unwrap().unwrap();
    assert_eq!(
        top,
        seq + 1,
        "a write after restart gets a sequence above every earlier one"
    );
    assert_eq!(db.get_versioned(b"k0").unwrap().unwrap().version.clock, 6);
    // A puller whose cursor is the old high sequence sees the new write.
    let fresh: Vec<_> = db.changes_since(seq).map(|r| r.unwrap().1.key).collect();
    assert_eq!(fresh, vec![b"new".to_vec()]);
}

#[test]
fn sequence_survives_when_the_newest_entries_were_superseded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        for _ in 0..10 {
            db.put(b"same", b"v").unwrap();
        }
        db.delete(b"same").unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.last_seq(), 11);
    assert_eq!(db.put(b"other", b"v").unwrap().clock, 1);
    assert_eq!(db.last_seq(), 12);
}

#[test]
fn two_databases_never_share_a_node_id() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let da = Db::open(a.path(), Options::default()).unwrap();
    let db = Db::open(b.path(), Options::default()).unwrap();
    assert_ne!(da.node_id(), db.node_id());
}

#[test]
fn an_explicit_node_id_is_kept_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let id = NodeId([7; 16]);
    drop(Db::open(dir.path(), Options::default().node_id(id)).unwrap());
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.node_id(), id);
    drop(db);
    let err = Db::open(dir.path(), Options::default().node_id(NodeId([8; 16]))).unwrap_err();
    assert!(
        matches!(err, meshkv::Error::NodeIdMismatch { stored, .. } if stored == id),
        "{err}"
    );
}
