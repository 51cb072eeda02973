//! A node with a wrong cluster key receives nothing and gives nothing, and the others' status
//! shows the refusal; nodes with keys [k1] and [k2, k1] (a rotation in progress) sync.

use crate::common;

use std::time::Duration;

use common::{config, contents, converged, start, wait_until};
use meshkv::NodeConfig;

fn keyed(peers: Vec<String>, keys: &[&[u8; 32]]) -> NodeConfig {
    NodeConfig {
        cluster_keys: keys.iter().map(|k| k.to_vec()).collect(),
        ..config(peers)
    }
}

const K1: &[u8; 32] = b"k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1";
const K2: &[u8; 32] = b"k2-k2-k2-k2-k2-k2-k2-k2-k2-k2-k2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_gets_nothing_and_gives_nothing() {
    let _memory = common::attack::sharing_memory().await;
    let a = start(keyed(vec![], &[K1])).await;
    let b = start(keyed(vec![a.addr()], &[K1])).await;
    let intruder = start(keyed(vec![a.addr(), b.addr()], &[K2])).await;
    a.db.put(b"a-secret", b"1").unwrap();
    intruder.db.put(b"intruder", b"x").unwrap();
    converged(&[&a.db, &b.db], 1, Duration::from_secs(10)).await;
    let (an, bn) = (&a.node, &b.node);
    wait_until(
        Duration::from_secs(10),
        "refusals counted on A and B",
        || an.status().refused_inbound >= 2 && bn.status().refused_inbound >= 2,
    )
    .await;
    let status = intruder.node.status();
    assert!(
        status.peers.iter().all(|p| !p.connected && p.refused > 0),
        "{status:?}"
    );
    assert!(status.peers.iter().all(|p| p
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("handshake")));
    assert_eq!(intruder.db.get(b"a-secret").unwrap(), None);
    assert_eq!(a.db.get(b"intruder").unwrap(), None);
    assert_eq!(b.db.get(b"intruder").unwrap(), None);
    assert_eq!(contents(&intruder.db).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_in_progress_still_syncs() {
    let _memory = common::attack::sharing_memory().await;
    let old = start(keyed(vec![], &[K1])).await;
    let new = start(keyed(vec![old.addr()], &[K2, K1])).await;
    old.db.put(b"from-old", b"1").unwrap();
    new.db.put(b"from-new", b"2").unwrap();
    converged(&[&old.db, &new.db], 2, Duration::from_secs(15)).await;
}
