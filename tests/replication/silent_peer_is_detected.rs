//! Liveness: a peer that goes silent without closing its socket (a paused link) is noticed: dead
//! after three silent heartbeat intervals (100 ms each here; the test allows 3 s to notice), and
//! the node reconnects when the link comes back.

use crate::common;

use std::time::Duration;

use common::{behind_proxy, config, start, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_link_is_noticed_and_recovered() {
    let (proxy, a) = behind_proxy(config(vec![])).await;
    let b = start(config(vec![proxy.addr().to_string()])).await;
    a.db.put(b"first", b"1").unwrap();
    let bdb = b.db.clone();
    wait_until(Duration::from_secs(10), "the first write on B", || {
        bdb.get(b"first").unwrap().is_some()
    })
    .await;

    proxy.pause(true);
    let paused = std::time::Instant::now();
    let bn = &b.node;
    wait_until(Duration::from_secs(10), "B to notice the silence", || {
        bn.status()
            .peers
            .iter()
            .any(|p| !p.connected && p.last_error.as_deref().unwrap_or("").contains("silent"))
    })
    .await;
    // Heartbeats every 100 ms: dead after 300 ms, noticed well within a second or two.
    assert!(
        paused.elapsed() < Duration::from_secs(3),
        "{:?}",
        paused.elapsed()
    );

    proxy.pause(false);
    a.db.put(b"second", b"2").unwrap();
    wait_until(
        Duration::from_secs(10),
        "the second write after the link heals",
        || bdb.get(b"second").unwrap().is_some(),
    )
    .await;
}
