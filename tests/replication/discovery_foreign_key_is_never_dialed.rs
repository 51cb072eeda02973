//! On one multicast group (loopback only), two nodes with cluster key K1 find each other while a
//! node of the same cluster name with another key, and one of another cluster with K1, announce
//! alongside: neither is ever in the keyed nodes' peer sets, dialed, or dialing, and the keyed
//! nodes' status counts their announcements as `unauthenticated` and `foreign_cluster`.

use crate::common;

use std::time::Duration;

use common::{converged, discovering, loopback_multicast, peers_of, start, wait_until};
use meshkv::NodeConfig;

const K1: &[u8; 32] = b"k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1";
const K2: &[u8; 32] = b"k2-k2-k2-k2-k2-k2-k2-k2-k2-k2-k2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_key_or_cluster_is_never_dialed_and_is_counted() {
    let multicast = loopback_multicast();
    let keyed = |key: &[u8; 32], cluster: &str| NodeConfig {
        cluster_keys: vec![key.to_vec()],
        cluster: cluster.into(),
        ..discovering(&multicast)
    };
    let intruder = start(keyed(K2, "test")).await;
    let stranger = start(keyed(K1, "another-cluster")).await;
    let a = start(keyed(K1, "test")).await;
    let b = start(keyed(K1, "test")).await;
    a.db.put(b"from-a", b"1").unwrap();
    b.db.put(b"from-b", b"2").unwrap();
    intruder.db.put(b"from-intruder", b"x").unwrap();
    stranger.db.put(b"from-stranger", b"y").unwrap();
    let outsiders = [intruder.addr(), stranger.addr()];
    let never_dialed = |node: &meshkv::Node| {
        let peers = peers_of(node);
        assert!(
            outsiders.iter().all(|o| !peers.contains_key(o)),
            "an outsider is in the peer set: {peers:?}"
        );
    };
    converged(&[&a.db, &b.db], 2, Duration::from_secs(20)).await;
    let (an, bn) = (&a.node, &b.node);
    wait_until(
        Duration::from_secs(10),
        "several rejected announcements of each outsider on A and B",
        || {
            never_dialed(an);
            never_dialed(bn);
            [an, bn].iter().all(|n| {
                let d = n.status().discovery.unwrap();
                d.unauthenticated >= 3 && d.foreign_cluster >= 3
            })
        },
    )
    .await;
    for n in [an, bn] {
        let status = n.status();
        assert_eq!(status.peers.len(), 1, "{status:?}");
        assert_eq!(
            status.refused_inbound, 0,
            "no outsider ever dialed: {status:?}"
        );
        let d = status.discovery.unwrap();
        assert_eq!(d.peers, 1, "{d:?}");
        assert!(d.rejected() >= 6, "{d:?}");
    }
    // The outsiders hear the keyed nodes but reject them the same way: they dial nobody.
    for outsider in [&intruder, &stranger] {
        let status = outsider.node.status();
        assert!(status.peers.is_empty(), "{status:?}");
        let d = status.discovery.unwrap();
        assert!(d.unauthenticated + d.foreign_cluster > 0, "{d:?}");
    }
    assert_eq!(a.db.get(b"from-intruder").unwrap(), None);
    assert_eq!(b.db.get(b"from-stranger").unwrap(), None);
    assert_eq!(intruder.db.get(b"from-a").unwrap(), None);
    for n in [a, b, intruder, stranger] {
        n.node.shutdown().await.unwrap();
    }
}
