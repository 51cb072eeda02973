//! A holder of the cluster key cannot speak as another node, so it can neither obtain nor move
//! the cursor a victim keeps for that node. Nodes X and V replicate under the key; an attacker
//! with the key and its own static key then:
//! - dials V with a hello claiming X's id: refused, the reason naming the node its key belongs
//!   to;
//! - dials V with its own (proven) id, advertising a listener of its own, so that V dials it
//!   back; when V does, it answers V's hello with a hello claiming X's id: V refuses before it
//!   sends a pull, so the attacker never sees the cursor V keeps for X, and cannot answer with a
//!   forged `End`.
//!
//! Afterwards V's cursor for X is where replication put it and V still replicates with X.

use crate::common;

use std::time::Duration;

use common::attack::{hello, noise_accept, noise_dial};
use common::{contents, keyed_with, start, wait_until, KEY};
use meshkv::replication::message::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_holder_cannot_obtain_or_move_another_nodes_cursor() {
    let _memory = common::attack::sharing_memory().await;
    let x = start(keyed_with(vec![], KEY)).await;
    let v = start(keyed_with(vec![x.addr()], KEY)).await;
    for i in 0..10u8 {
        x.db.put([b'x', i], [i; 10]).unwrap();
    }
    let vdb = &v.db;
    wait_until(Duration::from_secs(10), "V to pull X's writes", || {
        contents(vdb).len() == 10
    })
    .await;
    let x_id = x.db.node_id();
    let cursor_of_x = || v.db.replica().peer_cursor(x_id).unwrap();
    let vn = &v.node;
    wait_until(Duration::from_secs(10), "V's cursor for X to move", || {
        cursor_of_x().is_some_and(|c| c.seq > 0)
    })
    .await;
    let before = cursor_of_x();

    // As a dialer, claiming X's id.
    let mut client = noise_dial(v.node.local_addr(), KEY)
        .await
        .expect("the key works");
    client.send(&hello(x_id, None)).await;
    match client.recv().await {
        Some(Message::Refuse { reason }) => assert!(
            reason.contains(&client.node_id.to_string()) && reason.contains("belongs to node"),
            "{reason}"
        ),
        other => panic!("a hello claiming X's id was answered with {other:?}"),
    }

    // As a listener V dials back, claiming X's id in its answer.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_addr = trap.local_addr().unwrap().to_string();
    let mut bait = noise_dial(v.node.local_addr(), KEY)
        .await
        .expect("the key works");
    bait.send(&hello(bait.node_id, Some(trap_addr))).await;
    assert!(
        matches!(bait.recv().await, Some(Message::Hello(_))),
        "V accepts a hello with the id the attacker's key proves"
    );
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), trap.accept())
        .await
        .expect("V to dial the advertised address back")
        .unwrap();
    let mut trap = noise_accept(stream, KEY)
        .await
        .expect("V dials with the key");
    assert!(matches!(trap.recv().await, Some(Message::Hello(_))));
    trap.send(&hello(x_id, None)).await;
    // V refuses and closes: no pull (with the cursor it keeps for X) ever comes.
    let mut after_hello = Vec::new();
    while let Some(m) = trap.recv().await {
        after_hello.push(m);
    }
    assert!(
        matches!(after_hello.as_slice(), [Message::Refuse { reason }] if reason.contains("belongs to node")),
        "V sent {after_hello:?} to a listener claiming X's id"
    );
    wait_until(Duration::from_secs(10), "V to count the refusals", || {
        vn.status().refused_inbound >= 1 && vn.status().peers.iter().any(|p| p.refused >= 1)
    })
    .await;

    // Nothing moved, and V still replicates with X.
    assert_eq!(cursor_of_x(), before, "V's cursor for X changed");
    x.db.put(b"after", b"1").unwrap();
    wait_until(Duration::from_secs(10), "V to pull X's next write", || {
        contents(vdb).len() == 11
    })
    .await;
    println!(
        "impersonation: a key holder claiming node {x_id} was refused as dialer and as listener; \
         V's cursor for X stayed at {:?} and V went on replicating with X",
        before.map(|c| c.seq)
    );
}
