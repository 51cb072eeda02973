//! A valid keyed session, recorded by a proxy, replayed on new connections: rejected both ways.
//! Noise `XXpsk0` mixes fresh ephemeral keys from both sides into every session key, so:
//! - the dialer's recorded bytes sent to the listener (100 times): its first Noise message is
//!   accepted (it carries no secret the listener can tie to a past session) and answered, but the
//!   recorded third message (the dialer's static key) was encrypted for the old session and
//!   fails authentication: only the 104-byte Noise answer comes back, the connection closes, the refusal is counted;
//! - the listener's recorded bytes sent to a dialing node: the recorded answer does not match the
//!   dialer's new ephemeral key: the handshake fails, the refusal is counted, nothing is applied.

use crate::common;

use std::time::Duration;

use common::attack::read_until_closed;
use common::{behind_proxy, contents, converged, start, wait_until};
use meshkv::NodeConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use common::KEY;
const REPLAYS: usize = 100;

fn keyed(peers: Vec<String>) -> NodeConfig {
    common::keyed_with(peers, KEY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_sessions_are_rejected_both_ways() {
    let _memory = common::attack::sharing_memory().await;
    let (proxy, a) = behind_proxy(keyed(vec![])).await;
    for i in 0..20u8 {
        a.db.put([b'k', i], [i; 100]).unwrap();
    }
    let b = start(keyed(vec![proxy.addr().to_string()])).await;
    converged(&[&a.db, &b.db], 20, Duration::from_secs(10)).await;
    // Let a few heartbeats through too, then take the recording.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_server = proxy.to_server().lock().unwrap().clone();
    let to_client = proxy.to_client().lock().unwrap().clone();
    assert!(to_server.len() > 200 && to_client.len() > 2000);
    let before = contents(&a.db);
    let refused_before = a.node.status().refused_inbound;

    // Towards the listener.
    let mut most = 0usize;
    for _ in 0..REPLAYS {
        let mut s = TcpStream::connect(a.node.local_addr()).await.unwrap();
        let _ = s.write_all(&to_server).await;
        let got = read_until_closed(&mut s, Duration::from_secs(5)).await;
        // At most the Noise answer: one frame of 8 + 96 bytes (ephemeral key, encrypted static
        // key and the empty payload's tag). Nothing under a session key ever comes.
        assert!(got.len() <= 104, "{} bytes came back", got.len());
        most = most.max(got.len());
    }
    let an = &a.node;
    wait_until(Duration::from_secs(10), "every replay refused", || {
        an.status().refused_inbound >= refused_before + REPLAYS as u64
    })
    .await;

    // Towards a dialer: a fake listener plays the recorded answer to every connection.
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = fake.local_addr().unwrap();
    let recorded = to_client.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = fake.accept().await {
            let bytes = recorded.clone();
            tokio::spawn(async move {
                let _ = s.write_all(&bytes).await;
                let mut sink = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink).await;
            });
        }
    });
    let c = start(keyed(vec![fake_addr.to_string()])).await;
    let cn = &c.node;
    wait_until(
        Duration::from_secs(10),
        "the dialer to refuse 5 replays",
        || cn.status().peers.iter().any(|p| p.refused >= 5),
    )
    .await;
    let status = c.node.status();
    let err = status.peers[0].last_error.clone().unwrap();
    assert!(err.contains("handshake"), "{err}");
    assert!(
        contents(&c.db).is_empty(),
        "a replayed session applied entries"
    );
    assert_eq!(status.peers[0].entries_received, 0);
    assert_eq!(contents(&a.db), before, "the listener's contents changed");
    println!(
        "replay: {REPLAYS} replays to the listener (at most {most} bytes back: the Noise answer) \
         and {} to a dialer, 0 accepted, 0 state changes",
        status.peers[0].refused
    );
}
