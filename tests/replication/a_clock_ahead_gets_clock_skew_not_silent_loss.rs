//! Clocks with a bound, end to end: node A's clock is a day ahead, C's five minutes behind, B's
//! right; all three replicate (keyed). Then:
//! - A's status says a majority of its peers (both) refuse its clock, and its local writes fail
//!   with `Error::ClockSkew` (counted in `DbStats::clock_skew_refusals`) instead of being
//!   acknowledged and refused everywhere;
//! - every write of B and C reaches every node, A included (minutes of skew are within the
//!   15-minute bound);
//! - once A's clock is fixed, its writes succeed and reach B and C: nothing it did while it was
//!   ahead kept its clock there.
//!
//! A second scenario covers a node that wrote while alone with a clock a day ahead (nobody to
//! refuse it): after its clock is fixed and it meets its peers, its hybrid clock is moved back
//! (`clock_regressions` 1) and its next write reaches them.

use crate::common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{contents, keyed_with, skewed_clock, start_db, start_skewed, wait_until, KEY};
use meshkv::{Db, Error, Options};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_a_day_ahead_gets_clock_skew_and_honest_writes_reach_everyone() {
    let (ahead, right, behind) = (
        Arc::new(AtomicI64::new(DAY)),
        Arc::new(AtomicI64::new(0)),
        Arc::new(AtomicI64::new(-5 * MINUTE)),
    );
    let b = start_skewed(&right, keyed_with(vec![], KEY)).await;
    let c = start_skewed(&behind, keyed_with(vec![b.addr()], KEY)).await;
    let a = start_skewed(&ahead, keyed_with(vec![b.addr(), c.addr()], KEY)).await;
    // B and C learn A by its hellos and dial it back; wait until A has heard both.
    let an = &a.node;
    wait_until(
        Duration::from_secs(10),
        "A to hear both peers' clocks",
        || {
            let clock = an.status().clock;
            clock.peers_heard == 2 && clock.refused
        },
    )
    .await;
    assert_eq!(a.node.status().clock.peers_refusing, 2);
    match a.db.put(b"from-a", b"1") {
        Err(Error::ClockSkew { ahead_by, peers }) => {
            assert!(ahead_by > Duration::from_secs(23 * 3600), "{ahead_by:?}");
            assert_eq!(peers, 2);
        }
        other => panic!("a write of a node a day ahead: {other:?}"),
    }
    assert_eq!(
        a.db.get(b"from-a").unwrap(),
        None,
        "the refused write is not there"
    );
    assert_eq!(a.db.stats().clock_skew_refusals, 1);
    // B and C are fine: their writes reach every node.
    assert!(!b.node.status().clock.refused && !c.node.status().clock.refused);
    for i in 0..10u8 {
        b.db.put([b'b', i], b"x").unwrap();
        c.db.put([b'c', i], b"x").unwrap();
    }
    let dbs = [&a.db, &b.db, &c.db];
    wait_until(
        Duration::from_secs(15),
        "every honest write everywhere",
        || dbs.iter().all(|db| contents(db).len() == 20),
    )
    .await;

    // Fixed: A's writes succeed and reach both peers.
    ahead.store(0, Ordering::Relaxed);
    wait_until(Duration::from_secs(10), "A's clock accepted again", || {
        !an.status().clock.refused
    })
    .await;
    a.db.put(b"from-a", b"2").unwrap();
    wait_until(Duration::from_secs(15), "A's write everywhere", || {
        dbs.iter().all(|db| contents(db).len() == 21)
    })
    .await;
    println!(
        "clock skew: A a day ahead refused by 2 of 2 peers, 1 write refused with ClockSkew; \
         20 honest writes (C 5 min behind) reached all 3 nodes; after the fix A's write reached both"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_that_ran_ahead_alone_is_moved_back_when_peers_say_so() {
    let (skew, right) = (Arc::new(AtomicI64::new(DAY)), Arc::new(AtomicI64::new(0)));
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().clock(skewed_clock(&skew))).unwrap();
    // Alone, a day ahead: nobody refuses, the write takes a timestamp a day ahead.
    let early = db.put(b"alone", b"1").unwrap();
    skew.store(0, Ordering::Relaxed);
    let b = start_skewed(&right, keyed_with(vec![], KEY)).await;
    let a = start_db(dir, db, keyed_with(vec![b.addr()], KEY)).await;
    let an = &a.node;
    wait_until(Duration::from_secs(10), "A to hear B's clock", || {
        an.status().clock.peers_heard == 1
    })
    .await;
    // The wall clock is right, the hybrid clock is a day ahead: moved back, not refused.
    assert!(!a.node.status().clock.refused);
    let later = a.db.put(b"after", b"2").unwrap();
    assert_eq!(a.db.stats().clock_regressions, 1);
    assert!(
        later.timestamp < early.timestamp,
        "the clock was not moved back"
    );
    let bdb = &b.db;
    wait_until(Duration::from_secs(10), "A's new write at B", || {
        bdb.get(b"after").unwrap().is_some()
    })
    .await;
    // The write made while alone waits at B (refused, counted) until B's clock gets there.
    assert_eq!(b.db.get(b"alone").unwrap(), None);
    let bn = &b.node;
    wait_until(
        Duration::from_secs(10),
        "B to show the refused entry",
        || bn.status().peers.iter().any(|p| p.unapplied_entries == 1),
    )
    .await;
}
