//! Another protocol version or another cluster name: refused with a clear error, counted, and no
//! entry moves. Another cluster: refused on both sides, with the reason in the error. Another
//! protocol version (a hand-made hello): a `Refuse` naming the version, then the connection closes;
//! no batch ever comes.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::{config, contents, start, wait_until};
use futures_util::{SinkExt, StreamExt};
use meshkv::replication::frame::FrameCodec;
use meshkv::replication::message::{self, Hello, Message, MAGIC, PROTOCOL_VERSION};
use meshkv::{NodeConfig, NodeId};
use tokio_util::codec::Framed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_cluster_is_refused_on_both_sides() {
    let _memory = common::attack::sharing_memory().await;
    let a = start(config(vec![])).await;
    let b = start(NodeConfig {
        cluster: "elsewhere".into(),
        ..config(vec![a.addr()])
    })
    .await;
    a.db.put(b"a", b"1").unwrap();
    b.db.put(b"b", b"2").unwrap();
    let bn = &b.node;
    wait_until(Duration::from_secs(10), "B to record the refusal", || {
        bn.status().peers.iter().any(|p| p.refused > 0)
    })
    .await;
    let err = b.node.status().peers[0].last_error.clone().unwrap();
    assert!(
        err.contains("cluster") && err.contains("elsewhere"),
        "{err}"
    );
    wait_until(Duration::from_secs(5), "the refusal counted", || {
        a.node.status().refused_inbound > 0
    })
    .await;
    assert_eq!(contents(&a.db).len(), 1);
    assert_eq!(contents(&b.db).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_is_refused_with_a_reason() {
    let _memory = common::attack::sharing_memory().await;
    let a = start(config(vec![])).await;
    a.db.put(b"a", b"1").unwrap();
    // A newer version, and the one before ours (no anti-entropy): told to upgrade.
    for (n, (version, says)) in [
        (PROTOCOL_VERSION + 1, "protocol version"),
        (PROTOCOL_VERSION - 1, "upgrade that node"),
    ]
    .into_iter()
    .enumerate()
    {
        let stream = tokio::net::TcpStream::connect(a.node.local_addr())
            .await
            .unwrap();
        let mut framed = Framed::new(stream, FrameCodec::new(1 << 20));
        let hello = Message::Hello(Hello {
            magic: MAGIC,
            version,
            cluster: "test".into(),
            node_id: NodeId([9; 16]),
            nonce: [0; 16],
            advertise: None,
            limits: meshkv::replication::message::Limits::default(),
        });
        framed
            .send(Bytes::from(message::encode(&hello)))
            .await
            .unwrap();
        framed
            .send(Bytes::from(message::encode(&Message::Pull {
                cursor: None,
                skip_own_after: None,
                cursor_incarnation: None,
                cursor_proof: None,
            })))
            .await
            .unwrap();
        let reply = framed.next().await.unwrap().unwrap();
        match message::decode(&reply).unwrap() {
            Message::Refuse { reason } => assert!(reason.contains(says), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Then the connection closes (cleanly, or reset since our pull was never read): no batch
        // ever comes.
        match framed.next().await {
            None | Some(Err(_)) => {}
            Some(Ok(frame)) => panic!("a frame after the refusal: {:?}", message::decode(&frame)),
        }
        // The listener counts the refusal as it closes: the client may see the close first.
        wait_until(Duration::from_secs(5), "the refusal counted", || {
            a.node.status().refused_inbound == n as u64 + 1
        })
        .await;
    }
}
