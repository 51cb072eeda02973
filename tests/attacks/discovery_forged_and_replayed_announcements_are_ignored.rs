//! Keyed discovery on the multicast group (loopback only) against forged and replayed
//! announcements: every single-bit change of a real signed announcement, 100 announcements of a
//! made-up node signed with a wrong key, 100 unsigned ones, and the real announcement replayed
//! 100 times. None reaches the peer set (the attacker's address is never dialed); each is
//! counted under its reason, exactly once.

use crate::common;

use std::time::Duration;

use common::{
    capture_announcement, discovering, group_socket, loopback_multicast, peers_of, start,
    wait_until, KEY,
};
use meshkv::discovery::announcement::{self, derive_key};
use meshkv::{NodeConfig, NodeId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_announcements_are_counted_and_ignored() {
    let _memory = common::attack::sharing_memory().await;
    let multicast = loopback_multicast();
    let keyed = || NodeConfig {
        cluster_keys: vec![KEY.to_vec()],
        ..discovering(&multicast)
    };
    let a = start(keyed()).await;
    let b = start(keyed()).await;

    let captured = capture_announcement(&multicast, b.db.node_id());
    let an = &a.node;
    wait_until(Duration::from_secs(5), "A to hear B", || {
        an.status().discovery.unwrap().accepted >= 2
    })
    .await;

    let sender = group_socket(&multicast, false);
    let sent = std::cell::Cell::new(0u64);
    let send = |bytes: &[u8]| {
        sender.send_to(bytes, multicast.group).unwrap();
        sent.set(sent.get() + 1);
        // Pace the burst so the loopback receive buffer never overflows.
        if sent.get() % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    for i in 0..captured.len() * 8 {
        let mut forged = captured.clone();
        forged[i / 8] ^= 1 << (i % 8);
        send(&forged);
    }
    let base = announcement::decode(&captured).unwrap().announcement;
    for i in 0..100u8 {
        let fake = announcement::Announcement {
            node_id: NodeId([i | 0x80; 16]),
            advertise: "127.0.0.1:1".into(),
            timestamp_ms: base.timestamp_ms + 1,
            ..base.clone()
        };
        send(&fake.encode(Some(&derive_key(&[i; 32]))));
        send(&fake.encode(None));
    }
    let forged = sent.get();
    for _ in 0..100 {
        send(&captured);
    }

    wait_until(Duration::from_secs(10), "every datagram counted", || {
        let d = an.status().discovery.unwrap();
        d.malformed + d.foreign_cluster + d.unauthenticated >= forged && d.replayed >= 100
    })
    .await;
    let d = an.status().discovery.unwrap();
    assert_eq!(
        d.malformed + d.foreign_cluster + d.unauthenticated,
        forged,
        "{d:?}"
    );
    assert_eq!(d.replayed, 100, "{d:?}");
    let peers = peers_of(an);
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert!(peers.contains_key(&b.addr()));
    println!(
        "discovery: {forged} forged (every bit flip of a signed announcement, wrong keys, \
         unsigned) and 100 replayed announcements, 0 accepted, 0 state changes (malformed {}, \
         foreign cluster {}, unauthenticated {}, replayed {})",
        d.malformed, d.foreign_cluster, d.unauthenticated, d.replayed
    );
}
