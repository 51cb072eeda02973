//! Helpers shared by the replication tests: nodes on loopback with port 0, polling until a
//! deadline, comparing whole contents.
#![allow(dead_code)]

pub mod attack;
pub mod jepsen;
pub mod process;
pub mod proxy;
pub mod resp;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshkv::record::Clock;

use meshkv::replication::PeerSource;
use meshkv::{Db, MulticastConfig, Node, NodeConfig, Options, Version};
use rand::Rng;

/// A test node: its folder, database and replicator.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub db: Db,
    pub node: Node,
}

impl TestNode {
    pub fn addr(&self) -> String {
        self.node.local_addr().to_string()
    }
}

/// The cluster key keyed tests share.
pub const KEY: &[u8] = b"the-right-cluster-key-0123456789";

/// [`config`] with `key` as the one cluster key.
pub fn keyed_with(peers: Vec<String>, key: &[u8]) -> NodeConfig {
    NodeConfig {
        cluster_keys: vec![key.to_vec()],
        ..config(peers)
    }
}

/// A config on 127.0.0.1, port 0, fast heartbeats and reconnects.
pub fn config(peers: Vec<String>) -> NodeConfig {
    NodeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        peers,
        cluster: "test".into(),
        heartbeat_interval: Duration::from_millis(100),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(500),
        initial_sync_timeout: Duration::from_secs(3),
        ..NodeConfig::default()
    }
}

pub async fn start(config: NodeConfig) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, config).await
}

pub async fn start_in(dir: tempfile::TempDir, config: NodeConfig) -> TestNode {
    let db = Db::open(dir.path(), Options::default()).unwrap();
    start_db(dir, db, config).await
}

/// Starts a node on a database already open in `dir`.
pub async fn start_db(dir: tempfile::TempDir, db: Db, config: NodeConfig) -> TestNode {
    let node = Node::start(db.clone(), config).await.unwrap();
    TestNode { dir, db, node }
}

/// A clock `skew` ms off the system clock (the test may change the skew while it runs).
pub fn skewed_clock(skew: &Arc<AtomicI64>) -> Clock {
    let skew = Arc::clone(skew);
    Clock::custom(move || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        (now + skew.load(Ordering::Relaxed)) as u64
    })
}

/// A node in a fresh folder whose database reads [`skewed_clock`]`(skew)`.
pub async fn start_skewed(skew: &Arc<AtomicI64>, config: NodeConfig) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().clock(skewed_clock(skew))).unwrap();
    start_db(dir, db, config).await
}

/// A database at `dir` whose clock reads `now` (ms since the Unix epoch, moved by the test),
/// without a sweeper thread (`Db::sweep_expired` sweeps).
pub fn open_at(dir: &std::path::Path, now: &Arc<AtomicU64>) -> Db {
    let now = Arc::clone(now);
    let options = Options::default()
        .clock(Clock::custom(move || now.load(Ordering::SeqCst)))
        .sweep_interval(None);
    Db::open(dir, options).unwrap()
}

/// Every key's value (or tombstone) and version.
pub fn contents(db: &Db) -> BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version)> {
    db.replica()
        .changes_since(0)
        .map(|r| {
            let (_, e) = r.unwrap();
            (e.key, (e.value, e.version))
        })
        .collect()
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; panics with `what` then.
pub async fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every database holds identical contents and versions with `keys` live keys or
/// tombstones in all.
pub async fn converged(dbs: &[&Db], keys: usize, timeout: Duration) {
    wait_until(timeout, "convergence", || {
        let first = contents(dbs[0]);
        first.len() == keys && dbs[1..].iter().all(|db| contents(db) == first)
    })
    .await;
    for db in dbs {
        assert!(db.verify().unwrap().is_clean());
    }
}

/// Starts a node with `config`, reachable only through a new proxy: the node advertises the
/// proxy's address as its own, so every connection to it (configured or learned from the hello)
/// goes through the proxy.
pub async fn behind_proxy(config: NodeConfig) -> (proxy::Proxy, TestNode) {
    let proxy = proxy::Proxy::start(None).await;
    let node = start(NodeConfig {
        advertise: Some(proxy.addr().to_string()),
        ..config
    })
    .await;
    proxy.set_target(node.node.local_addr());
    (proxy, node)
}

/// Multicast discovery that never leaves this host: interface 127.0.0.1, TTL 0, a random group
/// in 239.255.0.0/16 and a port that was free a moment ago (so parallel tests never hear each
/// other), announcements every 100 ms, peers dropped after 3 missed ones.
pub fn loopback_multicast() -> MulticastConfig {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut rng = rand::rng();
    let group = Ipv4Addr::new(239, 255, rng.random_range(1..255), rng.random_range(1..255));
    MulticastConfig {
        group: SocketAddrV4::new(group, port),
        interface: Ipv4Addr::LOCALHOST,
        interval: Duration::from_millis(100),
        expire_after: 3,
        ttl: 0,
    }
}

/// [`config`] with no peers and discovery on `multicast`.
pub fn discovering(multicast: &MulticastConfig) -> NodeConfig {
    NodeConfig {
        discovery: Some(multicast.clone()),
        ..config(vec![])
    }
}

/// The addresses `node` knows, with how it found them.
pub fn peers_of(node: &Node) -> BTreeMap<String, (PeerSource, bool)> {
    node.status()
        .peers
        .into_iter()
        .map(|p| (p.address, (p.source, p.connected)))
        .collect()
}

/// A real announcement of node `id`, heard on the group (within 5 s).
pub fn capture_announcement(multicast: &MulticastConfig, id: meshkv::NodeId) -> Vec<u8> {
    let listener = group_socket(multicast, true);
    listener
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 2048];
    loop {
        let (n, _) = listener.recv_from(&mut buf).unwrap();
        match meshkv::discovery::announcement::decode(&buf[..n]) {
            Ok(d) if d.announcement.node_id == id => return buf[..n].to_vec(),
            _ => continue,
        }
    }
}

/// A UDP socket that sends to (and, with `listen`, hears) a loopback multicast group the way
/// the tests' nodes do: interface 127.0.0.1, TTL 0.
pub fn group_socket(multicast: &MulticastConfig, listen: bool) -> std::net::UdpSocket {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    socket.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    socket.set_multicast_ttl_v4(0).unwrap();
    socket.set_multicast_loop_v4(true).unwrap();
    if listen {
        socket.set_reuse_address(true).unwrap();
        socket.set_reuse_port(true).unwrap();
        socket.bind(&multicast.group.into()).unwrap();
        socket
            .join_multicast_v4(multicast.group.ip(), &Ipv4Addr::LOCALHOST)
            .unwrap();
    } else {
        socket
            .bind(&SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0).into())
            .unwrap();
    }
    socket.into()
}
