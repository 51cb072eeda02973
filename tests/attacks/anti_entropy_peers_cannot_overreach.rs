//! A cluster-key holder gets no more from anti-entropy than the comparison needs, and cannot
//! make a node apply what it did not ask for.
//!
//! As a dialer: the asks must come in the comparison's order; a second listing of versions (a
//! pass over the whole index), a push or an entry ask for a key outside the segments listed,
//! or a repeated range closes the connection, and nothing of it is applied. A push of a key in
//! a listed segment is applied under the pull's checks: an entry from the far future is
//! refused and counted, an honest one committed.
//!
//! A second anti-entropy connection under the same node id while the first is open is refused
//! (a plaintext id is self-declared, so anyone can try), and the first goes on being answered:
//! once, the refusal deadlocked the serving thread.
//!
//! As a listener answering a node's `verify_peer`: range digests of the wrong length, segment
//! digests of a range not asked, and entries of a key not asked each fail the round with a
//! reason; nothing is applied, and the node keeps replicating with its honest peer.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::attack::{hello, noise_accept, noise_dial, NoiseClient};
use common::{config, keyed_with, start, wait_until, TestNode, KEY};
use futures_util::{SinkExt, StreamExt};
use meshkv::record::Entry;
use meshkv::replica::segment_of;
use meshkv::replication::frame::FrameCodec;
use meshkv::replication::message::{self, Message};
use meshkv::{NodeId, Version};

/// The first `n` keys whose segment is `segment`.
fn keys_in(segment: u16, n: usize) -> Vec<Vec<u8>> {
    (0u32..)
        .map(|i| format!("attack/{i}").into_bytes())
        .filter(|k| segment_of(k) == segment)
        .take(n)
        .collect()
}

/// A key whose segment is `segment`.
fn key_in(segment: u16) -> Vec<u8> {
    keys_in(segment, 1).remove(0)
}

fn entry(key: Vec<u8>, timestamp: u64) -> Entry {
    Entry {
        key,
        value: Some(b"pushed".to_vec()),
        version: Version {
            clock: 1_000,
            timestamp,
            origin: NodeId([0x66; 16]),
        },
        expires_at: None,
    }
}

/// A hybrid-clock timestamp `ahead_ms` after now (milliseconds << 16).
fn stamp(ahead_ms: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    (now + ahead_ms) << 16
}

/// A keyed connection to `victim`, past the hellos, that listed the versions of `segment`.
async fn listed(victim: &TestNode, segment: u16) -> NoiseClient {
    let mut c = noise_dial(victim.node.local_addr(), KEY).await.unwrap();
    c.send(&hello(c.node_id, None)).await;
    assert!(matches!(c.recv().await, Some(Message::Hello(_))));
    c.send(&Message::AskRanges).await;
    match c.recv().await {
        Some(Message::Ranges { digests }) => assert_eq!(digests.len(), 256),
        other => panic!("{other:?}"),
    }
    c.send(&Message::AskSegments {
        ranges: vec![(segment >> 8) as u8],
    })
    .await;
    assert!(matches!(c.recv().await, Some(Message::Segments { .. })));
    c.send(&Message::AskVersions {
        segments: vec![segment],
    })
    .await;
    loop {
        match c.recv().await {
            Some(Message::Versions { last: true, .. }) => return c,
            Some(Message::Versions { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// True once the node closed the connection (or only refused).
async fn closed(c: &mut NoiseClient) -> bool {
    loop {
        match c.recv().await {
            None => return true,
            Some(Message::Refuse { .. }) => {}
            Some(other) => panic!("answered {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialer_gets_only_what_the_comparison_needs() {
    let _memory = common::attack::sharing_memory().await;
    let victim = start(keyed_with(vec![], KEY)).await;
    for i in 0..100u32 {
        victim.db.put(format!("k{i}"), b"v").unwrap();
    }
    let segment = 300;
    let outside = key_in(301);
    // A second pass over the index.
    let mut c = listed(&victim, segment).await;
    c.send(&Message::AskVersions {
        segments: vec![segment],
    })
    .await;
    assert!(closed(&mut c).await, "a second listing");
    // A push or an ask outside the listed segments.
    let mut c = listed(&victim, segment).await;
    c.send(&Message::Push {
        entries: vec![entry(outside.clone(), stamp(0))],
    })
    .await;
    assert!(closed(&mut c).await, "a push outside the listed segments");
    let mut c = listed(&victim, segment).await;
    c.send(&Message::AskEntries {
        keys: vec![outside.clone()],
    })
    .await;
    assert!(closed(&mut c).await, "an ask outside the listed segments");
    // A repeated range, and asks out of order from the start.
    let mut c = noise_dial(victim.node.local_addr(), KEY).await.unwrap();
    c.send(&hello(c.node_id, None)).await;
    c.recv().await;
    c.send(&Message::AskRanges).await;
    c.recv().await;
    c.send(&Message::AskSegments { ranges: vec![4, 4] }).await;
    assert!(closed(&mut c).await, "a repeated range");
    assert_eq!(victim.db.get(&outside).unwrap(), None, "nothing applied");

    // Inside the listed segment: a far-future entry is refused, an honest one committed.
    let mut c = listed(&victim, segment).await;
    let two = keys_in(segment, 2);
    let (future, honest) = (two[0].clone(), two[1].clone());
    c.send(&Message::Push {
        entries: vec![
            entry(future.clone(), stamp(365 * 24 * 3600 * 1000)),
            entry(honest.clone(), stamp(0)),
        ],
    })
    .await;
    match c.recv().await {
        Some(Message::Pushed { applied, refused }) => assert_eq!((applied, refused), (1, 1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(victim.db.get(&future).unwrap(), None);
    assert_eq!(
        victim.db.get(&honest).unwrap().as_deref(),
        Some(&b"pushed"[..])
    );
    let status = victim.node.status();
    assert!(status.healthy());
    assert_eq!(status.repair_entries_received, 2);
    assert_eq!(status.repair_entries_applied, 1);
}

/// A plaintext connection to `victim` as `id`, past the hellos, that asked for the ranges.
async fn plaintext_asking(
    victim: &TestNode,
    id: NodeId,
) -> tokio_util::codec::Framed<tokio::net::TcpStream, FrameCodec> {
    let stream = tokio::net::TcpStream::connect(victim.node.local_addr())
        .await
        .unwrap();
    let mut framed = tokio_util::codec::Framed::new(stream, FrameCodec::new(1 << 20));
    for m in [hello(id, None), Message::AskRanges] {
        framed.send(Bytes::from(message::encode(&m))).await.unwrap();
    }
    framed
}

async fn next(
    framed: &mut tokio_util::codec::Framed<tokio::net::TcpStream, FrameCodec>,
) -> Message {
    let frame = tokio::time::timeout(Duration::from_secs(5), framed.next())
        .await
        .expect("an answer")
        .expect("not closed")
        .unwrap();
    message::decode(&frame).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_exchange_under_the_same_id_is_refused_and_the_first_goes_on() {
    let _memory = common::attack::sharing_memory().await;
    let victim = start(config(vec![])).await;
    victim.db.put(b"k", b"v").unwrap();
    let id = NodeId([0x42; 16]);
    let mut first = plaintext_asking(&victim, id).await;
    assert!(matches!(next(&mut first).await, Message::Hello(_)));
    assert!(matches!(next(&mut first).await, Message::Ranges { .. }));
    let mut second = plaintext_asking(&victim, id).await;
    assert!(matches!(next(&mut second).await, Message::Hello(_)));
    match next(&mut second).await {
        Message::Refuse { reason } => assert!(reason.contains("already under way"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // The first is still answered, and the node serves as before.
    let ask = Message::AskSegments { ranges: vec![3] };
    first
        .send(Bytes::from(message::encode(&ask)))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut first).await,
        Message::Segments { range: 3, .. }
    ));
    drop(first);
    let peer = start(config(vec![victim.addr()])).await;
    wait_until(Duration::from_secs(10), "a pull after the refusal", || {
        peer.db.get(b"k").unwrap().is_some()
    })
    .await;
    assert!(victim.node.status().healthy());
}

/// A fake listener holding the key: answers one connection's asks with `answer`.
async fn fake_listener(
    answer: impl Fn(&Message) -> Vec<Message> + Send + 'static,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Some(mut c) = noise_accept(stream, KEY).await else {
                continue;
            };
            if !matches!(c.recv().await, Some(Message::Hello(_))) {
                continue;
            }
            c.send(&hello(c.node_id, None)).await;
            while let Some(m) = c.recv().await {
                for reply in answer(&m) {
                    c.send(&reply).await;
                }
            }
        }
    });
    addr
}

async fn fails_with(victim: &TestNode, addr: std::net::SocketAddr, why: &str) {
    let before = victim.db.last_seq();
    let err = victim
        .node
        .verify_peer(&addr.to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(why), "{err}");
    assert_eq!(victim.db.last_seq(), before, "nothing applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_cannot_make_a_node_apply_what_it_did_not_ask_for() {
    let _memory = common::attack::sharing_memory().await;
    let victim = start(keyed_with(vec![], KEY)).await;
    let honest = start(keyed_with(vec![victim.addr()], KEY)).await;
    victim.db.put(b"mine", b"1").unwrap();

    let short = fake_listener(|m| match m {
        Message::AskRanges => vec![Message::Ranges {
            digests: vec![1; 3],
        }],
        _ => vec![],
    })
    .await;
    fails_with(&victim, short, "range digests: 3 digests").await;

    let stray = fake_listener(|m| match m {
        Message::AskRanges => vec![Message::Ranges {
            digests: vec![1; 256],
        }],
        // Always range 0, whatever was asked: the second is a range not (or no longer) asked.
        Message::AskSegments { .. } => vec![
            Message::Segments {
                range: 0,
                digests: vec![1; 256],
            };
            2
        ],
        _ => vec![],
    })
    .await;
    fails_with(&victim, stray, "not asked for").await;

    // A flow that fits until the entries: it lists a key of segment 0 and sends another.
    let listed = key_in(0);
    let unasked = key_in(1);
    let l = listed.clone();
    let sneaky = fake_listener(move |m| match m {
        Message::AskRanges => {
            let mut digests = vec![0; 256];
            digests[0] = 1;
            vec![Message::Ranges { digests }]
        }
        // Segment 0 differs; every other asked range is empty.
        Message::AskSegments { ranges } => ranges
            .iter()
            .map(|&range| {
                let mut digests = vec![0; 256];
                digests[0] = u128::from(range == 0);
                Message::Segments { range, digests }
            })
            .collect(),
        Message::AskDigests { segments } => vec![Message::Digests {
            digests: vec![1; segments.len()],
        }],
        Message::AskVersions { .. } => vec![Message::Versions {
            versions: vec![(l.clone(), entry(l.clone(), stamp(0)).version)],
            last: true,
        }],
        Message::AskEntries { .. } => vec![Message::Entries {
            entries: vec![entry(unasked.clone(), stamp(0))],
            through: 1,
        }],
        _ => vec![],
    })
    .await;
    fails_with(&victim, sneaky, "not asked for").await;
    assert_eq!(victim.db.get(&listed).unwrap(), None);

    let status = &victim.node.status();
    assert!(status.healthy());
    // The honest peer still replicates both ways.
    victim.db.put(b"after", b"1").unwrap();
    honest.db.put(b"after-honest", b"1").unwrap();
    let (v, h) = (&victim.db, &honest.db);
    wait_until(
        Duration::from_secs(20),
        "replication after the attack",
        || v.get(b"after-honest").unwrap().is_some() && h.get(b"after").unwrap().is_some(),
    )
    .await;
}
