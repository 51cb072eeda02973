//! Inside an established keyed session, a man-in-the-middle that flips a bit (fixing the frame's
//! crc32, so only Noise can tell), truncates, reorders or drops the frame carrying a batch: the
//! puller closes the connection, applies nothing and leaves its cursor unmoved, on every one of
//! 100 sessions (25 of each). Once the tampering stops, the same nodes converge.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::attack::{Mitm, Tamper};
use common::{contents, converged, start, wait_until};
use meshkv::NodeConfig;

use common::KEY;
const SESSIONS: usize = 100;
/// Server->client frames: 0 the Noise answer, 1 the hello, 2 the batch, 3 the end.
const BATCH_FRAME: usize = 2;

fn keyed(peers: Vec<String>) -> NodeConfig {
    NodeConfig {
        reconnect_min: Duration::from_millis(5),
        reconnect_max: Duration::from_millis(20),
        ..common::keyed_with(peers, KEY)
    }
}

fn tamper(i: usize) -> Tamper {
    let r = i / 4;
    match i % 4 {
        0 => Tamper::Flip {
            byte: r * 37 + 1,
            bit: (r % 8) as u8,
        },
        1 => Tamper::Truncate { keep: r * 97 + 1 },
        2 => Tamper::Swap,
        _ => Tamper::Drop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_frames_close_the_session_and_apply_nothing() {
    let _memory = common::attack::sharing_memory().await;
    let mitm = Mitm::start().await;
    mitm.set_plan(|i| Some((BATCH_FRAME, tamper(i))));
    // A advertises the man-in-the-middle, so B's only way to A is through it.
    let a = start(NodeConfig {
        advertise: Some(mitm.addr.to_string()),
        ..keyed(vec![])
    })
    .await;
    for i in 0..20u8 {
        a.db.put([b'k', i], [i; 100]).unwrap();
    }
    mitm.set_target(a.node.local_addr());
    let b = start(keyed(vec![mitm.addr.to_string()])).await;

    let connections = &mitm.connections;
    wait_until(Duration::from_secs(30), "100 tampered sessions", || {
        connections.load(Ordering::SeqCst) >= SESSIONS
    })
    .await;
    // Every session so far was tampered with: nothing may have been applied. (A session may be
    // between its handshake and its tampered batch right now: wait for it to end.)
    let address = mitm.addr.to_string();
    let (bn, bdb) = (&b.node, &b.db);
    let from_a = || {
        bn.status()
            .peers
            .into_iter()
            .find(|p| p.address == address)
            .unwrap()
    };
    wait_until(Duration::from_secs(5), "a session to end", || {
        from_a().last_error.is_some()
    })
    .await;
    let status = from_a();
    assert_eq!(
        contents(bdb).len(),
        0,
        "entries applied from a tampered session"
    );
    assert_eq!(status.entries_received, 0);
    assert_eq!(status.cursor, None, "the cursor moved");
    let err = status.last_error.unwrap();
    assert!(
        err.contains("authentication") || err.contains("closed") || err.contains("frame"),
        "{err}"
    );

    // The tampering stops: the same nodes converge.
    mitm.set_plan(|_| None);
    converged(&[&a.db, &b.db], 20, Duration::from_secs(10)).await;
    println!(
        "tamper: 4 attack classes (bit flip with crc fixed, truncation, reordering, dropping) x \
         {} sessions, 0 accepted, 0 state changes; then converged",
        SESSIONS / 4
    );
}
