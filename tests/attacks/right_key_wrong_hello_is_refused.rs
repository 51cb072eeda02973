//! Holding the cluster key is not enough: a peer that completes Noise with the right key but
//! presents another cluster name, our own node id, a bad magic or another protocol version gets
//! a `Refuse` naming the reason and a closed connection, never a batch (100 variants of each,
//! over real TCP). A control with a good hello is served, so the refusals are the checks' doing.

use crate::common;

use std::time::Duration;

use common::attack::noise_dial;
use common::{contents, keyed_with, start, wait_until, KEY};
use meshkv::replication::message::{Hello, Message, MAGIC, PROTOCOL_VERSION};
use meshkv::NodeId;
use rand::{Rng, RngCore};

const VARIANTS: usize = 100;

fn hello(cluster: &str, node_id: NodeId) -> Hello {
    Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        cluster: cluster.into(),
        node_id,
        nonce: rand::random(),
        advertise: None,
        limits: meshkv::replication::message::Limits::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_key_with_a_wrong_hello_is_refused() {
    let _memory = common::attack::sharing_memory().await;
    let a = start(keyed_with(vec![], KEY)).await;
    for i in 0..10u8 {
        a.db.put([b'k', i], b"secret-value").unwrap();
    }
    let before = contents(&a.db);
    let addr = a.node.local_addr();
    let own = a.db.node_id();
    let mut rng = rand::rng();
    let other_id = || NodeId(rand::random::<[u8; 16]>());

    let mut accepted = 0usize;
    let mut classes: Vec<(&str, Vec<Hello>)> = Vec::new();
    classes.push((
        "cluster",
        (0..VARIANTS)
            .map(|i| hello(&format!("other-{i}"), other_id()))
            .collect(),
    ));
    classes.push((
        "own node id",
        (0..VARIANTS).map(|_| hello("test", own)).collect(),
    ));
    classes.push((
        "magic",
        (0..VARIANTS)
            .map(|_| {
                let mut h = hello("test", other_id());
                rng.fill_bytes(&mut h.magic);
                h
            })
            .collect(),
    ));
    classes.push((
        "protocol version",
        (0..VARIANTS)
            .map(|_| Hello {
                version: rng.random_range(PROTOCOL_VERSION + 1..u32::MAX),
                ..hello("test", other_id())
            })
            .collect(),
    ));
    // Impersonation: a good hello, but for an id the client's key does not prove.
    classes.push((
        "belongs to node",
        (0..VARIANTS).map(|_| hello("test", other_id())).collect(),
    ));
    for (reason, hellos) in &classes {
        for h in hellos {
            let mut client = noise_dial(addr, KEY).await.expect("the right key works");
            client.send(&Message::Hello(h.clone())).await;
            client
                .send(&Message::Pull {
                    cursor: None,
                    skip_own_after: None,
                    cursor_incarnation: None,
                    cursor_proof: None,
                })
                .await;
            match client.recv().await {
                Some(Message::Refuse { reason: r }) => assert!(r.contains(reason), "{r}"),
                other => {
                    accepted += 1;
                    eprintln!("expected a refusal naming the {reason}, got {other:?}");
                }
            }
            assert_eq!(client.recv().await, None, "a message after the refusal");
        }
    }
    let an = &a.node;
    let refusals = (classes.len() * VARIANTS) as u64;
    wait_until(Duration::from_secs(10), "every refusal counted", || {
        an.status().refused_inbound >= refusals
    })
    .await;
    assert_eq!(accepted, 0, "a wrong hello was accepted");
    assert_eq!(a.node.status().refused_inbound, refusals);
    assert_eq!(contents(&a.db), before, "the target's contents changed");

    // Control: the same client with a good hello is served the whole log.
    let mut client = noise_dial(addr, KEY).await.unwrap();
    let proven = client.node_id;
    client.send(&Message::Hello(hello("test", proven))).await;
    assert!(matches!(client.recv().await, Some(Message::Hello(_))));
    println!(
        "auth (right key, wrong hello): {} attack classes x {VARIANTS} variants, {accepted} accepted, \
         0 state changes; the control hello is accepted",
        classes.len()
    );
}
