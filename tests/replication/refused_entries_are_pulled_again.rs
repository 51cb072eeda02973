//! An entry a node cannot apply is never passed over: the cursor stays below it, the node shows
//! it (`PeerStatus::unapplied_entries`, `last_refusal`), every other key keeps converging, and
//! the entry is pulled again until it applies.
//!
//! - A clock two days ahead (A writes while alone, so nobody refuses its clock at the source):
//!   B refuses A's entries as implausible (more than `max_clock_drift`,
//!   15 minutes by default, ahead of its
//!   own clock) while an honest third node's writes reach it; once B's clock catches up, the
//!   next retry (ten heartbeat intervals after the first refusal) applies every one of them.
//!
//! (Limits that differ no longer get this far: the handshake refuses them, see
//! `peers_with_different_limits_are_refused`.)

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{config, start, start_db, wait_until};
use meshkv::record::Clock;
use meshkv::{Db, NodeId, Options};

const DAY_MS: u64 = 24 * 3600 * 1000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A clock `offset` milliseconds ahead of the system's.
fn ahead(offset: Arc<AtomicU64>) -> Clock {
    Clock::custom(move || now_ms() + offset.load(Ordering::Relaxed))
}

fn unapplied_from(node: &meshkv::Node, id: NodeId) -> u64 {
    node.status()
        .peers
        .iter()
        .filter(|p| p.node_id == Some(id))
        .map(|p| p.unapplied_entries)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_from_a_clock_far_ahead_wait_and_apply_once_the_clock_catches_up() {
    let a_dir = tempfile::tempdir().unwrap();
    let a_db = Db::open(
        a_dir.path(),
        Options::default().clock(ahead(Arc::new(AtomicU64::new(2 * DAY_MS)))),
    )
    .unwrap();
    let a = start_db(a_dir, a_db, config(vec![])).await;
    // A writes while alone: with peers that refuse its clock it would get `ClockSkew` instead
    // (see `a_clock_ahead_gets_clock_skew_not_silent_loss`).
    for i in 0..10 {
        a.db.put(format!("ahead/{i}"), "from the future").unwrap();
    }
    let honest = start(config(vec![])).await;
    let b_offset = Arc::new(AtomicU64::new(0));
    let b_dir = tempfile::tempdir().unwrap();
    let b_db = Db::open(
        b_dir.path(),
        Options::default().clock(ahead(b_offset.clone())),
    )
    .unwrap();
    let b = start_db(b_dir, b_db, config(vec![a.addr(), honest.addr()])).await;

    for i in 0..10 {
        honest.db.put(format!("honest/{i}"), "now").unwrap();
    }
    let (bdb, bn, aid) = (&b.db, &b.node, a.db.node_id());
    wait_until(
        Duration::from_secs(20),
        "honest writes on B, A's refused",
        || {
            (0..10).all(|i| bdb.get(format!("honest/{i}")).unwrap().is_some())
                && unapplied_from(bn, aid) == 10
        },
    )
    .await;
    let peer = b
        .node
        .status()
        .peers
        .into_iter()
        .find(|p| p.node_id == Some(aid))
        .unwrap();
    assert!(peer.last_refusal.unwrap().contains("ahead"));
    assert!(
        peer.cursor.unwrap_or(0) < 10,
        "the cursor stays below the refused entries"
    );
    assert_eq!(b.db.get("ahead/0").unwrap(), None);
    // B's clock catches up: a retry applies them all.
    b_offset.store(2 * DAY_MS, Ordering::Relaxed);
    wait_until(Duration::from_secs(20), "A's entries on B", || {
        (0..10).all(|i| bdb.get(format!("ahead/{i}")).unwrap().is_some())
    })
    .await;
    wait_until(Duration::from_secs(10), "nothing left unapplied", || {
        unapplied_from(bn, aid) == 0
    })
    .await;
    assert!(b.db.verify().unwrap().is_clean());
}
