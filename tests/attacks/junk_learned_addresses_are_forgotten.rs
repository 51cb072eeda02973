//! Hellos full of junk `advertise` addresses cannot fill a node's table of learned peers for
//! good: a client connects eight times, each hello advertising a closed port, which fills the
//! table (`max_connections` 8 caps learned addresses). A real newcomer that dials the node
//! afterwards is still dialed back (it takes the place of a failing junk address), and every junk
//! address is forgotten once it has failed eight sessions in a row.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::{config, start, wait_until};
use futures_util::{SinkExt, StreamExt};
use meshkv::replication::frame::FrameCodec;
use meshkv::replication::message::{self, Hello, Limits, Message, MAGIC, PROTOCOL_VERSION};
use meshkv::replication::PeerSource;
use meshkv::{NodeConfig, NodeId};
use tokio_util::codec::Framed;

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn junk_hello(victim: std::net::SocketAddr, advertise: String) {
    let stream = tokio::net::TcpStream::connect(victim).await.unwrap();
    let mut framed = Framed::new(stream, FrameCodec::new(1 << 20));
    let hello = Message::Hello(Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        cluster: "test".into(),
        node_id: NodeId::random(),
        nonce: rand::random(),
        advertise: Some(advertise),
        limits: Limits::default(),
    });
    framed
        .send(Bytes::from(message::encode(&hello)))
        .await
        .unwrap();
    // The node's hello: the handshake is done and the address learned.
    let _ = tokio::time::timeout(Duration::from_secs(5), framed.next()).await;
}

fn learned(node: &meshkv::Node) -> Vec<(String, bool)> {
    node.status()
        .peers
        .into_iter()
        .filter(|p| p.source == PeerSource::Dialed)
        .map(|p| (p.address, p.connected))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_advertised_addresses_are_forgotten_and_newcomers_still_dialed_back() {
    let _memory = common::attack::sharing_memory().await;
    let victim = start(NodeConfig {
        max_connections: 8,
        max_handshakes: 8,
        ..config(vec![])
    })
    .await;
    let addr = victim.node.local_addr();
    let junk: Vec<String> = (0..8)
        .map(|_| format!("127.0.0.1:{}", closed_port()))
        .collect();
    for j in &junk {
        junk_hello(addr, j.clone()).await;
    }
    let vn = &victim.node;
    wait_until(Duration::from_secs(10), "the table full of junk", || {
        learned(vn).len() == 8
    })
    .await;
    // A real newcomer dials in: it is dialed back although the table is full.
    let newcomer = start(config(vec![victim.addr()])).await;
    let newcomer_addr = newcomer.addr();
    wait_until(Duration::from_secs(20), "the newcomer dialed back", || {
        learned(vn)
            .iter()
            .any(|(a, connected)| *a == newcomer_addr && *connected)
    })
    .await;
    // Every junk address is forgotten after failing eight sessions in a row.
    wait_until(Duration::from_secs(30), "the junk forgotten", || {
        learned(vn).iter().all(|(a, _)| !junk.contains(a))
    })
    .await;
    victim.db.put("k", "v").unwrap();
    let ndb = &newcomer.db;
    wait_until(
        Duration::from_secs(10),
        "replication with the newcomer",
        || ndb.get("k").unwrap().is_some(),
    )
    .await;
}
