//! A peer disconnects in the middle of a catch-up (plaintext and keyed): the entries that arrived
//! stay applied, the cursor does not move (docs/design.md invariant 8), and the next connection
//! finishes the catch-up with nothing lost, nothing duplicated in the log (one log entry per key), and
//! `verify()` clean on both nodes.
//!
//! Node A advertises a proxy's address as its own, so B's only route to A is the proxy, which
//! cuts the first connection after `CUT` bytes went A->B.

use crate::common;

use std::time::Duration;

use common::{behind_proxy, config, contents, converged, start, wait_until};
use meshkv::NodeConfig;

const ENTRIES: usize = 5000;
/// About 6% of the catch-up (5,000 entries of about 160 bytes on the wire).
const CUT: usize = 50_000;

async fn cut_in_the_middle_of_a_catch_up(keys: Vec<Vec<u8>>) {
    let (proxy, a) = behind_proxy(NodeConfig {
        cluster_keys: keys.clone(),
        // Small batches: the catch-up spans many of them, and the cut lands after some.
        sync_batch_bytes: 4096,
        ..config(vec![])
    })
    .await;
    for i in 0..ENTRIES {
        a.db.put(format!("key-{i:012}"), [(i % 251) as u8; 100])
            .unwrap();
    }
    proxy.cut_after(CUT);
    // A slow first reconnect leaves time to look at B between the two connections.
    let b = start(NodeConfig {
        cluster_keys: keys,
        peers: vec![proxy.addr().to_string()],
        reconnect_min: Duration::from_secs(1),
        reconnect_max: Duration::from_secs(2),
        ..config(vec![])
    })
    .await;
    let (proxy_addr, a_id) = (proxy.addr().to_string(), a.db.node_id());

    // Between the cut and the next connection: a part of the catch-up is applied, and the
    // cursor has not moved.
    let mut partial = 0;
    wait_until(Duration::from_secs(10), "the cut connection to end", || {
        let status = b.node.status();
        let peer = status.peers.iter().find(|p| p.address == proxy_addr);
        let ended = peer.is_some_and(|p| p.last_error.is_some());
        if ended {
            partial = contents(&b.db).len();
            assert_eq!(peer.unwrap().cursor, None, "{status:?}");
            assert_eq!(b.db.replica().peer_cursor(a_id).unwrap(), None);
        }
        ended
    })
    .await;
    assert!(proxy.was_cut(), "the proxy never cut the connection");
    assert!(
        0 < partial && partial < ENTRIES,
        "the cut should land mid catch-up, but B held {partial} of {ENTRIES} entries"
    );
    assert!(b.db.verify().unwrap().is_clean());

    // The next connection finishes it.
    converged(&[&a.db, &b.db], ENTRIES, Duration::from_secs(30)).await;
    assert!(proxy.connections() >= 2);
    let (ca, cb) = (contents(&a.db), contents(&b.db));
    assert_eq!(cb.len(), ENTRIES);
    assert_eq!(ca, cb);
    // One log entry per key: entries re-sent by the second connection were not logged again.
    assert_eq!(b.db.replica().changes_since(0).count(), ENTRIES);
    let report = b.db.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.log_entries, ENTRIES as u64);
    assert_eq!(b.db.last_seq(), ENTRIES as u64, "B logged an entry twice");
    assert!(a.db.verify().unwrap().is_clean());
    assert_eq!(a.db.last_seq(), ENTRIES as u64, "A's entries echoed back");
    // The cursor moves once the round is complete.
    let high = a.db.last_seq();
    wait_until(Duration::from_secs(10), "B's cursor for A", || {
        b.db.replica().peer_cursor(a_id).unwrap().map(|p| p.seq) == Some(high)
    })
    .await;
    b.node.shutdown().await.unwrap();
    a.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_catch_up_survives_a_cut_connection() {
    cut_in_the_middle_of_a_catch_up(vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_catch_up_survives_a_cut_connection() {
    cut_in_the_middle_of_a_catch_up(vec![vec![7u8; 32]]).await;
}
