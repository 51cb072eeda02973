//! A node's own writes are not sent back to it (no echo): of two nodes, each receives exactly the
//! other's writes and none of its own (`entries_received`). A node that lost its writes with its
//! data (an empty folder, restarted with the same node id) gets them back from a peer that holds
//! them. Its peer's cursor claims sequences the empty folder never handed out, but the folder's
//! new secret cannot prove that claim: the node does not halt, the peer is served everything
//! (so no reused sequence is skipped), and both converge. The feeds' `skip_held` leaves out only
//! the given node's writes since its open.

use crate::common;

use std::time::Duration;

use common::{config, contents, converged, start, start_db, wait_until};
use meshkv::{Db, Node, NodeId, Options};

fn received_from(node: &Node, peer: NodeId) -> u64 {
    node.status()
        .peers
        .iter()
        .filter(|p| p.node_id == Some(peer))
        .map(|p| p.entries_received)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_receives_only_the_other_nodes_writes() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    for k in 0..300 {
        a.db.put(format!("a/{k}"), b"from a").unwrap();
    }
    for k in 0..20 {
        b.db.put(format!("b/{k}"), b"from b").unwrap();
    }
    converged(&[&a.db, &b.db], 320, Duration::from_secs(20)).await;
    // Both directions are connected, and every round after the writes has ended.
    let (ida, idb) = (a.db.node_id(), b.db.node_id());
    wait_until(Duration::from_secs(10), "both pulls caught up", || {
        [(&a, idb), (&b, ida)].iter().all(|(n, peer)| {
            n.node
                .status()
                .peers
                .iter()
                .any(|p| p.node_id == Some(*peer) && p.connected && p.entries_behind == Some(0))
        })
    })
    .await;
    // Each node relogged the other's writes under its own sequences, yet sent none of them back.
    assert_eq!(received_from(&a.node, idb), 20, "{:?}", a.node.status());
    assert_eq!(received_from(&b.node, ida), 300, "{:?}", b.node.status());
    let applied: u64 = a
        .node
        .status()
        .peers
        .iter()
        .map(|p| p.entries_applied)
        .sum();
    assert_eq!(applied, 20);
    a.node.shutdown().await.unwrap();
    b.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_data_gets_its_own_writes_back() {
    let id = NodeId::random();
    let a_dir = tempfile::tempdir().unwrap();
    let a_db = Db::open(a_dir.path(), Options::default().node_id(id)).unwrap();
    let a_node = Node::start(a_db.clone(), config(vec![])).await.unwrap();
    let b = start(config(vec![a_node.local_addr().to_string()])).await;
    for k in 0..50 {
        a_db.put(format!("k{k}"), format!("v{k}")).unwrap();
    }
    a_db.delete("k7").unwrap();
    converged(&[&a_db, &b.db], 50, Duration::from_secs(20)).await;
    let before = contents(&a_db);

    // Everything `a` wrote is lost (as an unsynced log tail is in a power cut): same node id,
    // empty folder. Its peer still holds those writes and must send them back.
    a_node.shutdown().await.unwrap();
    drop(a_db);
    drop(a_dir);
    let fresh = tempfile::tempdir().unwrap();
    let a_db = Db::open(fresh.path(), Options::default().node_id(id)).unwrap();
    assert_eq!(a_db.node_id(), id);
    assert_eq!(
        a_db.replica().holds_own_writes_after(),
        None,
        "nothing is known of its old writes"
    );
    let a = start_db(fresh, a_db, config(vec![b.addr()])).await;
    // Its peer holds sequences of this id the empty folder never wrote, with a proof made under
    // the lost folder's secret: an unproven claim. Nothing halts; everything comes back.
    converged(&[&a.db, &b.db], 50, Duration::from_secs(20)).await;
    let an = &a.node;
    wait_until(Duration::from_secs(20), "the claim to be counted", || {
        an.status().unproven_rollback_claims >= 1
    })
    .await;
    assert_eq!(a.node.status().halted, None);
    // New writes of the reused id reach the peer, though their sequences were used before.
    for k in 0..5 {
        a.db.put(format!("new{k}"), "x").unwrap();
    }
    converged(&[&a.db, &b.db], 55, Duration::from_secs(20)).await;
    let mut before = before;
    before.extend(
        contents(&a.db)
            .into_iter()
            .filter(|(k, _)| k.starts_with(b"new")),
    );
    assert_eq!(contents(&a.db), before);
    a.node.shutdown().await.unwrap();
    b.node.shutdown().await.unwrap();
}

#[test]
fn feeds_leave_out_the_pullers_writes_since_its_open_and_keep_older_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("old", "written before the reopen").unwrap();
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("new", "written after the reopen").unwrap();
    let other = Db::open(tempfile::tempdir().unwrap().path(), Options::default()).unwrap();
    other.put("theirs", "written by another node").unwrap();
    let theirs: Vec<_> = other
        .replica()
        .changes_since(0)
        .map(|r| r.unwrap().1)
        .collect();
    db.replica().apply(&theirs, &meshkv::LastWriteWins).unwrap();

    let (me, after) = (db.node_id(), db.replica().holds_own_writes_after().unwrap());
    let keys = |entries: Vec<(u64, meshkv::replica::Entry)>| -> Vec<Vec<u8>> {
        let mut k: Vec<_> = entries.into_iter().map(|(_, e)| e.key).collect();
        k.sort();
        k
    };
    let expected = vec![b"old".to_vec(), b"theirs".to_vec()];
    let mut changes = db.replica().changes_since(0).skip_held(me, after);
    assert_eq!(keys(changes.next_batch(1 << 20).unwrap()), expected);
    assert_eq!(
        changes.high_seq(),
        db.last_seq(),
        "the cursor moves over skipped entries"
    );
    let mut full = db.replica().full_sync().skip_held(me, after);
    assert_eq!(keys(full.next_batch(1 << 20).unwrap()), expected);
    assert_eq!(full.high_seq(), db.last_seq());
    // Another node's filter leaves out that node's writes only.
    let after = other.replica().holds_own_writes_after().unwrap();
    let mut without_theirs = db
        .replica()
        .changes_since(0)
        .skip_held(other.node_id(), after);
    let expected = vec![b"new".to_vec(), b"old".to_vec()];
    assert_eq!(keys(without_theirs.next_batch(1 << 20).unwrap()), expected);
}
