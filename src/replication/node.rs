//! [`Node`]: the replicator's tasks. They only move bytes and timers; what a message means is
//! decided by the `Db` hooks (`changes_since`, `apply`, cursors) and the handshake checks.
//!
//! Tasks:
//! - the accept loop: caps connections with a semaphore, gives each a handshake deadline, then
//!   serves the dialer: a round of `Batch` frames and an `End` from one snapshot, again whenever
//!   a commit raises the last sequence, and heartbeats;
//! - one puller per known peer address: dials (re-resolving names), handshakes, sends its
//!   cursor, applies batches, stores the cursor after each `End` (invariant 8), heartbeats, and
//!   reconnects with exponential backoff and jitter.
//!
//! - with `NodeConfig::discovery`, the multicast task (`crate::discovery`): it announces this
//!   node, and hands the node the addresses it hears (dialed like configured peers, as
//!   [`PeerSource::Discovered`]) and those that expire (their puller stops, closing the
//!   connection).
//!
//! RocksDB work goes through `BlockingJobs::spawn`, the one seam between async and blocking
//! code; shutdown waits for those jobs.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::Instrument;

use super::channel::{ByteCounters, Channel};
use super::config::NodeConfig;
use super::handshake::{self, HandshakeConfig};
use super::message::Message;
use crate::discovery::membership::Membership;
use crate::discovery::multicast::{self, Discovery, PeerSet};
use crate::discovery::DiscoveryStatus;
use crate::net::{
    stopped, LogThrottle, Shutdown, TaskFailure, TaskSet, Tcp, Transport, REFUSAL_LOG_INTERVAL,
};
use crate::storage::SyncSource;
use crate::{Db, Entry, Error, NodeId, PeerCursor, Result};

/// How the node came to know a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerSource {
    /// Listed in `NodeConfig::peers`.
    Configured,
    /// Given to `Node::add_peer`.
    Added,
    /// Learned from the hello of a peer that dialed us.
    Dialed,
    /// Heard on multicast discovery: dropped (and its connection closed) when its
    /// announcements stop for `expire_after` intervals. An address learned from a hello that is
    /// also announced becomes `Discovered`; a configured or added one stays as it is and never
    /// expires.
    Discovered,
}

/// What the node knows of one peer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The address dialed.
    pub address: String,
    /// How the node came to know it.
    pub source: PeerSource,
    /// The peer's node id, once a handshake succeeded.
    pub node_id: Option<NodeId>,
    /// True while a pulling connection is up.
    pub connected: bool,
    /// The last sequence of the peer's log committed here.
    pub cursor: Option<u64>,
    /// The peer's last sequence minus our cursor, as of its last heartbeat or round.
    pub entries_behind: Option<u64>,
    /// The last error on this peer's connection.
    pub last_error: Option<String>,
    /// Handshakes with this peer refused (by either side).
    pub refused: u64,
    /// Entries from this peer skipped as invalid (implausible versions, over our size limits).
    pub invalid_entries: u64,
    /// Entries pulled from this peer (all received, whatever `apply` made of them).
    pub entries_received: u64,
    /// Of those, the entries that won and were committed here.
    pub entries_applied: u64,
    /// The peer's last sequence, as of its last heartbeat or completed round (a serving peer
    /// sends one before its first round, so a catch-up knows where it ends).
    pub peer_last_seq: Option<u64>,
    /// Entries received in the sync round in progress (0 between rounds): with `cursor` and
    /// `peer_last_seq`, how far a catch-up has come.
    pub round_entries: u64,
}

/// A snapshot of the node's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// This node's id.
    pub node_id: NodeId,
    /// The bound listen address.
    pub local_addr: SocketAddr,
    /// Every known peer address.
    pub peers: Vec<PeerStatus>,
    /// Accepted connections whose handshake failed, timed out or was refused.
    pub refused_inbound: u64,
    /// Connections closed on arrival because `max_connections` or `max_handshakes` was reached.
    pub inbound_over_limit: u64,
    /// Multicast discovery's counters, when it is on.
    pub discovery: Option<DiscoveryStatus>,
    /// Why replication stopped for good, if it did: this folder was found to be an old copy of
    /// its node ([`Error::RolledBack`]).
    pub halted: Option<String>,
    /// Replication bytes received on established connections (frames and their headers;
    /// handshakes not counted), all peers together, since the node started.
    pub bytes_in: u64,
    /// Replication bytes sent, counted the same way.
    pub bytes_out: u64,
    /// Tasks of this node that panicked or failed, oldest first (at most 64). A failure of an
    /// essential one (the accept loop, discovery) means the node no longer does its whole job:
    /// see [`NodeStatus::healthy`].
    pub failed_tasks: Vec<TaskFailure>,
}

impl NodeStatus {
    /// False once replication halted or an essential task died: the node looks alive but no
    /// longer serves (or finds) its peers.
    pub fn healthy(&self) -> bool {
        self.halted.is_none() && !self.failed_tasks.iter().any(|f| f.essential)
    }
}

struct PeerState {
    status: PeerStatus,
    peer_last_seq: Option<u64>,
    /// Which cluster key to dial with: moves on after a failed handshake (key rotation).
    key_index: usize,
    /// Set once the first sync attempt ended (a complete round, or a failure).
    attempted: watch::Sender<bool>,
    /// Never sent: dropped with this state when the peer is removed (an expired discovered
    /// peer), which stops its puller and closes its connection.
    _removed: watch::Sender<()>,
}

struct Shared<T: Transport> {
    db: Db,
    config: NodeConfig,
    handshake: HandshakeConfig,
    transport: T,
    local_addr: SocketAddr,
    peers: Mutex<BTreeMap<String, PeerState>>,
    refused_inbound: AtomicU64,
    bytes: Arc<ByteCounters>,
    inbound_over_limit: AtomicU64,
    /// Refusals of inbound connections are logged once per IP address per interval.
    refusal_log: Mutex<LogThrottle<IpAddr>>,
    discovery: Option<Arc<Mutex<Membership>>>,
    shutdown: Shutdown,
    /// Set when replication stopped for good (this folder is an old copy of its node).
    halted: Mutex<Option<String>>,
    tasks: TaskSet,
    jobs: Arc<BlockingJobs>,
    /// Draws reconnect jitter: seeded in a simulation (`Node::start_simulated`), else from entropy.
    jitter: Mutex<StdRng>,
}

/// A replicating node: serves this database's log to peers and pulls theirs.
///
/// Dropping it stops its tasks; [`Node::shutdown`] also waits for them.
pub struct Node<T: Transport = Tcp> {
    shared: Arc<Shared<T>>,
}

impl Node<Tcp> {
    /// Starts replication over TCP; returns once one sync attempt with each configured peer has
    /// ended, or `initial_sync_timeout` passed, so a restarted node catches up before it takes
    /// writes.
    pub async fn start(db: Db, config: NodeConfig) -> Result<Node<Tcp>> {
        Node::start_inner(Tcp, db, config, None).await
    }
}

impl<T: Transport> Node<T> {
    /// [`Node::start`] over another transport (a network simulator in tests).
    #[cfg(feature = "internals")]
    pub async fn start_with(transport: T, db: Db, config: NodeConfig) -> Result<Node<T>> {
        Node::start_inner(transport, db, config, None).await
    }

    /// [`Node::start_with`] for a deterministic simulation (the fault suite's `turmoil` runs):
    /// RocksDB work runs as tasks of the runtime instead of on tokio's blocking threads, and
    /// reconnect jitter comes from a generator seeded with `seed`. Never in production: the
    /// RocksDB calls then block the runtime's worker thread.
    #[cfg(feature = "internals")]
    pub async fn start_simulated(
        transport: T,
        db: Db,
        config: NodeConfig,
        seed: u64,
    ) -> Result<Node<T>> {
        Node::start_inner(transport, db, config, Some(seed)).await
    }

    async fn start_inner(
        transport: T,
        db: Db,
        config: NodeConfig,
        simulation_seed: Option<u64>,
    ) -> Result<Node<T>> {
        config.validate()?;
        if let Some(detail) = db.replica().rolled_back()? {
            return Err(Error::RolledBack { detail });
        }
        let listener = transport.bind(config.listen).await?;
        let local_addr = T::local_addr(&listener)?;
        // Where peers should dial us: `advertise`, else the listen address; a wildcard listen
        // address is replaced by the discovery interface's address when discovery is on.
        let advertise = match (&config.advertise, &config.discovery) {
            (Some(a), _) => Some(a.clone()),
            (None, _) if !local_addr.ip().is_unspecified() => Some(local_addr.to_string()),
            (None, Some(d)) => Some(multicast::wildcard_advertise(d, local_addr)?),
            (None, None) => None,
        };
        let discovery = match (&config.discovery, &advertise) {
            (Some(d), Some(adv)) => {
                let me = multicast::Identity {
                    cluster: &config.cluster,
                    node_id: db.node_id(),
                    cluster_keys: &config.cluster_keys,
                    advertise: adv,
                    clock: db.replica().clock().clone(),
                };
                Some(Discovery::prepare(&transport, d, me, config.max_connections).await?)
            }
            _ => None,
        };
        let handshake = HandshakeConfig {
            cluster: config.cluster.clone(),
            node_id: db.node_id(),
            psks: config
                .cluster_keys
                .iter()
                .map(|k| handshake::derive_psk(k))
                .collect(),
            advertise,
            max_message: config.max_frame_size,
        };
        let shutdown = Shutdown::new();
        let shared = Arc::new(Shared {
            db,
            handshake,
            transport,
            local_addr,
            peers: Mutex::new(BTreeMap::new()),
            refused_inbound: AtomicU64::new(0),
            bytes: Arc::default(),
            inbound_over_limit: AtomicU64::new(0),
            refusal_log: Mutex::new(LogThrottle::new(REFUSAL_LOG_INTERVAL, 1024)),
            discovery: discovery.as_ref().map(|d| Arc::clone(&d.membership)),
            shutdown,
            halted: Mutex::new(None),
            tasks: TaskSet::new(),
            jobs: Arc::new(BlockingJobs {
                inline: simulation_seed.is_some(),
                ..BlockingJobs::default()
            }),
            jitter: Mutex::new(match simulation_seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_rng(&mut rand::rng()),
            }),
            config,
        });
        tracing::info!(node = %shared.db.node_id(), addr = %local_addr, "meshkv node listening");
        let s = Arc::clone(&shared);
        shared
            .tasks
            .spawn("accept loop", true, accept_loop(s, listener));
        if let Some(discovery) = discovery {
            let stop = shared.shutdown.subscribe();
            let task = discovery.run(Arc::clone(&shared), stop);
            let task = task.instrument(tracing::info_span!("discovery"));
            shared.tasks.spawn("discovery", true, task);
        }
        // The node exists before the wait: if the caller gives up on `start` (a timeout around
        // it), dropping this future drops the node, which stops every task.
        let node = Node { shared };
        let mut waits = Vec::new();
        for peer in node.shared.config.peers.clone() {
            if let Some(rx) = add_peer(&node.shared, peer, PeerSource::Configured) {
                waits.push(rx);
            }
        }
        let deadline = tokio::time::sleep(node.shared.config.initial_sync_timeout);
        tokio::pin!(deadline);
        for mut rx in waits {
            tokio::select! {
                biased;
                _ = rx.wait_for(|done| *done) => {}
                _ = &mut deadline => break,
            }
        }
        Ok(node)
    }

    /// The bound listen address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Dials and pulls from another peer (`host:port`), from now on.
    pub fn add_peer(&self, address: String) {
        add_peer(&self.shared, address, PeerSource::Added);
    }

    /// Per-peer state: address, node id, connection, cursor, lag, last error.
    pub fn status(&self) -> NodeStatus {
        let peers = self.shared.peers.lock();
        NodeStatus {
            node_id: self.shared.db.node_id(),
            local_addr: self.shared.local_addr,
            peers: peers
                .values()
                .map(|p| PeerStatus {
                    peer_last_seq: p.peer_last_seq,
                    ..p.status.clone()
                })
                .collect(),
            refused_inbound: self.shared.refused_inbound.load(Ordering::Relaxed),
            inbound_over_limit: self.shared.inbound_over_limit.load(Ordering::Relaxed),
            discovery: self.shared.discovery.as_ref().map(|m| m.lock().status()),
            halted: self.shared.halted.lock().clone(),
            bytes_in: self.shared.bytes.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.shared.bytes.bytes_out.load(Ordering::Relaxed),
            failed_tasks: self.shared.tasks.failures(),
        }
    }

    /// Stops every task, closes every socket and waits for them.
    pub async fn shutdown(self) -> Result<()> {
        self.shared.shutdown.stop();
        self.shared.tasks.drain(Duration::from_secs(5)).await;
        // Appliers and log readers end with their connections; wait for their blocking jobs
        // too, so that no handle to the database outlives the node, then sync the WAL.
        self.shared.jobs.drained(Duration::from_secs(10)).await;
        let db = self.shared.db.clone();
        self.shared.blocking(move || db.flush()).await?;
        tracing::info!(node = %self.shared.db.node_id(), "meshkv node stopped");
        Ok(())
    }
}

impl<T: Transport> Drop for Node<T> {
    fn drop(&mut self) {
        self.shared.shutdown.stop();
        self.shared.tasks.abort_all();
    }
}

/// Registers `address` and starts its puller, unless known; returns its first-attempt signal.
fn add_peer<T: Transport>(
    shared: &Arc<Shared<T>>,
    address: String,
    source: PeerSource,
) -> Option<watch::Receiver<bool>> {
    if Some(&address) == shared.handshake.advertise.as_ref() {
        return None;
    }
    let well_formed = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !well_formed || address.len() > 255 {
        tracing::warn!(peer = %address, "ignoring a peer address that is not host:port");
        return None;
    }
    let mut peers = shared.peers.lock();
    if let Some(known) = peers.get_mut(&address) {
        // Deduplicated by address. A learned address that is also announced becomes
        // discovered, so that it expires when the announcements stop; configured and added
        // addresses keep their source and never expire.
        if source == PeerSource::Discovered && known.status.source == PeerSource::Dialed {
            known.status.source = PeerSource::Discovered;
        }
        return None;
    }
    // Addresses learned from hellos are capped, so connecting peers cannot make this node
    // dial without bound.
    let learned = peers
        .values()
        .filter(|p| p.status.source == PeerSource::Dialed)
        .count();
    if source == PeerSource::Dialed && learned >= shared.config.max_connections {
        tracing::warn!(peer = %address, "too many learned peers; not dialing back");
        return None;
    }
    let (attempted, rx) = watch::channel(false);
    let (removed_tx, removed) = watch::channel(());
    peers.insert(
        address.clone(),
        PeerState {
            status: PeerStatus {
                address: address.clone(),
                source,
                node_id: None,
                connected: false,
                cursor: None,
                entries_behind: None,
                last_error: None,
                refused: 0,
                invalid_entries: 0,
                entries_received: 0,
                entries_applied: 0,
                peer_last_seq: None,
                round_entries: 0,
            },
            peer_last_seq: None,
            key_index: 0,
            attempted,
            _removed: removed_tx,
        },
    );
    drop(peers);
    let s = Arc::clone(shared);
    let span = tracing::info_span!("pull", peer = %address);
    shared.tasks.spawn(
        "puller",
        false,
        puller(s, address, removed).instrument(span),
    );
    Some(rx)
}

/// What discovery changes in the peer set.
impl<T: Transport> PeerSet for Arc<Shared<T>> {
    fn discovered(&self, address: &str) {
        add_peer(self, address.to_string(), PeerSource::Discovered);
    }

    fn expired(&self, address: &str) {
        let removed = {
            let mut peers = self.peers.lock();
            match peers.get(address) {
                Some(p) if p.status.source == PeerSource::Discovered => peers.remove(address),
                _ => None,
            }
        };
        // Dropped outside the lock: its puller stops and closes the connection.
        if removed.is_some() {
            tracing::info!(peer = %address, "dropped an expired discovered peer");
        }
    }
}

/// Blocking RocksDB jobs in flight, so that shutdown can wait until none holds the `Db`.
#[derive(Default)]
struct BlockingJobs {
    active: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
    /// Run jobs inline on the calling task (`Node::start_simulated`): a simulation runs
    /// every task on one thread, in an order the seed decides.
    inline: bool,
}

/// Decrements the job count when a blocking job ends, however it ends.
struct JobGuard(Arc<BlockingJobs>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl BlockingJobs {
    /// Runs blocking RocksDB work off the runtime's workers: the one seam between async and
    /// blocking code. In a simulation (`inline`) the job runs as a task of the runtime instead,
    /// so its place in the schedule is decided by the simulation's seed, not by a thread pool.
    fn spawn<F, R>(self: &Arc<Self>, f: F) -> tokio::task::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.active.fetch_add(1, Ordering::AcqRel);
        let guard = JobGuard(Arc::clone(self));
        if self.inline {
            return tokio::spawn(async move {
                let _guard = guard;
                f()
            });
        }
        tokio::task::spawn_blocking(move || {
            let _guard = guard;
            f()
        })
    }

    /// Waits until no job runs (bounded by `limit`).
    async fn drained(&self, limit: Duration) {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

impl<T: Transport> Shared<T> {
    /// Runs `f` as a tracked blocking job and returns its result.
    async fn blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.jobs
            .spawn(f)
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }
}

impl<T: Transport> Shared<T> {
    fn with_peer(&self, address: &str, f: impl FnOnce(&mut PeerState)) {
        if let Some(p) = self.peers.lock().get_mut(address) {
            f(p);
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.is_stopped()
    }
}

/// The delay before reconnect attempt `n`: exponential from `reconnect_min`, capped at
/// `reconnect_max`, with up to 50% random jitter drawn from `rng`.
pub fn backoff(config: &NodeConfig, attempt: u32, rng: &mut impl Rng) -> Duration {
    let base = config
        .reconnect_min
        .saturating_mul(1u32 << attempt.min(20))
        .min(config.reconnect_max);
    let jitter = rng.random_range(0.5..=1.0);
    base.mul_f64(jitter)
}

/// Pulls from one peer address until the node stops or the peer is removed from the set
/// (`removed` closes): every exit drops the session, closing its connection.
async fn puller<T: Transport>(
    shared: Arc<Shared<T>>,
    address: String,
    mut removed: watch::Receiver<()>,
) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut attempt = 0u32;
    while !shared.stopping() {
        // Simulated time in a simulation: a session's length must not depend on the host.
        let started = tokio::time::Instant::now();
        let result = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            _ = removed.changed() => return,
            r = pull_session(&shared, &address) => r,
        };
        let error = match &result {
            Ok(()) => "connection closed".to_string(),
            Err(e) => e.to_string(),
        };
        shared.with_peer(&address, |p| {
            p.status.connected = false;
            if matches!(
                result,
                Err(Error::Refused { .. }) | Err(Error::Handshake { .. })
            ) {
                p.status.refused += 1;
            }
            if matches!(result, Err(Error::Handshake { .. })) {
                // Perhaps the peer does not know this key (yet, or any more): try the next.
                p.key_index = p.key_index.wrapping_add(1);
            }
            p.status.last_error = Some(error.clone());
            p.attempted.send_replace(true);
        });
        tracing::warn!(peer = %address, error = %error, "replication connection ended");
        if started.elapsed() > shared.config.reconnect_max {
            attempt = 0;
        }
        let delay = backoff(&shared.config, attempt, &mut *shared.jitter.lock());
        attempt = attempt.saturating_add(1);
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            _ = removed.changed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn pull_session<T: Transport>(shared: &Arc<Shared<T>>, address: &str) -> Result<()> {
    let config = &shared.config;
    let stream = tokio::time::timeout(config.handshake_timeout, shared.transport.connect(address))
        .await
        .map_err(|_| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting to {address} timed out"),
            ))
        })??;
    let key = shared.peers.lock().get(address).map_or(0, |p| p.key_index);
    let (mut channel, hello) = tokio::time::timeout(
        config.handshake_timeout,
        handshake::dial(stream, address.to_string(), &shared.handshake, key),
    )
    .await
    .map_err(|_| handshake_timeout(address))??;
    channel.count_bytes(Arc::clone(&shared.bytes));
    let peer_id = hello.node_id;
    let duplicate = shared.peers.lock().values().any(|p| {
        p.status.address != address && p.status.connected && p.status.node_id == Some(peer_id)
    });
    if duplicate {
        return Err(Error::Protocol {
            peer: address.to_string(),
            detail: format!("node {peer_id} is already connected through another address"),
        });
    }
    let db = shared.db.clone();
    let stored = shared
        .blocking(move || db.replica().peer_cursor(peer_id))
        .await?;
    let cursor = stored.map(|c| c.seq);
    shared.with_peer(address, |p| {
        p.status.node_id = Some(peer_id);
        p.status.connected = true;
        p.status.cursor = cursor;
        p.status.last_error = None;
    });
    tracing::info!(peer = %address, node = %peer_id, cursor = ?cursor, "connected; catch-up starts above the cursor");
    // Our own writes since the database was opened are here: the peer need not echo them.
    let skip_own_after = shared.db.replica().holds_own_writes_after();
    channel
        .send(&Message::Pull {
            cursor,
            skip_own_after,
            cursor_incarnation: stored.map(|c| c.incarnation),
        })
        .await?;

    let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
    let dead_after = config.heartbeat_interval * 3;
    // Batches are applied by a second task while this one reads the next from the socket;
    // the channel of two batches bounds what waits in memory, and the applier stores the
    // cursor only after every batch before an `End` is committed (invariant 8).
    let (to_apply, applying) = mpsc::channel::<Applied>(2);
    let mut applier = AbortOnDrop(tokio::spawn(applier(
        Arc::clone(shared),
        address.to_string(),
        peer_id,
        applying,
    )));
    // One deadline, moved only when a message arrives: a peer that goes silent without
    // closing its socket is noticed within three heartbeat intervals. While the applier is
    // behind, this task stops reading (backpressure) but keeps sending heartbeats, and the
    // deadline waits until it reads again.
    let mut last_recv = tokio::time::Instant::now();
    let mut pending: Option<Applied> = None;
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            done = &mut applier.0 => {
                return match done {
                    // The peer closed the connection and everything it sent is applied.
                    Ok(Ok(())) if closing => Ok(()),
                    Ok(Err(e)) => Err(e),
                    _ => Err(Error::Protocol {
                        peer: address.to_string(),
                        detail: "the applier stopped".into(),
                    }),
                };
            }
            permit = to_apply.reserve(), if pending.is_some() => {
                if let (Ok(permit), Some(work)) = (permit, pending.take()) {
                    permit.send(work);
                }
                // A failed reserve means the applier ended: the branch above says why.
                last_recv = last_recv.max(tokio::time::Instant::now() - config.heartbeat_interval);
            }
            msg = channel.recv(), if pending.is_none() && !closing => {
                last_recv = tokio::time::Instant::now();
                pending = match msg? {
                    None => {
                        closing = true;
                        Some(Applied::Close)
                    }
                    Some(Message::Batch { entries }) => Some(Applied::Batch(entries)),
                    Some(Message::End { high_seq, incarnation }) => {
                        Some(Applied::End(PeerCursor { seq: high_seq, incarnation }))
                    }
                    Some(Message::Heartbeat { last_seq }) => {
                        shared.with_peer(address, |p| {
                            p.peer_last_seq = Some(last_seq);
                            let cursor = p.status.cursor.unwrap_or(0);
                            p.status.entries_behind = Some(last_seq.saturating_sub(cursor));
                        });
                        None
                    }
                    Some(other) => {
                        return Err(Error::Protocol {
                            peer: address.to_string(),
                            detail: format!("unexpected {} while pulling", other.kind()),
                        })
                    }
                };
            }
            _ = heartbeat.tick(), if !closing => {
                let beat = Message::Heartbeat { last_seq: shared.db.last_seq() };
                send_within(&mut channel, &beat, dead_after).await?;
            }
            _ = tokio::time::sleep_until(last_recv + dead_after), if pending.is_none() && !closing => {
                return Err(silent(address, dead_after));
            }
        }
    }
}

/// Work for the applier of a pulling connection.
enum Applied {
    Batch(Vec<(u64, Entry)>),
    End(PeerCursor),
    /// The peer closed the connection: stop once everything before is applied.
    Close,
}

/// Errors that one entry from a peer can cause in `apply`, which rejects its whole batch: the
/// applier then applies the batch entry by entry and skips (and counts) the offending ones, so
/// one bad entry cannot stop replication from that peer for good.
fn entry_is_invalid(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidEntry { .. }
            | Error::KeyTooLarge { .. }
            | Error::ValueTooLarge { .. }
            | Error::EmptyKey
    )
}

/// Aborts a task when dropped (the applier of a connection that ended).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Applies a connection's batches in order; stores the cursor at each `End`.
async fn applier<T: Transport>(
    shared: Arc<Shared<T>>,
    address: String,
    peer_id: NodeId,
    mut work: mpsc::Receiver<Applied>,
) -> Result<()> {
    let mut round = RoundStats::new();
    while let Some(item) = work.recv().await {
        match item {
            Applied::Batch(entries) => {
                round.add(&entries);
                let entries: Vec<Entry> = entries.into_iter().map(|(_, e)| e).collect();
                let (db, resolver) = (shared.db.clone(), Arc::clone(&shared.config.resolver));
                let received = entries.len() as u64;
                // (applied, skipped as invalid)
                let (applied, skipped) = shared
                    .blocking(move || match db.replica().apply(&entries, &*resolver) {
                        Err(e) if entry_is_invalid(&e) => {
                            let (mut applied, mut skipped) = (0u64, 0u64);
                            for entry in &entries {
                                match db.replica().apply(std::slice::from_ref(entry), &*resolver) {
                                    Ok(report) => applied += report.applied,
                                    Err(e) if entry_is_invalid(&e) => {
                                        skipped += 1;
                                        tracing::warn!(error = %e, "skipped an invalid entry from a peer");
                                    }
                                    Err(e) => return Err(e),
                                }
                            }
                            Ok((applied, skipped))
                        }
                        other => other.map(|report| (report.applied, 0)),
                    })
                    .await?;
                let mut progress = (None, None);
                shared.with_peer(&address, |p| {
                    p.status.entries_received += received;
                    p.status.entries_applied += applied;
                    p.status.invalid_entries += skipped;
                    p.status.round_entries = round.entries;
                    progress = (p.status.cursor, p.peer_last_seq);
                });
                round.progress(&address, progress.0, progress.1);
            }
            Applied::Close => return Ok(()),
            Applied::End(end) => {
                let high_seq = end.seq;
                let db = shared.db.clone();
                shared
                    .blocking(move || db.replica().set_peer_cursor(peer_id, end))
                    .await?;
                round.finish(&address, high_seq);
                shared.with_peer(&address, |p| {
                    p.status.cursor = Some(high_seq);
                    let last = p.peer_last_seq.unwrap_or(high_seq).max(high_seq);
                    p.peer_last_seq = Some(last);
                    p.status.entries_behind = Some(last - high_seq);
                    p.status.round_entries = 0;
                    p.attempted.send_replace(true);
                });
            }
        }
    }
    Ok(())
}

/// Sends a message, giving up (and closing) when the peer does not take it within `limit`.
async fn send_within<S: AsyncRead + AsyncWrite + Unpin>(
    channel: &mut Channel<S>,
    msg: &Message,
    limit: Duration,
) -> Result<()> {
    match tokio::time::timeout(limit, channel.send(msg)).await {
        Ok(result) => result,
        Err(_) => Err(Error::Protocol {
            peer: channel.peer().to_string(),
            detail: format!("the peer took nothing for {limit:?}: connection presumed dead"),
        }),
    }
}

fn silent(peer: &str, after: Duration) -> Error {
    Error::Protocol {
        peer: peer.to_string(),
        detail: format!("silent for {after:?}: connection presumed dead"),
    }
}

/// How often a long sync round logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A catch-up's progress: its rate so far, the entries the round should bring (from the peer's
/// high sequence, as of its last heartbeat, minus our cursor), and the time left at this rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Progress {
    pub(crate) rate: f64,
    pub(crate) expected: Option<u64>,
    pub(crate) eta: Option<Duration>,
}

impl Progress {
    /// `entries` received in `elapsed`, pulling above `cursor` from a peer at `peer_last_seq`.
    pub(crate) fn of(
        entries: u64,
        elapsed: Duration,
        cursor: Option<u64>,
        peer_last_seq: Option<u64>,
    ) -> Progress {
        let rate = entries as f64 / elapsed.as_secs_f64().max(0.001);
        let expected = peer_last_seq.map(|last| last.saturating_sub(cursor.unwrap_or(0)));
        let eta = match expected {
            Some(total) if rate > 0.0 => Some(Duration::from_secs_f64(
                total.saturating_sub(entries) as f64 / rate,
            )),
            _ => None,
        };
        Progress {
            rate,
            expected,
            eta,
        }
    }
}

/// Counts a round's entries and bytes, for the catch-up log lines.
struct RoundStats {
    started: Instant,
    last_progress: Instant,
    entries: u64,
    bytes: u64,
}

impl RoundStats {
    fn new() -> Self {
        RoundStats {
            started: Instant::now(),
            last_progress: Instant::now(),
            entries: 0,
            bytes: 0,
        }
    }

    /// Every [`PROGRESS_EVERY`] of a round: logs entries and bytes so far, the rate, and an
    /// estimate of the time left. The estimate takes the peer's last sequence minus the cursor
    /// as the round's size: an upper bound, since the peer's log holds one entry per key and
    /// skips the sequences of superseded writes.
    fn progress(&mut self, peer: &str, cursor: Option<u64>, peer_last_seq: Option<u64>) {
        if self.last_progress.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_progress = Instant::now();
        let p = Progress::of(self.entries, self.started.elapsed(), cursor, peer_last_seq);
        let eta = p.eta.map_or_else(
            || "unknown".to_string(),
            |d| format!("{:.0}s", d.as_secs_f64()),
        );
        tracing::info!(
            peer,
            entries = self.entries,
            bytes = self.bytes,
            entries_per_sec = p.rate.round() as u64,
            expected_entries = ?p.expected,
            eta = %eta,
            "catching up"
        );
    }

    fn add(&mut self, entries: &[(u64, Entry)]) {
        self.entries += entries.len() as u64;
        self.bytes += entries
            .iter()
            .map(|(_, e)| (e.key.len() + e.value.as_ref().map_or(0, Vec::len)) as u64)
            .sum::<u64>();
    }

    fn finish(&mut self, peer: &str, high_seq: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        if self.entries >= 1000 {
            tracing::info!(
                peer,
                entries = self.entries,
                bytes = self.bytes,
                seconds = secs,
                high_seq,
                "catch-up round done"
            );
        } else {
            tracing::debug!(peer, entries = self.entries, high_seq, "sync round done");
        }
        *self = RoundStats::new();
    }
}

fn handshake_timeout(peer: &str) -> Error {
    Error::Handshake {
        peer: peer.to_string(),
        detail: "timed out".into(),
    }
}

/// Counts an inbound connection whose handshake failed; logs it once per address per interval.
fn refused_inbound<T: Transport>(shared: &Shared<T>, addr: SocketAddr, e: Error) -> Result<()> {
    shared.refused_inbound.fetch_add(1, Ordering::Relaxed);
    if let Some(suppressed) = shared.refusal_log.lock().allow(&addr.ip(), Instant::now()) {
        tracing::warn!(peer = %addr, error = %e, suppressed, "refused an inbound connection");
    }
    Ok(())
}

async fn accept_loop<T: Transport>(shared: Arc<Shared<T>>, listener: T::Listener) {
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    // Within it, connections not yet authenticated: a flood of half-open or slow connections
    // fills these slots and times out, never every slot.
    let pre_auth = Arc::new(Semaphore::new(shared.config.max_handshakes));
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            a = T::accept(&listener) => a,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permits = Arc::clone(&limit)
            .try_acquire_owned()
            .and_then(|p| Ok((p, Arc::clone(&pre_auth).try_acquire_owned()?)));
        let Ok((permit, handshake_permit)) = permits else {
            shared.inbound_over_limit.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = shared.refusal_log.lock().allow(&addr.ip(), Instant::now()) {
                tracing::warn!(peer = %addr, suppressed, "connection or handshake limit reached; closing");
            }
            continue;
        };
        let s = Arc::clone(&shared);
        let span = tracing::info_span!("serve", peer = %addr);
        let task = async move {
            let _permit = permit;
            if let Err(e) = serve(&s, stream, addr, handshake_permit).await {
                tracing::info!(peer = %addr, error = %e, "serving connection ended");
            }
        };
        shared.tasks.spawn("serve", false, task.instrument(span));
    }
}

enum RoundItem {
    Batch(Vec<(u64, Entry)>),
    End(u64),
}

async fn serve<T: Transport>(
    shared: &Arc<Shared<T>>,
    stream: T::Stream,
    addr: SocketAddr,
    handshake_permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<()> {
    let config = &shared.config;
    let peer = addr.to_string();
    let (mut channel, hello) = match tokio::time::timeout(
        config.handshake_timeout,
        handshake::accept(stream, peer.clone(), &shared.handshake),
    )
    .await
    {
        Ok(Ok(ok)) => ok,
        // Counted and logged (once per address per interval) here, not again by the caller.
        Ok(Err(e)) => return refused_inbound(shared, addr, e),
        Err(_) => return refused_inbound(shared, addr, handshake_timeout(&peer)),
    };
    drop(handshake_permit);
    // The dialer pulls from us; we pull from it too (level-replicator's addPeer).
    if let Some(adv) = hello.advertise.clone() {
        add_peer(shared, adv, PeerSource::Dialed);
    }
    let dead_after = config.heartbeat_interval * 3;
    let (mut cursor, skip_own_after) = match tokio::time::timeout(dead_after, channel.recv()).await
    {
        Ok(Ok(Some(Message::Pull {
            cursor,
            skip_own_after,
            cursor_incarnation,
        }))) => {
            if let Some(why) = rolled_back(&shared.db, cursor, cursor_incarnation) {
                return Err(halt(shared, &mut channel, &peer, why).await);
            }
            (cursor.unwrap_or(0), skip_own_after)
        }
        Ok(Ok(Some(other))) => {
            return Err(Error::Protocol {
                peer,
                detail: format!("expected a pull, got a {}", other.kind()),
            })
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(Error::Protocol {
                peer,
                detail: "no pull request".into(),
            })
        }
    };
    channel.count_bytes(Arc::clone(&shared.bytes));
    tracing::info!(peer = %peer, node = %hello.node_id, cursor, "serving");
    // Tell the puller where this round will end, so a long catch-up can show its progress.
    let beat = Message::Heartbeat {
        last_seq: shared.db.last_seq(),
    };
    send_within(&mut channel, &beat, dead_after).await?;
    let held = skip_own_after.map(|after| (hello.node_id, after));
    let mut commits = shared.db.replica().subscribe_commits();
    let mut shutdown = shared.shutdown.subscribe();
    let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
    let mut first = true;
    let mut last_recv = tokio::time::Instant::now();
    loop {
        if first || shared.db.last_seq() > cursor {
            first = false;
            cursor = send_round(shared, &mut channel, cursor, held).await?;
            // The dialer's heartbeats wait unread during a round: count from its end.
            last_recv = last_recv.max(tokio::time::Instant::now() - config.heartbeat_interval);
        }
        tokio::select! {
            biased;
            msg = channel.recv() => {
                last_recv = tokio::time::Instant::now();
                match msg? {
                    None => return Ok(()),
                    Some(Message::Heartbeat { .. }) => {}
                    Some(other) => return Err(Error::Protocol {
                        peer,
                        detail: format!("unexpected {} while serving", other.kind()),
                    }),
                }
            }
            _ = commits.changed() => {}
            _ = heartbeat.tick() => {
                let beat = Message::Heartbeat { last_seq: shared.db.last_seq() };
                send_within(&mut channel, &beat, dead_after).await?;
            }
            _ = tokio::time::sleep_until(last_recv + dead_after) => {
                return Err(silent(&peer, dead_after));
            }
            _ = stopped(&mut shutdown) => return Ok(()),
        }
    }
}

/// Whether a puller's cursor shows that this folder is an old copy of its node: a cursor read
/// from another incarnation at or above this open's sequence floor names sequences that only a
/// later life of this node (lost with the folder it was restored over) can have handed out.
/// Every earlier incarnation's sequences are below the floor (the sequence lease).
fn rolled_back(db: &Db, cursor: Option<u64>, incarnation: Option<u64>) -> Option<String> {
    let (seq, inc) = (cursor?, incarnation?);
    (inc != 0 && inc != db.replica().incarnation() && seq >= db.replica().seq_floor()).then(|| {
        format!(
            "a peer holds sequence {seq} of this node from another incarnation, but this folder \
             starts at {}: it is an old copy",
            db.replica().seq_floor()
        )
    })
}

/// Stops replication for good after finding this folder is an old copy: marks the folder, tells
/// the peer, stops every task. Returns the error for the serving connection.
async fn halt<T: Transport, S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    peer: &str,
    why: String,
) -> Error {
    tracing::error!(peer, reason = %why, "this folder is an old copy of its node: replication stops until it gets a new node id (Db::renew_node_id)");
    let db = shared.db.clone();
    let marked = {
        let why = why.clone();
        shared
            .blocking(move || db.replica().mark_rolled_back(&why))
            .await
    };
    if let Err(e) = marked {
        tracing::error!(error = %e, "could not record the rollback");
    }
    *shared.halted.lock() = Some(why.clone());
    let _ = channel
        .send(&Message::Refuse {
            reason: format!("rolled back: {why}"),
        })
        .await;
    shared.shutdown.stop();
    Error::RolledBack { detail: why }
}

/// Streams every entry above `cursor` from one snapshot, in byte-bounded batches, then `End`;
/// leaves out what the puller holds (`held`: its node id and [`Replica::holds_own_writes_after`]).
/// A blocking thread reads RocksDB; a channel of two batches bounds what waits in memory. In a
/// simulation the reader runs inline, one batch at a time, between sends.
async fn send_round<T: Transport, S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    cursor: u64,
    held: Option<(NodeId, u64)>,
) -> Result<u64> {
    // A puller applying a big batch may leave one unread for a while, but not forever: a
    // dialer that stops reading must not hold this task, its permit and its snapshot for good.
    let send_limit = shared.config.heartbeat_interval * 12;
    let batch_bytes = shared.config.sync_batch_bytes;
    if shared.jobs.inline {
        let mut reader = RoundReader::new(&shared.db, cursor, held, batch_bytes);
        loop {
            let item = reader.next_item()?;
            if let Some(high) = send_item(shared, channel, item, send_limit).await? {
                return Ok(high);
            }
        }
    }
    let (tx, mut rx) = mpsc::channel::<Result<RoundItem>>(2);
    let db = shared.db.clone();
    shared.jobs.spawn(move || {
        let mut reader = RoundReader::new(&db, cursor, held, batch_bytes);
        loop {
            let item = reader.next_item();
            let last = !matches!(item, Ok(RoundItem::Batch(_)));
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    });
    while let Some(item) = rx.recv().await {
        if let Some(high) = send_item(shared, channel, item?, send_limit).await? {
            return Ok(high);
        }
    }
    Err(Error::Protocol {
        peer: channel.peer().to_string(),
        detail: "the log reader stopped".into(),
    })
}

/// Sends one item of a round; returns the round's high sequence after its `End`.
async fn send_item<T: Transport, S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    item: RoundItem,
    send_limit: Duration,
) -> Result<Option<u64>> {
    match item {
        RoundItem::Batch(entries) => {
            send_within(channel, &Message::Batch { entries }, send_limit).await?;
            Ok(None)
        }
        RoundItem::End(high) => {
            let end = Message::End {
                high_seq: high,
                incarnation: shared.db.replica().incarnation(),
            };
            send_within(channel, &end, send_limit).await?;
            Ok(Some(high))
        }
    }
}

/// Reads one round from one snapshot: the log above the cursor, or, for a puller that knows
/// nothing of us (or whose cursor belongs to another life of this database), every key's live
/// entry in key order.
struct RoundReader<'a> {
    source: SyncSource<'a>,
    batch_bytes: usize,
    done: bool,
}

impl<'a> RoundReader<'a> {
    fn new(
        db: &'a Db,
        cursor: u64,
        held: Option<(NodeId, u64)>,
        batch_bytes: usize,
    ) -> RoundReader<'a> {
        RoundReader {
            source: db.replica().sync_source(cursor, held),
            batch_bytes,
            done: false,
        }
    }

    /// The next batch, then `End` with the snapshot's high sequence (then `End` again).
    fn next_item(&mut self) -> Result<RoundItem> {
        if self.done {
            return Err(Error::Io(std::io::Error::other("round ended")));
        }
        let batch = self.source.next_batch(self.batch_bytes)?;
        if batch.is_empty() {
            self.done = true;
            return Ok(RoundItem::End(self.source.high_seq()));
        }
        Ok(RoundItem::Batch(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rate_expected_and_time_left() {
        // 50,000 entries in 5 s from cursor 100 toward a peer at 200,100: 150,000 to go.
        let p = Progress::of(50_000, Duration::from_secs(5), Some(100), Some(200_100));
        assert_eq!(p.rate, 10_000.0);
        assert_eq!(p.expected, Some(200_000));
        assert_eq!(p.eta, Some(Duration::from_secs(15)));
        // Unknown peer position: no estimate; nothing received yet: no estimate either.
        assert_eq!(
            Progress::of(10, Duration::from_secs(1), None, None).eta,
            None
        );
        assert_eq!(
            Progress::of(0, Duration::from_secs(1), None, Some(9)).eta,
            None
        );
        // Past the expected count (the peer wrote meanwhile): zero left, never negative.
        let over = Progress::of(300, Duration::from_secs(1), Some(0), Some(200));
        assert_eq!(over.eta, Some(Duration::ZERO));
    }
}
