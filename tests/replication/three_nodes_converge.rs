//! Three nodes with full peer lists each write their own keys; all three end with all keys and
//! identical contents and versions.

use crate::common;

use std::time::Duration;

use common::{config, converged, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_with_full_peer_lists_converge() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    let c = start(config(vec![a.addr(), b.addr()])).await;
    // a learns b and c from their hellos; b learns c the same way.
    for (i, n) in [&a, &b, &c].into_iter().enumerate() {
        for k in 0..200 {
            n.db.put(format!("node{i}/key{k}"), format!("value {k} from {i}"))
                .unwrap();
        }
        n.db.delete(format!("node{i}/key7")).unwrap();
    }
    converged(&[&a.db, &b.db, &c.db], 600, Duration::from_secs(20)).await;
    assert_eq!(
        a.db.get("node2/key5").unwrap().as_deref(),
        Some(&b"value 5 from 2"[..])
    );
    assert!(c
        .db
        .get_versioned("node0/key7")
        .unwrap()
        .unwrap()
        .is_tombstone());
    let status = a.node.status();
    assert_eq!(status.peers.len(), 2, "{status:?}");
    assert!(status
        .peers
        .iter()
        .all(|p| p.connected && p.node_id.is_some()));
    a.node.shutdown().await.unwrap();
    b.node.shutdown().await.unwrap();
    c.node.shutdown().await.unwrap();
}
