//! A cluster of in-process nodes on the fault network: node `i` listens on its own loopback
//! address, advertises its proxy, and lists every other node's proxy as a peer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use meshkv::{Db, Node, NodeConfig, Options, Version};
use tokio::sync::watch;

use super::checker::{pending_deadline, Contents, MARGIN_MS};
use super::net::{node_ip, Net, NodeTransport};
use super::workload::clock_ms;

/// One node of the cluster.
pub struct Member {
    pub dir: PathBuf,
    pub db: Option<Db>,
    pub node: Option<Node<NodeTransport>>,
    pub proxy: SocketAddr,
    target: watch::Sender<Option<SocketAddr>>,
}

/// Nodes on a fault network.
pub struct Cluster {
    pub net: Net,
    pub members: Vec<Member>,
    keys: Vec<Vec<u8>>,
    _root: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes (with a cluster key when `keyed`).
    pub async fn start(n: usize, keyed: bool) -> Cluster {
        let net = Net::default();
        let root = tempfile::tempdir().unwrap();
        let mut members = Vec::new();
        for i in 0..n {
            let (proxy, target) = net.proxy(i).await;
            members.push(Member {
                dir: root.path().join(format!("node{i}")),
                db: None,
                node: None,
                proxy,
                target,
            });
        }
        let keys = if keyed {
            vec![b"fault-suite-cluster-key-0123456789".to_vec()]
        } else {
            vec![]
        };
        let mut cluster = Cluster {
            net,
            members,
            keys,
            _root: root,
        };
        for i in 0..n {
            cluster.start_node(i).await;
        }
        cluster
    }

    fn config(&self, i: usize) -> NodeConfig {
        NodeConfig {
            listen: SocketAddr::new(node_ip(i).into(), 0),
            advertise: Some(self.members[i].proxy.to_string()),
            peers: (0..self.members.len())
                .filter(|&j| j != i)
                .map(|j| self.members[j].proxy.to_string())
                .collect(),
            cluster: "fault-suite".into(),
            cluster_keys: self.keys.clone(),
            heartbeat_interval: Duration::from_millis(100),
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(300),
            initial_sync_timeout: Duration::from_millis(300),
            handshake_timeout: Duration::from_secs(2),
            anti_entropy_interval: super::anti_entropy(Duration::from_millis(500)),
            ..NodeConfig::default()
        }
    }

    /// Opens node `i`'s database (again) and starts its node.
    pub async fn start_node(&mut self, i: usize) {
        self.try_start_node(i).await.unwrap();
    }

    /// Opens node `i`'s database (again) and starts its node, if it starts.
    pub async fn try_start_node(&mut self, i: usize) -> meshkv::Result<()> {
        let db = Db::open(&self.members[i].dir, Options::default())?;
        let transport = NodeTransport { ip: node_ip(i) };
        let node = Node::start_with(transport, db.clone(), self.config(i)).await?;
        self.members[i].target.send_replace(Some(node.local_addr()));
        self.members[i].db = Some(db);
        self.members[i].node = Some(node);
        Ok(())
    }

    /// Stops node `i` and closes its database (a clean stop).
    pub async fn stop_node(&mut self, i: usize) {
        self.members[i].target.send_replace(None);
        if let Some(node) = self.members[i].node.take() {
            node.shutdown().await.unwrap();
        }
        self.members[i].db = None;
    }

    /// Node `i`'s database (running).
    pub fn db(&self, i: usize) -> &Db {
        self.members[i].db.as_ref().expect("node is running")
    }

    /// Every running database.
    pub fn dbs(&self) -> Vec<&Db> {
        self.members.iter().filter_map(|m| m.db.as_ref()).collect()
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for i in 0..self.members.len() {
            self.stop_node(i).await;
        }
    }
}

/// What settling compares of a key: its version, its deadline, and its value without one.
pub type Settled = (Version, Option<u64>, Option<Vec<u8>>);

/// What settling compares of a database: every key's version and deadline, and its value when
/// it has no deadline. A value with a deadline is left out: each node judges the deadline by its
/// own clock, so one may read it expired a moment before another; the checker compares the
/// values once no deadline is near ([`read_finals`]).
pub fn view(db: &Db) -> BTreeMap<Vec<u8>, Settled> {
    db.replica()
        .changes_since(0)
        .map(|r| {
            let (_, e) = r.unwrap();
            let value = if e.expires_at.is_none() {
                e.value
            } else {
                None
            };
            (e.key, (e.version, e.expires_at, value))
        })
        .collect()
}

/// Every database's final contents, read when no record's deadline is near any node's clock
/// (see [`pending_deadline`]): while one is, waits until every clock is past it by
/// [`MARGIN_MS`] and reads again.
pub async fn read_finals(dbs: &[&Db]) -> Vec<Contents> {
    loop {
        let finals: Vec<Contents> = dbs.iter().map(|db| Contents::read(db)).collect();
        let Some(deadline) = pending_deadline(&finals) else {
            return finals;
        };
        while dbs.iter().any(|db| clock_ms(db) <= deadline + MARGIN_MS) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Waits until every database holds identical contents and versions (any number of keys; see
/// [`view`]), polling; panics after `timeout`. Returns how long it took.
pub async fn settle(dbs: &[&Db], timeout: Duration) -> Duration {
    match try_settle(dbs, timeout).await {
        Some(took) => took,
        None => panic!("no convergence within {timeout:?} after the heal"),
    }
}

/// Like [`settle`], but `None` when the databases still differ after `timeout`.
pub async fn try_settle(dbs: &[&Db], timeout: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    loop {
        let first = view(dbs[0]);
        if dbs[1..].iter().all(|db| view(db) == first) {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
