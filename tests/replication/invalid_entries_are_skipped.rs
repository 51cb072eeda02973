//! An entry a node cannot take (here: a value over its `max_value_size`, written by a peer with
//! a larger limit) is skipped and counted; it does not stop replication from that peer: the entries
//! around it and the ones written later still flow.

use crate::common;

use std::time::Duration;

use common::{config, wait_until};
use meshkv::{Db, Node, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_entry_is_skipped_and_the_rest_flows() {
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Db::open(da.path(), Options::default()).unwrap();
    let b = Db::open(dbb.path(), Options::default().max_value_size(1000)).unwrap();
    a.put(b"before", b"1").unwrap();
    a.put(b"huge", vec![7u8; 5000]).unwrap();
    a.put(b"after", b"2").unwrap();
    let na = Node::start(a.clone(), config(vec![])).await.unwrap();
    let nb = Node::start(b.clone(), config(vec![na.local_addr().to_string()]))
        .await
        .unwrap();
    a.put(b"later", b"3").unwrap();
    wait_until(Duration::from_secs(10), "the other entries on B", || {
        ["before", "after", "later"]
            .iter()
            .all(|k| b.get(k).unwrap().is_some())
    })
    .await;
    assert_eq!(b.get(b"huge").unwrap(), None);
    let status = nb.status();
    let peer = status
        .peers
        .iter()
        .find(|p| p.node_id == Some(a.node_id()))
        .unwrap();
    assert_eq!(peer.invalid_entries, 1, "{status:?}");
    assert!(peer.connected);
    assert!(b.verify().unwrap().is_clean());
}
