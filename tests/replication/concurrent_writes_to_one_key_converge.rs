//! The same key written concurrently on three nodes (equal clocks): every node ends with the
//! same value and version — last-writer-wins by default, a custom resolver's choice when given.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, contents, start, wait_until};
use meshkv::replica::{Candidate, Choice};
use meshkv::NodeConfig;

async fn run(make: impl Fn() -> NodeConfig) -> Vec<common::TestNode> {
    // Unconnected at first, so that all three writes carry clock 1.
    let nodes = vec![
        start(make()).await,
        start(make()).await,
        start(make()).await,
    ];
    for (i, n) in nodes.iter().enumerate() {
        n.db.put(b"contested", format!("from node {i}")).unwrap();
        n.db.put(format!("own/{i}"), b"x").unwrap();
    }
    nodes[0].node.add_peer(nodes[1].addr());
    nodes[0].node.add_peer(nodes[2].addr());
    nodes[1].node.add_peer(nodes[2].addr());
    let dbs: Vec<_> = nodes.iter().map(|n| n.db.clone()).collect();
    wait_until(
        Duration::from_secs(20),
        "convergence on the contested key",
        || {
            let first = contents(&dbs[0]);
            first.len() == 4 && dbs.iter().all(|d| contents(d) == first)
        },
    )
    .await;
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_writer_wins_everywhere() {
    let nodes = run(|| config(vec![])).await;
    let versions: Vec<_> = nodes
        .iter()
        .map(|n| n.db.get_versioned(b"contested").unwrap().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] == w[1]));
    // The winner is the write with the highest (timestamp, origin) of the three.
    let winner = versions[0].version;
    assert_eq!(winner.clock, 1);
    let expected = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.db.node_id(), i))
        .filter(|(id, _)| *id == winner.origin)
        .map(|(_, i)| format!("from node {i}"))
        .next()
        .unwrap();
    assert_eq!(versions[0].value.as_deref(), Some(expected.as_bytes()));
    for n in &nodes {
        assert!(n.db.verify().unwrap().is_clean());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resolver_wins_everywhere() {
    // Smallest value wins, whatever the clocks' timestamps say.
    let smallest = |a: &Candidate<'_>, b: &Candidate<'_>| {
        if b.value < a.value {
            Choice::Second
        } else {
            Choice::First
        }
    };
    let nodes = run(|| NodeConfig {
        resolver: Arc::new(smallest),
        ..config(vec![])
    })
    .await;
    for n in &nodes {
        assert_eq!(
            n.db.get(b"contested").unwrap().as_deref(),
            Some(&b"from node 0"[..])
        );
    }
}
