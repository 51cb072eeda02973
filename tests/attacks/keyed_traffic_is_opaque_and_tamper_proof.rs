//! Between two nodes holding the same cluster key, the bytes on the wire (captured by a recording
//! proxy) contain none of the written keys, values or even the cluster name; a plaintext control
//! shows that the same capture without a key holds all of them. A bit flipped in an established
//! session (with or without the frame's crc fixed up) kills that connection with nothing applied,
//! and the next connection syncs cleanly: the nodes converge.
//!
//! Node A advertises the proxy's address as its own, so every connection to A — B's configured
//! one and the one B would open after learning A's address from the hello — goes through it.

use crate::common;

use std::time::Duration;

use common::proxy::{Direction, Proxy};
use common::{behind_proxy, config, contents, converged, start, wait_until};
use meshkv::{Db, NodeConfig};

const CLUSTER: &str = "opaque-cluster-name";
/// Where the tamper tests alter A's stream to B: past the Noise handshake (56 bytes) and the
/// hellos (about 100 bytes each), inside the first 64 KiB chunk of the first catch-up batch.
const OFFSET: usize = 2000;

fn keyed(peers: Vec<String>) -> NodeConfig {
    NodeConfig {
        cluster: CLUSTER.into(),
        cluster_keys: vec![vec![7u8; 32]],
        ..config(peers)
    }
}

fn write_secrets(db: &Db, range: std::ops::Range<usize>) -> usize {
    let mut bytes = 0;
    for i in range {
        let (k, v) = (
            format!("secret-key-XYZ-{i:05}"),
            format!("secret-value-XYZ-{i:05}-{}", "v".repeat(40)),
        );
        bytes += k.len() + v.len();
        db.put(k, v).unwrap();
    }
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes on A before and after B connects (catch-up and live push), waits until B has them,
/// and returns the proxy's capture plus the number of key and value bytes written.
async fn capture(config_a: NodeConfig, config_b: NodeConfig) -> (Vec<u8>, Vec<u8>, usize) {
    let (proxy, a) = behind_proxy(config_a).await;
    let mut written = write_secrets(&a.db, 0..300);
    let b = start(NodeConfig {
        peers: vec![proxy.addr().to_string()],
        ..config_b
    })
    .await;
    written += write_secrets(&a.db, 300..600);
    converged(&[&a.db, &b.db], 600, Duration::from_secs(20)).await;
    assert_eq!(
        b.db.get("secret-key-XYZ-00599").unwrap().as_deref(),
        Some(format!("secret-value-XYZ-00599-{}", "v".repeat(40)).as_bytes())
    );
    b.node.shutdown().await.unwrap();
    a.node.shutdown().await.unwrap();
    let to_client = proxy.to_client().lock().unwrap().clone();
    (proxy.recorded(), to_client, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_traffic_shows_no_key_value_or_cluster_name() {
    let _memory = common::attack::sharing_memory().await;
    let (recorded, to_client, written) = capture(keyed(vec![]), keyed(vec![])).await;
    // The entries did travel through the proxy...
    assert!(
        to_client.len() >= written,
        "only {} bytes went A->B through the proxy for {written} bytes written",
        to_client.len()
    );
    // ...and none of them can be read there.
    for needle in [
        &b"secret-key-XYZ"[..],
        b"secret-value-XYZ",
        b"vvvvvvvvvvvvvvvv",
        CLUSTER.as_bytes(),
    ] {
        assert!(
            !find(&recorded, needle),
            "{:?} appears in the captured bytes",
            String::from_utf8_lossy(needle)
        );
    }
}

/// The control: without a key the same capture holds the plaintext, so the proxy does record
/// what the keyed test says is absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_traffic_is_readable_in_the_same_capture() {
    let _memory = common::attack::sharing_memory().await;
    let plain = |peers| NodeConfig {
        cluster: CLUSTER.into(),
        ..config(peers)
    };
    let (recorded, _, _) = capture(plain(vec![]), plain(vec![])).await;
    assert!(find(&recorded, b"secret-key-XYZ-00599"));
    assert!(find(&recorded, b"secret-value-XYZ-00000"));
    assert!(find(&recorded, CLUSTER.as_bytes()));
}

/// A holds `ENTRIES` entries; B, whose only route to A is the proxy, starts and pulls them
/// while the proxy alters one bit of the first connection's server->client stream at `OFFSET`
/// (past the Noise handshake and the hellos, inside the first catch-up batch). The connection
/// must die with nothing applied, `last_error` saying why; the next one syncs everything.
async fn tampered_catch_up(tamper: impl FnOnce(&Proxy), expected_error: &str) {
    const ENTRIES: usize = 2000;
    let (proxy, a) = behind_proxy(keyed(vec![])).await;
    write_secrets(&a.db, 0..ENTRIES);
    tamper(&proxy);
    // A slow first reconnect leaves time to look at B between the two connections.
    let b = start(NodeConfig {
        peers: vec![proxy.addr().to_string()],
        reconnect_min: Duration::from_secs(1),
        reconnect_max: Duration::from_secs(2),
        ..keyed(vec![])
    })
    .await;
    let proxy_addr = proxy.addr().to_string();
    let mut seen_error = None;
    wait_until(
        Duration::from_secs(10),
        "the tampered connection to fail",
        || {
            let status = b.node.status();
            let peer = status.peers.iter().find(|p| p.address == proxy_addr);
            seen_error = peer.and_then(|p| p.last_error.clone());
            if seen_error.is_some() {
                // Between the failed connection and the next one: nothing of A's arrived.
                assert!(
                    contents(&b.db).is_empty(),
                    "entries were applied from a tampered connection"
                );
                assert_eq!(peer.unwrap().cursor, None, "{status:?}");
            }
            seen_error.is_some()
        },
    )
    .await;
    let error = seen_error.unwrap();
    assert!(
        error.contains(expected_error),
        "the connection ended with {error:?}, expected {expected_error:?}"
    );
    assert!(proxy.flipped(), "the proxy never flipped its bit");
    assert_eq!(b.db.last_seq(), 0);
    assert!(b.db.verify().unwrap().is_clean());

    // The next connection passes untouched and carries everything, intact.
    converged(&[&a.db, &b.db], ENTRIES, Duration::from_secs(30)).await;
    assert!(proxy.connections() >= 2);
    assert_eq!(contents(&b.db), contents(&a.db));
    assert_eq!(b.db.last_seq(), ENTRIES as u64, "one log entry per key");
    b.node.shutdown().await.unwrap();
    a.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_with_a_valid_checksum_fails_authentication() {
    let _memory = common::attack::sharing_memory().await;
    // The proxy recomputes the frame's crc32: only Noise's authentication tag can notice.
    tampered_catch_up(
        |p| p.flip_bit_keeping_crc(Direction::ServerToClient, OFFSET, 3),
        "failed authentication",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_on_the_wire_kills_the_connection() {
    let _memory = common::attack::sharing_memory().await;
    tampered_catch_up(
        |p| p.flip_bit(Direction::ServerToClient, OFFSET, 0),
        "checksum mismatch",
    )
    .await;
}
