//! A delete followed by a later re-put of the key: present everywhere with the re-put's value and
//! version, including on a node that was partitioned away during both and hears of them together.

use crate::common;

use std::time::Duration;

use common::jepsen::cluster::{settle, Cluster};
use common::wait_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reput_after_a_delete_wins_everywhere() {
    let c = Cluster::start(3, false).await;
    c.db(0).put("k", "first").unwrap();
    settle(&c.dbs(), Duration::from_secs(20)).await;
    c.net.partition(&[2], &[0, 1]);
    c.db(0).delete("k").unwrap();
    wait_until(Duration::from_secs(10), "the delete on node 1", || {
        c.db(1).get_versioned("k").unwrap().unwrap().is_tombstone()
    })
    .await;
    let reput = c.db(1).put("k", "again").unwrap();
    assert_eq!(reput.clock, 3);
    c.net.heal();
    settle(&c.dbs(), Duration::from_secs(30)).await;
    for i in 0..3 {
        let rec = c.db(i).get_versioned("k").unwrap().unwrap();
        assert_eq!(
            (rec.value.as_deref(), rec.version),
            (Some(&b"again"[..]), reput)
        );
    }
    c.shutdown().await;
}
