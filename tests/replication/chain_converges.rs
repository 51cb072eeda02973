//! A chain A-B-C (A and C never configured to each other) converges: B relays with the original
//! versions, so C holds A's writes with A's versions.

use crate::common;

use std::time::Duration;

use common::{config, contents, converged, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_converges_through_the_middle_node() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    let c = start(config(vec![b.addr()])).await;
    a.db.put(b"from-a", b"1").unwrap();
    c.db.put(b"from-c", b"3").unwrap();
    b.db.put(b"from-b", b"2").unwrap();
    converged(&[&a.db, &b.db, &c.db], 3, Duration::from_secs(10)).await;
    // C got A's write with A's version, through B.
    let on_c = contents(&c.db);
    assert_eq!(on_c[&b"from-a".to_vec()].1.origin, a.db.node_id());
    // A and C never connected to each other.
    let a_peers: Vec<_> = a
        .node
        .status()
        .peers
        .into_iter()
        .map(|p| p.node_id)
        .collect();
    assert!(!a_peers.contains(&Some(c.db.node_id())), "{a_peers:?}");
}
