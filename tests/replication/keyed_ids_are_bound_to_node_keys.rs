//! Every folder holds a static key pair (`node.key`, owner-only) and, when it makes its own id,
//! derives the id from it. Under cluster keys a node whose id is not bound to its key (an id set
//! in `Options::node_id`) refuses to start with `Error::UnboundNodeId`; `renew_node_id` binds it
//! (a new key, the id derived from it), and the node then starts and replicates.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{contents, keyed_with, start, wait_until, KEY};
use meshkv::{Db, Error, Node, NodeId, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_not_bound_to_the_key_is_refused_until_renewed() {
    // A folder that made its own id: bound, key file owner-only.
    let fresh = tempfile::tempdir().unwrap();
    let db = Db::open(fresh.path(), Options::default()).unwrap();
    assert!(db.identity_is_bound());
    assert_eq!(db.node_id(), NodeId::of_public_key(&db.public_key()));
    let mode = std::fs::metadata(fresh.path().join("node.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "node.key is readable by others");
    drop(db);

    // An id given by hand: plaintext is fine, keyed is refused with a typed error.
    let dir = tempfile::tempdir().unwrap();
    let chosen = NodeId::random();
    let db = Db::open(dir.path(), Options::default().node_id(chosen)).unwrap();
    assert!(!db.identity_is_bound());
    match Node::start(db.clone(), keyed_with(vec![], KEY)).await {
        Err(Error::UnboundNodeId { node_id }) => assert_eq!(node_id, chosen),
        Err(e) => panic!("expected UnboundNodeId, got {e}"),
        Ok(_) => panic!("a keyed node started with an id its key does not prove"),
    }
    db.put(b"k", b"v").unwrap();
    drop(db);

    let before = std::fs::read(dir.path().join("node.key")).unwrap();
    let renewed = Db::renew_node_id(dir.path(), Options::default()).unwrap();
    assert_ne!(renewed, chosen);
    assert_ne!(
        std::fs::read(dir.path().join("node.key")).unwrap(),
        before,
        "same key"
    );
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(db.identity_is_bound());
    assert_eq!(db.node_id(), renewed);

    // Bound now: it starts under the key and a peer pulls its data.
    let node = Node::start(db.clone(), keyed_with(vec![], KEY))
        .await
        .unwrap();
    let peer = start(keyed_with(vec![node.local_addr().to_string()], KEY)).await;
    let pdb = &peer.db;
    wait_until(
        Duration::from_secs(10),
        "the peer to pull the renewed node",
        || contents(pdb).len() == 1,
    )
    .await;
}
