//! Expiry (loopback multicast, 100 ms interval, `expire_after` 3): a node shut down is dropped
//! from the others' peer sets once its announcements stop for `expire_after` intervals, while a
//! configured peer entry for it is kept; it comes back, at its new address, when it restarts. A
//! live peer whose announcements stop is dropped too, and its TCP connection is closed (checked in
//! `/proc/net/tcp`).

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    config, converged, discovering, group_socket, loopback_multicast, peers_of, start, start_in,
    wait_until, TestNode,
};
use meshkv::discovery::Announcement;
use meshkv::replication::PeerSource;
use meshkv::NodeConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_expires_and_returns_after_restart() {
    let multicast = loopback_multicast();
    let c = start(discovering(&multicast)).await;
    let c_old = c.addr();
    // A also lists C as a configured peer: that entry must never expire.
    let a = start(NodeConfig {
        peers: vec![c_old.clone()],
        ..discovering(&multicast)
    })
    .await;
    let b = start(discovering(&multicast)).await;
    let (an, bn) = (&a.node, &b.node);
    wait_until(Duration::from_secs(10), "all three connected", || {
        let (pa, pb) = (peers_of(an), peers_of(bn));
        pa.get(&c_old) == Some(&(PeerSource::Configured, true))
            && pa.get(&b.addr()) == Some(&(PeerSource::Discovered, true))
            && pb.get(&c_old) == Some(&(PeerSource::Discovered, true))
            && pb.get(&a.addr()) == Some(&(PeerSource::Discovered, true))
    })
    .await;

    let TestNode { dir, db, node } = c;
    node.shutdown().await.unwrap();
    drop(db);
    wait_until(Duration::from_secs(10), "C expired on A and B", || {
        an.status().discovery.unwrap().expired >= 1
            && bn.status().discovery.unwrap().expired >= 1
            && !peers_of(bn).contains_key(&c_old)
    })
    .await;
    // A's discovery forgot C too, but the configured entry stays; A and B keep each other.
    let (pa, pb) = (peers_of(an), peers_of(bn));
    assert_eq!(
        pa.get(&c_old).map(|p| p.0),
        Some(PeerSource::Configured),
        "{pa:?}"
    );
    assert_eq!(
        pa.get(&b.addr()),
        Some(&(PeerSource::Discovered, true)),
        "{pa:?}"
    );
    assert_eq!(pb.len(), 1, "{pb:?}");
    assert_eq!(pb.get(&a.addr()), Some(&(PeerSource::Discovered, true)));
    assert_eq!(bn.status().discovery.unwrap().peers, 1);

    // Restarted (same database, so the same node id, on a new port): heard, dialed again.
    let c = start_in(dir, discovering(&multicast)).await;
    let c_new = c.addr();
    assert_ne!(c_new, c_old);
    wait_until(Duration::from_secs(10), "C back on A and B", || {
        peers_of(an).get(&c_new) == Some(&(PeerSource::Discovered, true))
            && peers_of(bn).get(&c_new) == Some(&(PeerSource::Discovered, true))
    })
    .await;
    c.db.put(b"after-restart", b"1").unwrap();
    a.db.put(b"from-a", b"2").unwrap();
    converged(&[&a.db, &b.db, &c.db], 2, Duration::from_secs(10)).await;
    for n in [a, b, c] {
        n.node.shutdown().await.unwrap();
    }
}

/// Established TCP connections (IPv4) with `port` at either end.
#[cfg(target_os = "linux")]
fn established_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 3 && f[3] == "01" && (f[1].ends_with(&port) || f[2].ends_with(&port))
        })
        .count()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_peer_that_stops_announcing_is_dropped_and_disconnected() {
    let multicast = loopback_multicast();
    let a = start(discovering(&multicast)).await;
    // X replicates but does not discover: the test announces it on the group, then stops.
    let x = start(config(vec![])).await;
    let x_port = x.node.local_addr().port();
    let announcement = |ts: u64| {
        Announcement {
            cluster: "test".into(),
            node_id: x.db.node_id(),
            advertise: x.addr(),
            timestamp_ms: ts,
        }
        .encode(None)
    };
    let socket = group_socket(&multicast, false);
    let an = &a.node;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while peers_of(an).get(&x.addr()) != Some(&(PeerSource::Discovered, true)) {
        assert!(std::time::Instant::now() < deadline, "X never connected");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        socket
            .send_to(&announcement(now.as_millis() as u64), multicast.group)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(established_on(x_port) >= 1);
    // Silence: A drops X and closes its connection to X's listen port.
    wait_until(
        Duration::from_secs(10),
        "X dropped and disconnected",
        || !peers_of(an).contains_key(&x.addr()) && established_on(x_port) == 0,
    )
    .await;
    assert_eq!(an.status().discovery.unwrap().expired, 1);
    a.node.shutdown().await.unwrap();
    x.node.shutdown().await.unwrap();
}
