//! A node isolated (a blackhole: its sockets stay open, nothing moves) while a key it holds is
//! deleted elsewhere does not hear of it; after the heal it rejoins: the key is deleted everywhere
//! and stays deleted across restarts of every node, and what the isolated node wrote meanwhile
//! reaches the others. Plaintext and keyed.

use crate::common;

use std::time::Duration;

use common::jepsen::cluster::{settle, Cluster};
use common::wait_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_node_rejoins_and_the_key_stays_deleted() {
    for keyed in [false, true] {
        let mut c = Cluster::start(3, keyed).await;
        c.db(0).put("k", "v").unwrap();
        settle(&c.dbs(), Duration::from_secs(20)).await;
        assert!(c.db(2).get("k").unwrap().is_some());

        c.net.partition(&[2], &[0, 1]);
        c.db(0).delete("k").unwrap();
        c.db(2).put("written-while-isolated", "c").unwrap();
        wait_until(Duration::from_secs(10), "the delete on node 1", || {
            c.db(1).get("k").unwrap().is_none()
        })
        .await;
        // Give the isolated node every chance to hear of it: it must not.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(c.db(2).get("k").unwrap().is_some(), "the partition leaked");

        c.net.heal();
        settle(&c.dbs(), Duration::from_secs(30)).await;
        for i in 0..3 {
            let db = c.db(i);
            assert!(db.get_versioned("k").unwrap().unwrap().is_tombstone());
            assert_eq!(
                db.get("written-while-isolated").unwrap().as_deref(),
                Some(&b"c"[..])
            );
            assert!(db.verify().unwrap().is_clean());
        }
        // And after every node restarts, still deleted.
        for i in 0..3 {
            c.stop_node(i).await;
            c.start_node(i).await;
        }
        settle(&c.dbs(), Duration::from_secs(30)).await;
        assert!((0..3).all(|i| c.db(i).get("k").unwrap().is_none()));
        c.shutdown().await;
    }
}
