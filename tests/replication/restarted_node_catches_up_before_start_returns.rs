//! A node stopped while others write (it misses 500 writes) has caught up when `Node::start`
//! returns, and its own writes after the restart reach the others.

use crate::common;

use std::time::Duration;

use common::{config, start, start_in, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_before_start_returns() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    b.node.shutdown().await.unwrap();
    let common::TestNode { dir, db, .. } = b;
    drop(db);

    for k in 0..500 {
        a.db.put(format!("while-away/{k}"), b"v").unwrap();
    }
    let b = start_in(dir, config(vec![a.addr()])).await;
    // No waiting: start returned after one sync round with A.
    for k in 0..500 {
        assert_eq!(
            b.db.get(format!("while-away/{k}")).unwrap().as_deref(),
            Some(&b"v"[..]),
            "key {k} missing right after start"
        );
    }
    b.db.put(b"after-restart", b"hello").unwrap();
    let adb = a.db.clone();
    wait_until(Duration::from_secs(10), "B's new write on A", || {
        adb.get(b"after-restart").unwrap().is_some()
    })
    .await;
}
