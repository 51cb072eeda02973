//! Limits are agreed in the hello: a node never serves a puller keys, values or messages it
//! would refuse. A puller with a smaller `max_value_size` is refused at the handshake with a
//! reason naming both limits (counted on both sides, nothing moves); once it runs with the same
//! limits, everything replicates, the largest value included. A node whose largest value cannot
//! fit its own frames does not start.

use crate::common;

use std::time::Duration;

use common::{config, start, start_db, wait_until};
use meshkv::{Db, Error, Node, NodeConfig, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_puller_with_a_smaller_value_limit_is_refused_naming_both() {
    let a = start(config(vec![])).await;
    a.db.put("small", "x").unwrap();
    a.db.put("big", vec![7u8; 2000]).unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let b_db = Db::open(b_dir.path(), Options::default().max_value_size(1000)).unwrap();
    let b = start_db(b_dir, b_db, config(vec![a.addr()])).await;
    let bn = &b.node;
    wait_until(Duration::from_secs(20), "B's refusal", || {
        bn.status().peers.iter().any(|p| p.refused > 0)
    })
    .await;
    let err = b.node.status().peers[0].last_error.clone().unwrap();
    assert!(
        err.contains("max_value_size") && err.contains("67108864") && err.contains("1000"),
        "{err}"
    );
    let an = &a.node;
    wait_until(Duration::from_secs(10), "A counts it", || {
        an.status().refused_inbound > 0
    })
    .await;
    assert_eq!(b.db.get("small").unwrap(), None, "nothing moves");
    // The same limits: everything replicates.
    b.node.shutdown().await.unwrap();
    drop(b.db);
    let b_db = Db::open(b.dir.path(), Options::default()).unwrap();
    let b = start_db(b.dir, b_db, config(vec![a.addr()])).await;
    let bdb = &b.db;
    wait_until(Duration::from_secs(20), "both values on B", || {
        bdb.get("big").unwrap().is_some() && bdb.get("small").unwrap().is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_limit_that_cannot_fit_a_frame_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let small_frames = NodeConfig {
        max_frame_size: 1 << 20,
        sync_batch_bytes: 1 << 19,
        ..config(vec![])
    };
    match Node::start(db.clone(), small_frames.clone()).await {
        Err(Error::InvalidOptions { field, reason }) => {
            assert_eq!(field, "max_frame_size");
            assert!(reason.contains("max_value_size"), "{reason}");
        }
        Err(e) => panic!("expected InvalidOptions, got {e}"),
        Ok(_) => panic!("a node started that cannot send its largest value"),
    }
    drop(db);
    // Values that fit: it starts.
    let db = Db::open(dir.path(), Options::default().max_value_size(500 << 10)).unwrap();
    let node = Node::start(db, small_frames).await.unwrap();
    node.shutdown().await.unwrap();
}
