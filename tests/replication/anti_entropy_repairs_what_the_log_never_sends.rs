//! Anti-entropy repairs what the pull stream will never send. Each of two nodes holds writes
//! the other lacks while its stored cursor for that peer already covers them (as after a lost
//! or wrongly moved cursor): the pulls send nothing, and the nodes stay different. With the
//! periodic rounds off, `Node::verify_peer` finds exactly the keys that differ, fetches one
//! side's and pushes the other's, and a second round finds nothing; with the rounds on
//! (`anti_entropy_interval`), the nodes converge by themselves. A tombstone is repaired like a
//! value, and writes made afterwards replicate as usual.

use crate::common;

use std::time::Duration;

use common::{config, contents, converged, start_db, wait_until, TestNode};
use meshkv::replica::PeerCursor;
use meshkv::{Db, NodeConfig, Options};

/// Two databases that differ, each with a cursor for the other at the other's last sequence.
fn diverged() -> ((tempfile::TempDir, Db), (tempfile::TempDir, Db)) {
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Db::open(da.path(), Options::default()).unwrap();
    let b = Db::open(dbb.path(), Options::default()).unwrap();
    for k in 0..50 {
        a.put(format!("a/{k}"), b"from a").unwrap();
    }
    a.delete(b"a/7").unwrap();
    for k in 0..30 {
        b.put(format!("b/{k}"), b"from b").unwrap();
    }
    for (db, peer) in [(&a, &b), (&b, &a)] {
        let cursor = PeerCursor {
            seq: peer.last_seq(),
            incarnation: peer.replica().incarnation(),
            proof: None,
        };
        db.replica()
            .set_peer_cursor(peer.node_id(), cursor)
            .unwrap();
    }
    ((da, a), (dbb, b))
}

/// Starts both, B dialing A (A dials back), and waits until both pulls are caught up.
async fn start_pair(every: Option<Duration>) -> (TestNode, TestNode) {
    let ((da, a), (dbb, b)) = diverged();
    let cfg = |peers| NodeConfig {
        anti_entropy_interval: every,
        ..config(peers)
    };
    let a = start_db(da, a, cfg(vec![])).await;
    let b = start_db(dbb, b, cfg(vec![a.addr()])).await;
    wait_until(Duration::from_secs(10), "both pulls caught up", || {
        [&a, &b].iter().all(|n| {
            let peers = n.node.status().peers;
            !peers.is_empty()
                && peers
                    .iter()
                    .all(|p| p.connected && p.entries_behind == Some(0))
        })
    })
    .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_peer_finds_exactly_what_differs_and_repairs_both_ways() {
    let (a, b) = start_pair(None).await;
    // The pulls are caught up, yet the nodes differ: the log will never send these.
    assert_eq!(contents(&a.db).len(), 50);
    assert_eq!(contents(&b.db).len(), 30);

    let report = b.node.verify_peer(&a.addr()).await.unwrap();
    println!("first round: {report:?}");
    assert_eq!(report.peer, Some(a.db.node_id()));
    assert!(!report.converged());
    let mut fetch = report.differences.fetch.clone();
    fetch.sort();
    let mut expected: Vec<Vec<u8>> = (0..50).map(|k| format!("a/{k}").into_bytes()).collect();
    expected.sort();
    assert_eq!(
        fetch, expected,
        "B fetches every key of A's, the tombstone too"
    );
    assert_eq!(report.differences.lacking.len(), 30);
    assert_eq!(
        (report.fetched, report.applied, report.refused),
        (50, 50, 0)
    );
    assert_eq!(
        (report.pushed, report.pushed_applied, report.pushed_refused),
        (30, 30, 0)
    );
    converged(&[&a.db, &b.db], 80, Duration::from_secs(5)).await;
    assert!(b.db.get(b"a/7").unwrap().is_none(), "the delete came too");
    assert_eq!(a.db.replica().digests(), b.db.replica().digests());

    // Converged: one exchange of range digests, a few kilobytes.
    let again = b.node.verify_peer(&a.addr()).await.unwrap();
    println!("second round: {} bytes", again.bytes);
    assert!(again.converged(), "{again:?}");
    assert!(again.bytes < 8 << 10, "{} bytes", again.bytes);
    let repair = &b.node.status().peers[0].repair;
    assert_eq!((repair.rounds, repair.differing_rounds), (2, 1));
    assert_eq!((repair.fetched, repair.pushed), (50, 30));
    assert_eq!(a.node.status().repairs_served, 2);
    assert_eq!(a.node.status().repair_entries_applied, 30);

    // Later writes replicate as usual.
    a.db.put(b"after", b"1").unwrap();
    converged(&[&a.db, &b.db], 81, Duration::from_secs(10)).await;
    a.node.shutdown().await.unwrap();
    b.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_rounds_converge_the_nodes_by_themselves() {
    let (a, b) = start_pair(Some(Duration::from_millis(200))).await;
    converged(&[&a.db, &b.db], 80, Duration::from_secs(20)).await;
    let repaired: u64 = [&a, &b]
        .iter()
        .flat_map(|n| n.node.status().peers)
        .map(|p| p.repair.fetched + p.repair.pushed)
        .sum();
    assert!(repaired >= 80, "{repaired} entries moved by anti-entropy");
    // And then the rounds find nothing.
    wait_until(
        Duration::from_secs(10),
        "a round that found nothing",
        || {
            let before = b.node.status().peers[0].repair.clone();
            before.rounds > before.differing_rounds
        },
    )
    .await;
    a.node.shutdown().await.unwrap();
    b.node.shutdown().await.unwrap();
}
