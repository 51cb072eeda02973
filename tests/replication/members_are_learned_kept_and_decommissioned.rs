//! Membership: a node learns every member of its cluster, directly and through relays (with
//! the address a relay knows), keeps them across a restart, and decommissions one only once
//! every other member holds its writes (or when forced); the decommissioned id is refused from
//! then on, and the other members learn the decommission.

use crate::common;

use std::time::Duration;

use common::{config, converged, start, start_in, wait_until, TestNode};
use meshkv::{Error, Member, MemberState, NodeId};

fn member(node: &TestNode, id: NodeId) -> Option<Member> {
    node.node.members().into_iter().find(|m| m.node_id == id)
}

/// Stops a node and gives back its folder, to start it again.
async fn stop(node: TestNode) -> tempfile::TempDir {
    let TestNode { dir, db, node } = node;
    node.shutdown().await.unwrap();
    drop(db);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_learns_every_member_and_keeps_them_across_a_restart() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    let c = start(config(vec![b.addr()])).await;
    c.db.put(b"from-c", b"3").unwrap();
    converged(&[&a.db, &b.db, &c.db], 1, Duration::from_secs(10)).await;
    let c_id = c.db.node_id();
    // A never connects to C: it knows C through B's rows, with the address B heard it at.
    wait_until(Duration::from_secs(10), "A knows C's address", || {
        member(&a, c_id).is_some_and(|m| m.address.as_deref() == Some(c.addr().as_str()))
    })
    .await;
    let on_a = member(&a, c_id).unwrap();
    assert_eq!(on_a.state, MemberState::Active);
    assert!(!on_a.connected);
    assert!(on_a.last_heard_ms > 0);
    let listed: Vec<_> = a.node.members().iter().map(|m| m.node_id).collect();
    assert_eq!(listed[0], a.db.node_id(), "the node itself first");
    assert!(listed.contains(&b.db.node_id()) && listed.contains(&c_id));
    assert!(a.node.members()[0].is_self);
    assert_eq!(a.node.status().members, 3);

    // Restarted alone, A still knows both.
    let a_addr = a.addr();
    let dir = stop(a).await;
    let a = start_in(dir, config(vec![])).await;
    let ids: Vec<_> = a.node.members().iter().map(|m| m.node_id).collect();
    assert!(
        ids.contains(&b.db.node_id()) && ids.contains(&c_id),
        "{ids:?}"
    );
    assert_eq!(
        member(&a, c_id).unwrap().address.as_deref(),
        Some(c.addr().as_str())
    );
    assert_ne!(a.addr(), a_addr, "a new port: the records came from disk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decommission_waits_for_every_member_then_refuses_the_id() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    let c = start(config(vec![a.addr(), b.addr()])).await;
    let (b_id, c_id) = (b.db.node_id(), c.db.node_id());
    converged(&[&a.db, &b.db, &c.db], 0, Duration::from_secs(10)).await;
    wait_until(
        Duration::from_secs(10),
        "A has B's and C's summaries",
        || {
            a.node
                .members()
                .iter()
                .filter(|m| !m.is_self)
                .all(|m| m.holds_all_through_ms.is_some())
        },
    )
    .await;

    // B goes down; C writes, A gets it, then C goes down too.
    let b_dir = stop(b).await;
    for i in 0..20u32 {
        c.db.put(format!("c-{i}"), b"v").unwrap();
    }
    converged(&[&a.db, &c.db], 20, Duration::from_secs(10)).await;
    wait_until(Duration::from_secs(10), "A holds C's writes", || {
        let m = member(&a, c_id).unwrap();
        m.held_through_ms.is_some()
    })
    .await;
    let c_dir = stop(c).await;

    // B lacks C's writes: refused, naming B.
    let refused = a.node.decommission(c_id, false).await.unwrap_err();
    let Error::NotDecommissioned { node, reason } = &refused else {
        panic!("{refused}");
    };
    assert_eq!(*node, c_id);
    assert!(reason.contains(&b_id.to_string()), "{reason}");
    assert_eq!(member(&a, c_id).unwrap().state, MemberState::Active);
    // Nor can a node decommission itself, or an id no member has.
    assert!(matches!(
        a.node.decommission(a.db.node_id(), true).await,
        Err(Error::NotDecommissioned { .. })
    ));
    assert!(matches!(
        a.node.decommission(NodeId([9; 16]), true).await,
        Err(Error::NotDecommissioned { .. })
    ));

    // B comes back and catches up through A: now the check passes.
    let b = start_in(b_dir, config(vec![a.addr()])).await;
    converged(&[&a.db, &b.db], 20, Duration::from_secs(10)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match a.node.decommission(c_id, false).await {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("still refused after B caught up: {e}"),
        }
    }
    assert_eq!(member(&a, c_id).unwrap().state, MemberState::Decommissioned);
    // B learns it from A's rows.
    wait_until(Duration::from_secs(10), "B learns the decommission", || {
        member(&b, c_id).is_some_and(|m| m.state == MemberState::Decommissioned)
    })
    .await;

    // C comes back: refused by A (and B), it stops replicating and says why; its writes go
    // nowhere.
    let c = start_in(c_dir, config(vec![a.addr(), b.addr()])).await;
    c.db.put(b"after", b"x").unwrap();
    wait_until(
        Duration::from_secs(10),
        "C is told it was decommissioned",
        || {
            c.node
                .status()
                .halted
                .is_some_and(|h| h.contains("decommissioned"))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.db.get(b"after").unwrap(), None);
    assert_eq!(b.db.get(b"after").unwrap(), None);
    // And it stays stopped: its folder refuses to start replication until renew-id.
    let TestNode {
        dir: c_dir,
        db: c_db,
        node: c_node,
    } = c;
    c_node.shutdown().await.unwrap();
    let again = meshkv::Node::start(c_db.clone(), config(vec![a.addr()])).await;
    assert!(
        matches!(again, Err(Error::Decommissioned { .. })),
        "{:?}",
        again.err()
    );
    drop(c_db);
    // A new id joins as a new node.
    let new_id = meshkv::Db::renew_node_id(c_dir.path(), meshkv::Options::default()).unwrap();
    let c = start_in(c_dir, config(vec![a.addr()])).await;
    assert_eq!(c.db.node_id(), new_id);
    wait_until(
        Duration::from_secs(10),
        "the renewed C is a member of A",
        || member(&a, new_id).is_some_and(|m| m.state == MemberState::Active && m.connected),
    )
    .await;
    drop(c);

    // Durable: A restarted still refuses C.
    let a_dir = stop(a).await;
    let a = start_in(a_dir, config(vec![])).await;
    assert_eq!(member(&a, c_id).unwrap().state, MemberState::Decommissioned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_decommissions_a_member_others_never_heard_from() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    let b_id = b.db.node_id();
    wait_until(Duration::from_secs(10), "A knows B", || {
        member(&a, b_id).is_some()
    })
    .await;
    // A lone third member that never sent a summary blocks the check; force skips it.
    let c = start(config(vec![a.addr()])).await;
    let c_id = c.db.node_id();
    wait_until(Duration::from_secs(10), "A knows C", || {
        member(&a, c_id).is_some()
    })
    .await;
    drop(stop(c).await);
    a.node.decommission(c_id, true).await.unwrap();
    assert_eq!(member(&a, c_id).unwrap().state, MemberState::Decommissioned);
    // Its cursor went with it: nothing of C is pulled again.
    assert!(a.db.replica().peer_cursor(c_id).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_is_declared_gone_after_member_timeout() {
    let timeout = Duration::from_secs(1);
    let a = start(meshkv::NodeConfig {
        member_timeout: Some(timeout),
        ..config(vec![])
    })
    .await;
    let b = start(config(vec![a.addr()])).await;
    let b_id = b.db.node_id();
    wait_until(Duration::from_secs(10), "A knows B", || {
        member(&a, b_id).is_some()
    })
    .await;
    // Connected, it stays active however long.
    tokio::time::sleep(timeout * 2).await;
    assert_eq!(member(&a, b_id).unwrap().state, MemberState::Active);
    let dir = stop(b).await;
    wait_until(Duration::from_secs(10), "B declared gone", || {
        member(&a, b_id).unwrap().state == MemberState::Gone
    })
    .await;
    // Back, it is active again.
    let _b = start_in(dir, config(vec![a.addr()])).await;
    wait_until(Duration::from_secs(10), "B active again", || {
        member(&a, b_id).unwrap().state == MemberState::Active
    })
    .await;
}
