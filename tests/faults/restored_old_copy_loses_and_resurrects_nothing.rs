//! A node restored from an old copy of its data folder (taken while it was stopped; it wrote,
//! deleted and overwrote keys afterwards) starts again, and hands out sequence numbers its peers
//! already saw from its lost life (the copy's sequence lease is the one the lost life started
//! from). The first peer that pulls from it shows a cursor at or above its sequence floor read
//! from another incarnation: the node stops replicating (`NodeStatus::halted`), marks the folder,
//! and refuses to start again (`Error::RolledBack`) until `Db::renew_node_id` gives it a new
//! identity. Then it rejoins, and nothing it did after the copy, nor after the restore, is lost
//! or undone anywhere: its peers hand its old writes back and pull everything from the new id, so
//! every node holds exactly what it held before the restore plus the new write.
//! `meshkv renew-id DIR` gives a folder a new identity the same way.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::jepsen::cluster::{settle, Cluster};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_an_old_copy_rejoins_without_loss_or_resurrection() {
    let mut c = Cluster::start(3, true).await;
    for k in 0..20 {
        c.db(2).put(format!("k{k}"), "old").unwrap();
    }
    settle(&c.dbs(), Duration::from_secs(20)).await;

    // The copy, taken while node 2 is stopped.
    c.stop_node(2).await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&c.members[2].dir, backup.path());
    c.start_node(2).await;

    // What node 2 does after the copy.
    for k in 0..5 {
        c.db(2).delete(format!("k{k}")).unwrap();
    }
    for k in 5..10 {
        c.db(2).put(format!("k{k}"), "new").unwrap();
    }
    for k in 0..10 {
        c.db(2).put(format!("n{k}"), "after the copy").unwrap();
    }
    settle(&c.dbs(), Duration::from_secs(20)).await;
    let id = c.db(2).node_id();
    let seen: u64 = (0..2)
        .map(|i| {
            c.db(i)
                .replica()
                .peer_cursor(id)
                .unwrap()
                .map_or(0, |p| p.seq)
        })
        .max()
        .unwrap();
    let expected = common::contents(c.db(0));

    // Node 2's folder is lost and restored from the copy.
    c.stop_node(2).await;
    std::fs::remove_dir_all(&c.members[2].dir).unwrap();
    copy_dir(backup.path(), &c.members[2].dir);
    // Cut off until its first write: were it to pull first, applying its own later writes
    // relayed back would take sequences past the ones the peers saw (no reuse to find).
    c.net.partition(&[2], &[0, 1]);
    c.start_node(2).await;
    assert_eq!(c.db(2).get("k0").unwrap().as_deref(), Some(&b"old"[..]));
    // A write that reuses a sequence a peer already saw from the lost life.
    c.db(2).put("written-after-the-restore", "x").unwrap();
    assert!(
        c.db(2).last_seq() <= seen,
        "no reuse: the scenario did not happen"
    );
    c.net.heal();
    common::wait_until(Duration::from_secs(20), "the rollback to be found", || {
        c.members[2]
            .node
            .as_ref()
            .is_some_and(|n| n.status().halted.is_some())
    })
    .await;
    c.stop_node(2).await;
    match c.try_start_node(2).await {
        Err(meshkv::Error::RolledBack { detail }) => assert!(detail.contains("old copy")),
        other => panic!("a rolled-back folder started: {:?}", other.map(|_| ())),
    }
    let new_id = meshkv::Db::renew_node_id(&c.members[2].dir, meshkv::Options::default()).unwrap();
    assert_ne!(new_id, id);
    c.start_node(2).await;
    assert_eq!(c.db(2).node_id(), new_id);

    settle(&c.dbs(), Duration::from_secs(30)).await;
    let mut now = common::contents(c.db(0));
    now.remove(&b"written-after-the-restore"[..]);
    assert_eq!(now, expected, "the restored node undid or lost something");
    for i in 0..3 {
        let db = c.db(i);
        assert!(
            db.get("k3").unwrap().is_none(),
            "k3 resurrected on node {i}"
        );
        assert_eq!(db.get("k7").unwrap().as_deref(), Some(&b"new"[..]));
        assert!(db.get("n9").unwrap().is_some());
        assert!(db.verify().unwrap().is_clean());
    }
    c.shutdown().await;
}

#[test]
fn meshkv_renew_id_gives_a_folder_a_new_identity() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let db = meshkv::Db::open(dir.path(), meshkv::Options::default()).unwrap();
        db.put("k", "v").unwrap();
        db.replica().mark_rolled_back("test").unwrap();
        db.node_id()
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meshkv"))
        .arg("renew-id")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let db = meshkv::Db::open(dir.path(), meshkv::Options::default()).unwrap();
    assert_ne!(db.node_id(), id);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&db.node_id().to_string()));
    assert_eq!(db.replica().rolled_back().unwrap(), None);
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}
