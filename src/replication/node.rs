//! [`Node`]: the replicator's driver. Its tasks only move bytes, timers and blocking jobs; what
//! a message means is decided by the session state machines ([`PullSession`], [`ServeSession`],
//! [`Liveness`]), the peer registry ([`Peers`]) and the `Db` hooks (`Replica`).
//!
//! Tasks:
//! - the accept loop (`listener`): caps connections with a semaphore, gives each a handshake
//!   deadline, then serves the dialer: a round of `Batch` frames and an `End` from one snapshot,
//!   again whenever a commit raises the last sequence, and heartbeats;
//! - one puller per known peer address (`puller`): dials (re-resolving names), handshakes,
//!   sends its cursor, applies batches, stores the cursor after each `End` (invariant 8),
//!   heartbeats, and reconnects with exponential backoff and jitter;
//! - with `NodeConfig::discovery`, the multicast task (`crate::discovery`): it announces this
//!   node, and hands the node the addresses it hears (dialed like configured peers, as
//!   [`PeerSource::Discovered`]) and those that expire (their puller stops, closing the
//!   connection).
//!
//! RocksDB work goes through [`BlockingJobs`], the one seam between async and blocking code;
//! shutdown waits for those jobs.
//!
//! [`PullSession`]: super::pull_session::PullSession
//! [`ServeSession`]: super::serve_session::ServeSession
//! [`Liveness`]: super::liveness::Liveness

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

use super::blocking_jobs::BlockingJobs;
use super::channel::{ByteCounters, Channel};
use super::config::NodeConfig;
use super::handshake::{self, HandshakeConfig};
use super::members::{Member, Members, Summary, MAX_MEMBERS};
use super::message::{Limits, Message};
use super::peer_clocks::PeerClocks;
use super::peers::{Admission, Peers};
use super::repairer::{self, RepairReport};
use super::status::{ClockStatus, NodeStatus, PeerSource};
use super::{listener, puller, summaries};
use crate::discovery::membership::Membership;
use crate::discovery::multicast::{self, Discovery, PeerSet};
use crate::net::{LogThrottle, Shutdown, TaskSet, Tcp, Transport, REFUSAL_LOG_INTERVAL};
use crate::{Db, Error, NodeId, Result};

/// What the node's tasks share.
pub(super) struct Shared<T: Transport> {
    pub(super) db: Db,
    pub(super) config: NodeConfig,
    pub(super) handshake: HandshakeConfig,
    pub(super) transport: T,
    pub(super) local_addr: SocketAddr,
    pub(super) peers: Mutex<Peers>,
    pub(super) refused_inbound: AtomicU64,
    pub(super) bytes: Arc<ByteCounters>,
    pub(super) inbound_over_limit: AtomicU64,
    /// Dialers that claimed this folder is an old copy without a valid proof.
    pub(super) unproven_claims: AtomicU64,
    /// Refusals of inbound connections are logged once per IP address per interval.
    pub(super) refusal_log: Mutex<LogThrottle<IpAddr>>,
    discovery: Option<Arc<Mutex<Membership>>>,
    pub(super) shutdown: Shutdown,
    /// Set when replication stopped for good (this folder is an old copy of its node).
    pub(super) halted: Mutex<Option<String>>,
    pub(super) tasks: TaskSet,
    pub(super) jobs: Arc<BlockingJobs>,
    /// Draws reconnect jitter: seeded in a simulation (`Node::start_simulated`), else from entropy.
    pub(super) jitter: Mutex<StdRng>,
    /// The peers' clocks, from their heartbeats: what the local write guard checks against.
    pub(super) clocks: Mutex<PeerClocks>,
    /// Whether a majority refused this node's clock at the last heartbeat (for the log).
    pub(super) clock_refused: std::sync::atomic::AtomicBool,
    /// Node ids with an anti-entropy connection being served (one each at a time).
    pub(super) repairing: Mutex<std::collections::HashSet<NodeId>>,
    /// Anti-entropy connections served.
    pub(super) repairs_served: AtomicU64,
    /// Entries peers pushed in anti-entropy rounds, and of those the ones committed here.
    pub(super) repair_received: AtomicU64,
    pub(super) repair_applied: AtomicU64,
    /// One anti-entropy round per peer address at a time (`repairer::compare_with`).
    pub(super) repair_locks: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The member table and this node's applied frontier.
    pub(super) members: Mutex<Members>,
    /// What the listener sends its pullers after a heartbeat: the summary the `summaries` task
    /// published last (captured before a sync of the write-ahead log), and its generation (0:
    /// none yet).
    pub(super) summary: Mutex<(u64, Arc<Summary>)>,
    /// The last failure to store member records, shown in the status.
    pub(super) members_error: Mutex<Option<String>>,
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
        config.validate_for(db.options())?;
        db.replica().set_max_clock_drift(config.max_clock_drift);
        if !config.cluster_keys.is_empty() && !db.identity_is_bound() {
            return Err(Error::UnboundNodeId {
                node_id: db.node_id(),
            });
        }
        if let Some(detail) = db.replica().rolled_back()? {
            return Err(Error::RolledBack { detail });
        }
        if let Some(detail) = db.replica().decommissioned()? {
            return Err(Error::Decommissioned { detail });
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
        let records = db.replica().members()?;
        let members = Members::new(db.node_id(), advertise.clone(), records, MAX_MEMBERS);
        let refused_ids = Arc::new(parking_lot::RwLock::new(members.decommissioned()));
        let handshake = HandshakeConfig {
            cluster: config.cluster.clone(),
            node_id: db.node_id(),
            static_key: db.replica().static_key(),
            psks: config
                .cluster_keys
                .iter()
                .map(|k| handshake::derive_psk(k))
                .collect(),
            advertise: advertise.clone(),
            max_message: config.max_frame_size,
            limits: Limits::of(db.options(), &config),
            refused_ids,
        };
        let shared = Arc::new(Shared {
            db,
            handshake,
            transport,
            local_addr,
            peers: Mutex::new(Peers::new(advertise, config.max_connections)),
            refused_inbound: AtomicU64::new(0),
            bytes: Arc::default(),
            inbound_over_limit: AtomicU64::new(0),
            unproven_claims: AtomicU64::new(0),
            refusal_log: Mutex::new(LogThrottle::new(REFUSAL_LOG_INTERVAL, 1024)),
            discovery: discovery.as_ref().map(|d| Arc::clone(&d.membership)),
            shutdown: Shutdown::new(),
            halted: Mutex::new(None),
            tasks: TaskSet::new(),
            jobs: Arc::new(BlockingJobs::new(simulation_seed.is_some())),
            jitter: Mutex::new(match simulation_seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_rng(&mut rand::rng()),
            }),
            clocks: Mutex::new(PeerClocks::new()),
            clock_refused: Default::default(),
            repairing: Mutex::default(),
            repairs_served: AtomicU64::new(0),
            repair_received: AtomicU64::new(0),
            repair_applied: AtomicU64::new(0),
            repair_locks: Mutex::default(),
            members: Mutex::new(members),
            summary: Mutex::new((0, Arc::new(Summary::default()))),
            members_error: Mutex::new(None),
            config,
        });
        tracing::info!(node = %shared.db.node_id(), addr = %local_addr, "meshkv node listening");
        let s = Arc::clone(&shared);
        let accept = listener::accept_loop(s, listener);
        shared.tasks.spawn("accept loop", true, accept);
        let task = summaries::run(Arc::clone(&shared)).instrument(tracing::info_span!("members"));
        shared.tasks.spawn("members", true, task);
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
            if let Some(rx) = add_peer(&node.shared, &peer, PeerSource::Configured) {
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
        add_peer(&self.shared, &address, PeerSource::Added);
    }

    /// Per-peer state: address, node id, connection, cursor, lag, last error.
    pub fn status(&self) -> NodeStatus {
        let s = &self.shared;
        NodeStatus {
            node_id: s.db.node_id(),
            local_addr: s.local_addr,
            peers: s.peers.lock().statuses(),
            refused_inbound: s.refused_inbound.load(Ordering::Relaxed),
            inbound_over_limit: s.inbound_over_limit.load(Ordering::Relaxed),
            unproven_rollback_claims: s.unproven_claims.load(Ordering::Relaxed),
            clock: s.clock_status(),
            discovery: s.discovery.as_ref().map(|m| m.lock().status()),
            halted: s.halted.lock().clone(),
            bytes_in: s.bytes.bytes_in.load(Ordering::Relaxed),
            bytes_out: s.bytes.bytes_out.load(Ordering::Relaxed),
            failed_tasks: s.tasks.failures(),
            repairs_served: s.repairs_served.load(Ordering::Relaxed),
            repair_entries_received: s.repair_received.load(Ordering::Relaxed),
            repair_entries_applied: s.repair_applied.load(Ordering::Relaxed),
            members: s.members.lock().len(),
            members_error: s.members_error.lock().clone(),
        }
    }

    /// The members of the cluster as this node knows them, itself first: every node it heard
    /// of directly, through the origin of an entry it applied, or through a peer's member rows,
    /// with its last known address, when it was last heard, and how far this node holds its
    /// writes. Kept across restarts. What `meshkv members` prints.
    pub fn members(&self) -> Vec<Member> {
        let s = &self.shared;
        let connected = s.peers.lock().connected_ids();
        let (_, clock) = s.db.replica().applied_point();
        s.members.lock().list(&connected, clock, s.wall_ms())
    }

    /// Removes member `id` for good: its connections are refused from then on (both ways), the
    /// addresses learned for it and its cursor are forgotten, and the peers learn it from this
    /// node's member rows. Unless `force`, it first checks that every other active member
    /// holds `id`'s writes as far as the best-informed one known here (from the frontiers the
    /// members sent), and refuses with [`Error::NotDecommissioned`] naming the ones that may
    /// lack some; stop the node first, so that it writes nothing more. Durable when it returns.
    /// What `meshkv decommission NODE_ID` runs.
    pub async fn decommission(&self, id: NodeId, force: bool) -> Result<()> {
        let s = &self.shared;
        let decided = s.members.lock().decommission(id, force, s.wall_ms());
        let record = decided.map_err(|why| Error::NotDecommissioned {
            node: id,
            reason: why.to_string(),
        })?;
        s.decommissioned(&[id]);
        // Written here, synced, whatever the members task does meanwhile (it writes the same
        // again, and retries if this fails).
        let db = s.db.clone();
        s.jobs
            .run(move || db.replica().put_members(&[(id, record)], &[id]))
            .await?;
        tracing::warn!(node = %id, force, "decommissioned: refused from now on");
        Ok(())
    }

    /// Runs one anti-entropy round with the peer at `address` now (`host:port`, any address,
    /// known or not): compares digests, fetches what it holds newer, pushes what it lacks, and
    /// says what differed. What `meshkv verify --peer` runs.
    pub async fn verify_peer(&self, address: &str) -> Result<RepairReport> {
        repairer::compare_with(&self.shared, address, rand::random()).await
    }

    /// Stops every task, closes every socket and waits for them.
    pub async fn shutdown(self) -> Result<()> {
        self.shared.shutdown.stop();
        self.shared.tasks.drain(Duration::from_secs(5)).await;
        // Appliers and log readers end with their connections; wait for their blocking jobs
        // too, so that no handle to the database outlives the node, then sync the WAL.
        self.shared.jobs.drained(Duration::from_secs(10)).await;
        let db = self.shared.db.clone();
        self.shared.jobs.run(move || db.flush()).await?;
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
pub(super) fn add_peer<T: Transport>(
    shared: &Arc<Shared<T>>,
    address: &str,
    source: PeerSource,
) -> Option<tokio::sync::watch::Receiver<bool>> {
    let admission = shared.peers.lock().admit(address, source);
    let new = match admission {
        Admission::New(new) => new,
        Admission::Known | Admission::Own => return None,
        Admission::Malformed => {
            tracing::warn!(peer = %address, "ignoring a peer address that is not host:port");
            return None;
        }
        Admission::TooManyLearned => {
            tracing::warn!(peer = %address, "too many learned peers; not dialing back");
            return None;
        }
    };
    if let Some(old) = &new.evicted {
        tracing::info!(peer = %old.status.address, "forgot a failing learned address for a newcomer");
    }
    let s = Arc::clone(shared);
    let span = tracing::info_span!("anti-entropy", peer = %address);
    let task = repairer::rounds(s, address.to_string(), new.removed.clone()).instrument(span);
    shared.tasks.spawn("anti-entropy", false, task);
    let s = Arc::clone(shared);
    let span = tracing::info_span!("pull", peer = %address);
    let task = puller::puller(s, address.to_string(), new.removed).instrument(span);
    shared.tasks.spawn("puller", false, task);
    Some(new.attempted)
}

/// What discovery changes in the peer set.
impl<T: Transport> PeerSet for Arc<Shared<T>> {
    fn discovered(&self, address: &str) {
        add_peer(self, address, PeerSource::Discovered);
    }

    fn expired(&self, address: &str) {
        let removed = self.peers.lock().expire(address);
        // Dropped outside the lock: its puller stops and closes the connection.
        if removed.is_some() {
            tracing::info!(peer = %address, "dropped an expired discovered peer");
        }
    }
}

impl<T: Transport> Shared<T> {
    /// Applies entries from a peer on a blocking job, as every path from a peer does (a pull's
    /// batches, anti-entropy's fetches and pushes): checked, the refused ones counted
    /// ([`apply_batch`](super::pull_session::apply_batch)), the resolver deciding.
    pub(super) async fn apply_from_peer(
        &self,
        entries: Vec<(u64, crate::Entry)>,
    ) -> Result<super::pull_session::Applied> {
        let origins = origins_of(&entries);
        let (db, resolver) = (self.db.clone(), Arc::clone(&self.config.resolver));
        let applied = self
            .jobs
            .run(move || {
                let replica = db.replica();
                let check = |e: &crate::Entry| replica.check_entry(e);
                super::pull_session::apply_batch(entries, check, |batch| {
                    replica.apply(batch, &*resolver)
                })
            })
            .await?;
        // Their origins are members (heard of through a relay, or directly).
        self.members.lock().origins(&origins, self.wall_ms());
        Ok(applied)
    }

    /// `id` was heard directly (a hello), at `address` if it gave one.
    pub(super) fn heard(&self, id: NodeId, address: Option<&str>) {
        let heard = self.members.lock().heard(id, address, self.wall_ms());
        if let Err(super::members::Refused::Full) = heard {
            tracing::warn!(node = %id, "the member table is full ({MAX_MEMBERS}); not recording a member");
        }
    }

    /// A peer's member rows: takes them, refuses the members they decommission, and stops this
    /// node if they decommission it.
    pub(super) fn relayed(&self, from: &str, rows: &[super::members::MemberRow]) {
        let relayed = self.members.lock().rows(rows, self.wall_ms());
        if !relayed.decommissioned.is_empty() {
            tracing::warn!(peer = from, nodes = ?relayed.decommissioned, "members decommissioned elsewhere: refused from now on");
            self.decommissioned(&relayed.decommissioned);
        }
        if relayed.own_decommissioned {
            self.halt_decommissioned(from);
        }
    }

    /// This node was decommissioned (a peer said so): marks the folder, so that `Node::start`
    /// refuses it until `renew-id`, and stops replication.
    pub(super) fn halt_decommissioned(&self, from: &str) {
        let why = format!("this node was decommissioned from its cluster (told by {from})");
        if self.halted.lock().is_some() {
            return;
        }
        tracing::error!(reason = %why, "replication stops; give the folder a new id (renew-id) to join as a new node");
        if let Err(e) = self.db.replica().mark_decommissioned(&why) {
            tracing::error!(error = %e, "could not record the decommission");
        }
        *self.halted.lock() = Some(why);
        self.shutdown.stop();
    }

    /// Refuses `ids` from now on and forgets the addresses learned for them (their pullers stop).
    pub(super) fn decommissioned(&self, ids: &[NodeId]) {
        self.handshake
            .refused_ids
            .write()
            .extend(ids.iter().copied());
        let mut forgotten = Vec::new();
        {
            let mut peers = self.peers.lock();
            for id in ids {
                forgotten.extend(peers.forget_node(*id));
            }
        }
        let mut locks = self.repair_locks.lock();
        for p in &forgotten {
            locks.remove(&p.status.address);
        }
        drop(locks);
        let mut clocks = self.clocks.lock();
        for id in ids {
            clocks.forget(*id);
        }
        drop(clocks);
        // Dropped outside the locks: their pullers stop and close their connections.
        drop(forgotten);
    }

    /// Whether `id` was decommissioned (a connection to or from it ends).
    pub(super) fn is_refused(&self, id: NodeId) -> bool {
        self.handshake.refused_ids.read().contains(&id)
    }

    /// Changes the state of `address`, if still registered.
    pub(super) fn with_peer(&self, address: &str, f: impl FnOnce(&mut super::peers::PeerState)) {
        if let Some(p) = self.peers.lock().get_mut(address) {
            f(p);
        }
    }

    /// This node's wall clock (`Options::clock`), in milliseconds.
    pub(super) fn wall_ms(&self) -> u64 {
        crate::hlc::millis(self.db.options().clock.reading())
    }

    /// A heartbeat: the last committed sequence and the wall clock.
    pub(super) fn heartbeat(&self) -> Message {
        Message::Heartbeat {
            last_seq: self.db.last_seq(),
            clock_ms: self.wall_ms(),
        }
    }

    /// What the peers think of this node's wall clock now.
    pub(super) fn clock_status(&self) -> ClockStatus {
        let at = now();
        let wall = self.wall_ms();
        let clocks = self.clocks.lock();
        let (peers_refusing, peers_heard) = clocks.refusing(at, wall);
        ClockStatus {
            peers_heard,
            peers_refusing,
            refused: clocks.majority(at).is_some_and(|m| m.refuses(wall)),
        }
    }

    /// Records a peer's clock reading and hands the store the limit a majority of the peers
    /// accepts now (see `peer_clocks` and `storage::clock_guard`); logs when the majority's
    /// verdict on this node's clock changes.
    pub(super) fn heard_clock(&self, peer: NodeId, clock_ms: u64, limits: &Limits) {
        let at = now();
        let majority = {
            let mut clocks = self.clocks.lock();
            clocks.heard(peer, clock_ms, limits.max_clock_drift_ms, at);
            clocks.majority(at)
        };
        let wall = self.wall_ms();
        let refused = majority.is_some_and(|m| m.refuses(wall));
        if self.clock_refused.swap(refused, Ordering::Relaxed) != refused {
            match majority {
                Some(m) if refused => tracing::error!(
                    ahead_ms = wall - m.limit_ms,
                    peers = m.peers,
                    "a majority of the peers refuse this node's clock: it is ahead of theirs by \
                     more than their max_clock_drift; local writes fail with ClockSkew until it \
                     is fixed"
                ),
                _ => tracing::info!("the peers accept this node's clock again"),
            }
        }
        let limit = majority.map(|m| crate::storage::PeerClockLimit {
            limit_ms: m.limit_ms,
            at,
            peers: m.peers,
        });
        self.db.replica().set_peer_clock_limit(limit);
    }
}

/// The runtime's time (simulated in a simulation), as the sessions take it.
pub(super) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Completes at `at`, by the runtime's clock; never when `None`.
pub(super) async fn at(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// Sends a message, giving up (and closing) when the peer does not take it within `limit`.
pub(super) async fn send_within<S: AsyncRead + AsyncWrite + Unpin>(
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

/// The error of a handshake that did not finish in time.
pub(super) fn handshake_timeout(peer: &str) -> Error {
    Error::Handshake {
        peer: peer.to_string(),
        detail: "timed out".into(),
    }
}

/// The distinct origins of `entries`, each with the physical milliseconds of its newest
/// timestamp among them.
fn origins_of(entries: &[(u64, crate::Entry)]) -> Vec<(NodeId, u64)> {
    let mut origins = std::collections::BTreeMap::new();
    for (_, e) in entries {
        let ms = crate::hlc::millis(e.version.timestamp);
        let newest = origins.entry(e.version.origin).or_insert(ms);
        *newest = (*newest).max(ms);
    }
    origins.into_iter().collect()
}
