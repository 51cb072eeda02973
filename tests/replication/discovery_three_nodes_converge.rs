//! Three nodes with empty peer lists and multicast discovery on (loopback only: interface
//! 127.0.0.1, TTL 0, a random group and port) find each other: each lists the two others as
//! `Discovered` peers, connected, and all three converge on every key. They hold a cluster key, so
//! every announcement is signed; one listens on the wildcard address `0.0.0.0` and announces the
//! interface address instead (`127.0.0.1:port`).

use crate::common;

use std::time::Duration;

use common::{converged, discovering, loopback_multicast, peers_of, start, wait_until};
use meshkv::replication::PeerSource;
use meshkv::NodeConfig;

const KEY: &[u8; 32] = b"discovery-test-key-0123456789abc";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_discovering_nodes_find_each_other_and_converge() {
    let multicast = loopback_multicast();
    let keyed = || NodeConfig {
        cluster_keys: vec![KEY.to_vec()],
        ..discovering(&multicast)
    };
    let a = start(keyed()).await;
    let b = start(keyed()).await;
    let wild = start(NodeConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..keyed()
    })
    .await;
    // The wildcard listener announces the discovery interface's address with its port.
    let wild_addr = format!("127.0.0.1:{}", wild.node.local_addr().port());
    assert_eq!(
        wild.node.status().discovery.unwrap().advertise,
        wild_addr,
        "a wildcard listen address is replaced by the interface address"
    );
    let nodes = [&a, &b, &wild];
    let addrs = [a.addr(), b.addr(), wild_addr];
    for (i, n) in nodes.iter().enumerate() {
        for k in 0..100 {
            n.db.put(format!("node{i}/key{k}"), format!("value {k} from {i}"))
                .unwrap();
        }
    }
    converged(&[&a.db, &b.db, &wild.db], 300, Duration::from_secs(20)).await;
    // Each knows exactly the two others, as discovered peers, connected.
    for (i, n) in nodes.iter().enumerate() {
        let node = &n.node;
        wait_until(Duration::from_secs(10), "both others connected", || {
            let peers = peers_of(node);
            peers.len() == 2
                && addrs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .all(|(_, addr)| peers.get(addr) == Some(&(PeerSource::Discovered, true)))
        })
        .await;
        let status = node.status();
        let discovery = status.discovery.unwrap();
        assert!(discovery.announcements_sent > 0, "{discovery:?}");
        assert!(discovery.accepted >= 2, "{discovery:?}");
        assert!(
            discovery.own > 0,
            "own announcements loop back: {discovery:?}"
        );
        assert_eq!(discovery.peers, 2, "{discovery:?}");
        assert_eq!(
            discovery.malformed + discovery.unauthenticated + discovery.foreign_cluster,
            0,
            "{discovery:?}"
        );
        assert_eq!(status.refused_inbound, 0);
    }
    // Writes after discovery flow too.
    b.db.put(b"late", b"write").unwrap();
    converged(&[&a.db, &b.db, &wild.db], 301, Duration::from_secs(10)).await;
    for n in [a, b, wild] {
        n.node.shutdown().await.unwrap();
    }
}
