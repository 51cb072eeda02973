//! A node whose clock runs hours ahead cannot make a key expire early on honest nodes.
//!
//! A and B have correct clocks; C's is two hours ahead. C dials both, so B hears A's writes
//! only through C. A writes a key with a TTL of one hour. C reads it as expired (by its own
//! clock), but it keeps the value and relays it with it: values are dropped only by
//! `drop_clock_ms`, which never runs ahead of a majority of the peers' clocks (docs/design.md,
//! "Expiry"). So B, whose clock says the key has an hour left, reads it, and once C's clock is
//! set right C reads it too. (An entry sent without its value while its deadline is more than
//! `max_clock_drift` ahead of the receiver's clock is refused: `storage/apply.rs`.)

use crate::common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{config, start_skewed, wait_until};

const HOUR: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_node_reads_a_live_key_that_reached_it_through_a_fast_clock() {
    let (right, ahead) = (
        Arc::new(AtomicI64::new(0)),
        Arc::new(AtomicI64::new(2 * HOUR)),
    );
    let a = start_skewed(&right, config(vec![])).await;
    let b = start_skewed(&right, config(vec![])).await;
    let c = start_skewed(&ahead, config(vec![a.addr(), b.addr()])).await;
    a.db.put_with_ttl(b"k", b"an hour", Duration::from_secs(3600))
        .unwrap();
    let (bdb, cdb) = (&b.db, &c.db);
    wait_until(Duration::from_secs(15), "the key at B and C", || {
        bdb.get_versioned(b"k").unwrap().is_some() && cdb.get_versioned(b"k").unwrap().is_some()
    })
    .await;
    // A, whose write it is, reads it: an hour to go.
    assert_eq!(a.db.get(b"k").unwrap(), Some(b"an hour".to_vec()));
    let left = b.db.ttl(b"k").unwrap();
    let rec = b.db.get_versioned(b"k").unwrap().unwrap();
    // B's clock is right: its deadline is an hour ahead, the key must read.
    assert!(
        !rec.expired,
        "B reads the key expired ({rec:?}), ttl {left:?}"
    );
    assert_eq!(b.db.get(b"k").unwrap(), Some(b"an hour".to_vec()));
    // C's clock set right: the key has an hour to go there too.
    ahead.store(0, Ordering::Relaxed);
    assert_eq!(c.db.get(b"k").unwrap(), Some(b"an hour".to_vec()));
}
