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
    assert!(
        db.last_seq() > seq,
        "the sequence resumes above its persisted lease"
    );
    let (top, _) = db.replica().changes_since(0).next().unwrap().unwrap();
    assert_eq!(top, db.last_seq(), "the new write is the newest entry");
    assert_eq!(db.get_versioned(b"k0").unwrap().unwrap().version.clock, 6);
    // A puller whose cursor is the old high sequence sees the new write.
    let fresh: Vec<_> = db
        .replica()
        .changes_since(seq)
        .map(|r| r.unwrap().1.key)
        .collect();
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
    assert!(db.last_seq() > 11);
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

fn put_meta(path: &std::path::Path, name: &[u8], value: u64) {
    let (mut opts, cfs) = meshkv::storage::rocksdb_options(&Options::default());
    opts.create_if_missing(false);
    let raw = rocksdb::DB::open_cf_descriptors(&opts, path, cfs).unwrap();
    let meta = raw.cf_handle(meshkv::storage::keys::cf::META).unwrap();
    raw.put_cf(meta, name, value.to_be_bytes()).unwrap();
}

#[test]
fn the_clock_restarts_above_its_persisted_lease() {
    use meshkv::storage::keys::meta;
    let dir = tempfile::tempdir().unwrap();
    drop(Db::open(dir.path(), Options::default()).unwrap());
    // As if the wall clock had run far ahead before the restart and then came back.
    let far =
        meshkv::record::hlc::wall_clock() + (3_600_000u64 << meshkv::record::hlc::LOGICAL_BITS);
    put_meta(dir.path(), meta::HLC_LEASE, far);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(db.put(b"k", b"v").unwrap().timestamp > far);
}

#[test]
fn sequences_are_never_reused_even_when_the_log_tail_is_lost() {
    use meshkv::storage::keys::meta;
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put(b"a", b"1").unwrap();
    }
    // The lease says sequences up to 999 may have been handed out (and pulled by a peer), even
    // though the log (its unsynced tail lost in a power cut) only shows sequence 1.
    put_meta(dir.path(), meta::SEQ_LEASE, 1000);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"b", b"2").unwrap();
    let (seq, _) = db.replica().changes_since(0).next().unwrap().unwrap();
    assert!(
        seq >= 1000,
        "sequence {seq} may repeat one a peer already has"
    );
    // A peer holding a cursor from the lost tail sees the new write.
    let fresh: Vec<_> = db
        .replica()
        .changes_since(999)
        .map(|r| r.unwrap().1.key)
        .collect();
    assert_eq!(fresh, vec![b"b".to_vec()]);
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn a_cursor_from_another_life_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"a", b"1").unwrap();
    let changes = db.replica().changes_since(500);
    assert!(changes.cursor_ahead());
    assert_eq!(changes.count(), 0);
    assert!(!db.replica().changes_since(1).cursor_ahead());
    assert!(!db.replica().changes_since(0).cursor_ahead());
}

#[test]
fn the_node_secret_survives_reopen_and_renew_id_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let proof = |db: &Db| db.replica().cursor_prover().prove(7, 100);
    let (first, peer) = {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let peer = NodeId::random();
        // A cursor keeps the peer's proof with it; one without a proof stays without.
        let cursor = meshkv::replica::PeerCursor {
            seq: 100,
            incarnation: 7,
            proof: Some([0x5A; 32]),
        };
        db.replica().set_peer_cursor(peer, cursor).unwrap();
        assert_eq!(db.replica().peer_cursor(peer).unwrap(), Some(cursor));
        let bare = NodeId::random();
        let no_proof = meshkv::replica::PeerCursor {
            proof: None,
            ..cursor
        };
        db.replica().set_peer_cursor(bare, no_proof).unwrap();
        assert_eq!(db.replica().peer_cursor(bare).unwrap(), Some(no_proof));
        (proof(&db), peer)
    };
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(proof(&db), first, "the same secret after a reopen");
    assert!(db.replica().cursor_prover().verify(7, 100, &first));
    assert!(db.replica().peer_cursor(peer).unwrap().is_some());
    drop(db);
    Db::renew_node_id(dir.path(), Options::default()).unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(
        !db.replica().cursor_prover().verify(7, 100, &first),
        "a renewed folder cannot prove its old identity's cursors"
    );
    assert_eq!(db.replica().peer_cursor(peer).unwrap(), None);
}
