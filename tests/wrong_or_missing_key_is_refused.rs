//! A keyed node against peers without its key, over real TCP: 100 random wrong keys (a full
//! Noise attempt each), 100 plaintext hellos with a pull behind them (no key at all), and 100
//! runs of random bytes. Every connection is closed before the node says anything: no Noise
//! answer, no hello, no entry; its contents are unchanged; every refusal is counted, and the
//! log gets one line for all 300 (one per address per interval), not one per connection.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::attack::{noise_dial, read_until_closed};
use common::{config, contents, start, wait_until};
use futures_util::SinkExt;
use meshkv::replication::frame::FrameCodec;
use meshkv::replication::message::{self, Hello, Message, MAGIC, PROTOCOL_VERSION};
use meshkv::{NodeConfig, NodeId};
use rand::{Rng, RngCore};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const VARIANTS: usize = 100;

/// Collects everything the node logs.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_key_gets_nothing_and_changes_nothing() {
    let log = Capture::default();
    tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let a = start(NodeConfig {
        cluster_keys: vec![b"the-right-cluster-key-0123456789".to_vec()],
        ..config(vec![])
    })
    .await;
    for i in 0..10u8 {
        a.db.put([b'k', i], b"secret-value").unwrap();
    }
    let before = contents(&a.db);
    let addr = a.node.local_addr();
    let mut rng = rand::rng();
    let (mut accepted, mut served) = (0usize, 0usize);

    // Wrong keys: the node cannot open the first Noise message and closes without an answer.
    for _ in 0..VARIANTS {
        let mut key = vec![0u8; rng.random_range(16..64)];
        rng.fill_bytes(&mut key);
        if noise_dial(addr, &key).await.is_some() {
            accepted += 1;
        }
    }
    // No key: a well-formed plaintext hello and a pull, as a keyless node would send them.
    for _ in 0..VARIANTS {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut framed = Framed::new(stream, FrameCodec::new(1 << 20));
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        for m in [
            Message::Hello(Hello {
                magic: MAGIC,
                version: PROTOCOL_VERSION,
                cluster: "test".into(),
                node_id: NodeId(id),
                nonce: rng.random(),
                advertise: None,
                limits: meshkv::replication::message::Limits::default(),
            }),
            Message::Pull {
                cursor: None,
                skip_own_after: None,
                cursor_incarnation: None,
                cursor_proof: None,
            },
        ] {
            let _ = framed.send(Bytes::from(message::encode(&m))).await;
        }
        let mut stream = framed.into_inner();
        served += read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .len();
    }
    // Random bytes, then the end of the stream.
    for _ in 0..VARIANTS {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut junk = vec![0u8; rng.random_range(0..2000)];
        rng.fill_bytes(&mut junk);
        let _ = stream.write_all(&junk).await;
        let _ = stream.shutdown().await;
        served += read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .len();
    }

    let an = &a.node;
    wait_until(Duration::from_secs(10), "every refusal counted", || {
        an.status().refused_inbound >= 3 * VARIANTS as u64
    })
    .await;
    assert_eq!(accepted, 0, "a wrong key completed the Noise handshake");
    assert_eq!(served, 0, "the node sent bytes to a peer without the key");
    assert_eq!(contents(&a.db), before, "the target's contents changed");
    assert!(
        a.node.status().peers.is_empty(),
        "a refused peer was dialed back"
    );
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).to_string();
    let lines = text.matches("refused an inbound connection").count();
    assert_eq!(lines, 1, "one log line per address per interval:\n{text}");
    println!(
        "auth (wrong or missing key): 3 attack classes x {VARIANTS} variants, {accepted} accepted, \
         0 state changes, {served} bytes served, refused_inbound {}, {lines} log line",
        a.node.status().refused_inbound
    );
}
