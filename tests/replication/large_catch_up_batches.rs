//! A catch-up whose batches are far larger than the handshake's frame limit (default 1 MiB
//! batches of 10,000 entries), plaintext and keyed: the serving side sends big frames although it
//! only accepts small ones itself.

use crate::common;

use std::time::Duration;

use common::{config, converged, start};
use meshkv::NodeConfig;

async fn run(keys: Vec<Vec<u8>>) {
    let a = start(NodeConfig {
        cluster_keys: keys.clone(),
        ..config(vec![])
    })
    .await;
    for c in 0..10u64 {
        let mut batch = a.db.batch();
        for i in c * 1000..(c + 1) * 1000 {
            batch.put(i.to_be_bytes(), [0x42u8; 100]);
        }
        a.db.write(batch).unwrap();
    }
    let b = start(NodeConfig {
        cluster_keys: keys,
        ..config(vec![a.addr()])
    })
    .await;
    converged(&[&a.db, &b.db], 10_000, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_catch_up_in_megabyte_batches() {
    run(vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_catch_up_in_megabyte_batches() {
    run(vec![vec![5u8; 32]]).await;
}
