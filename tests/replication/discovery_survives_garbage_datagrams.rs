//! Garbage on the multicast group (loopback only): random bytes, an empty datagram, every
//! truncation of a real announcement, oversized datagrams, a replayed announcement, another
//! cluster's and a wrongly signed one (the nodes have no key). Each is counted under its reason and
//! ignored, nothing reaches the peer set, and the listeners keep going: a node started afterwards
//! is discovered and everything converges.

use crate::common;

use std::time::Duration;

use common::{
    capture_announcement, converged, discovering, group_socket, loopback_multicast, peers_of,
    start, wait_until,
};
use meshkv::discovery::announcement::{self, derive_key, MAX_DATAGRAM};
use meshkv::discovery::Announcement;
use meshkv::replication::PeerSource;
use rand::{Rng, RngCore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_counted_and_ignored_and_discovery_keeps_working() {
    let multicast = loopback_multicast();
    let a = start(discovering(&multicast)).await;
    let b = start(discovering(&multicast)).await;

    // A real announcement of B, heard on the group.
    let captured = capture_announcement(&multicast, b.db.node_id());
    let an = &a.node;
    wait_until(
        Duration::from_secs(5),
        "A accepted B's announcements",
        || an.status().discovery.unwrap().accepted >= 2,
    )
    .await;

    let sender = group_socket(&multicast, false);
    let send = |bytes: &[u8]| {
        sender.send_to(bytes, multicast.group).unwrap();
    };
    let mut rng = rand::rng();
    let mut malformed = 0u64;
    for _ in 0..40 {
        let mut bytes = vec![0u8; rng.random_range(1..300)];
        rng.fill_bytes(&mut bytes);
        send(&bytes);
        malformed += 1;
    }
    for n in 0..captured.len() {
        send(&captured[..n]); // n = 0: an empty datagram
        malformed += 1;
    }
    let mut flipped_version = captured.clone();
    flipped_version[9] ^= 0x40;
    send(&flipped_version);
    malformed += 1;
    for len in [MAX_DATAGRAM + 1, 2000, 60_000] {
        send(&vec![b'm'; len]);
    }
    send(&captured); // B's own bytes again: not newer than what A took
    let base = announcement::decode(&captured).unwrap().announcement;
    send(
        &Announcement {
            cluster: "another-cluster".into(),
            ..base.clone()
        }
        .encode(None),
    );
    send(&base.encode(Some(&derive_key(b"a key nobody here holds"))));

    wait_until(Duration::from_secs(10), "every datagram counted", || {
        let d = an.status().discovery.unwrap();
        d.malformed >= malformed
            && d.too_large >= 3
            && d.replayed >= 1
            && d.foreign_cluster >= 1
            && d.unauthenticated >= 1
    })
    .await;
    let d = an.status().discovery.unwrap();
    assert_eq!(
        (
            d.malformed,
            d.too_large,
            d.foreign_cluster,
            d.unauthenticated
        ),
        (malformed, 3, 1, 1),
        "{d:?}"
    );
    // Nothing of it reached the peer set.
    assert_eq!(peers_of(an).len(), 1, "{:?}", peers_of(an));

    // The listeners survived: a newcomer is discovered by both, and writes converge.
    let c = start(discovering(&multicast)).await;
    let bn = &b.node;
    wait_until(Duration::from_secs(10), "C discovered by A and B", || {
        peers_of(an).get(&c.addr()) == Some(&(PeerSource::Discovered, true))
            && peers_of(bn).get(&c.addr()) == Some(&(PeerSource::Discovered, true))
    })
    .await;
    c.db.put(b"from-c", b"1").unwrap();
    a.db.put(b"from-a", b"2").unwrap();
    converged(&[&a.db, &b.db, &c.db], 2, Duration::from_secs(10)).await;
    for n in [a, b, c] {
        n.node.shutdown().await.unwrap();
    }
}
