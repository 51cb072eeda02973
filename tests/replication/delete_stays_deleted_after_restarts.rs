//! A key written on A and deleted on B is gone on all three nodes, and stays gone after every
//! node restarts and syncs again.

use crate::common;

use std::time::Duration;

use common::{config, converged, start, start_in, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_delete_survives_restarts() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    let c = start(config(vec![a.addr(), b.addr()])).await;
    a.db.put(b"doomed", b"v").unwrap();
    let (bdb, cdb) = (b.db.clone(), c.db.clone());
    wait_until(Duration::from_secs(10), "the put to reach B and C", || {
        bdb.get(b"doomed").unwrap().is_some() && cdb.get(b"doomed").unwrap().is_some()
    })
    .await;
    drop((bdb, cdb));
    b.db.delete(b"doomed").unwrap();
    converged(&[&a.db, &b.db, &c.db], 1, Duration::from_secs(10)).await;
    wait_until(Duration::from_secs(10), "the delete everywhere", || {
        [&a.db, &b.db, &c.db]
            .iter()
            .all(|d| d.get(b"doomed").unwrap().is_none())
    })
    .await;

    // Restart every node, one after the other, each dialing the others' current addresses.
    let mut nodes = vec![a, b, c];
    for i in 0..3 {
        let old = nodes.remove(i);
        let peers: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
        old.node.shutdown().await.unwrap();
        let common::TestNode { dir, db, .. } = old;
        drop(db);
        let fresh = start_in(dir, config(peers)).await;
        nodes.insert(i, fresh);
    }
    let dbs: Vec<_> = nodes.iter().map(|n| n.db.clone()).collect();
    converged(&[&dbs[0], &dbs[1], &dbs[2]], 1, Duration::from_secs(10)).await;
    for db in &dbs {
        assert_eq!(db.get(b"doomed").unwrap(), None);
        assert!(db.get_versioned(b"doomed").unwrap().unwrap().is_tombstone());
    }
}
