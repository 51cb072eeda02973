//! The deterministic simulation: the shipped `Node` code over turmoil's simulated TCP
//! ([`SimTransport`]), a real RocksDB per host, and a seeded nemesis.
//!
//! One seed decides everything: the workload, the faults and when they come, the network's
//! latencies and losses, each host's clock skew, each node's reconnect jitter. Every host runs
//! its node with `Node::start_simulated` (RocksDB work inline, seeded jitter) and a
//! database whose `Options::clock` reads simulated time, so the same seed replays the same run;
//! [`SimRun::trace`] hashes everything the run observed, for the determinism check.
//!
//! Each host's software opens its database (in a folder that survives crashes), starts a node
//! and runs until the host crashes. The harness plays the clients: between simulation steps it
//! writes through each live host's `Db`, as an embedded service calls `db.put` (or
//! `put_with_ttl`, `expire`, `persist`, and now and then `sweep_expired`: the databases run no
//! sweeper thread), records the history, and drives the nemesis. After the write phase it heals
//! everything, steps until every node holds the same contents (or a simulated deadline passes),
//! steps on until every short deadline has passed on every node's skewed clock, and checks.
//!
//! Two things in the stack would make a run depend on more than its seed, and are handled:
//! - tokio's `watch` channel wakes its receivers in a randomly chosen order; the database's
//!   commit wake-up ([`meshkv::replica::Commits`]) is a plain `Notify` for that reason, and every
//!   `select!` in the node is `biased`;
//! - a crashed runtime drops its tasks (and closes their sockets) in an order that depends on
//!   process-wide task ids; a crash therefore cuts the host's links first, as a power cut does.
//!
//! Debugging a seed: `MESHKV_SIM_FINE=1` adds every node's sequence and peer states to the trace,
//! `MESHKV_SIM_DUMP=<dir>` writes the traces of a seed whose replay differs, and
//! `MESHKV_SIM_TRACE_DIR=<dir>` writes turmoil's and the node's logs of each run.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshkv::net::{MulticastGroup, Transport};
use meshkv::record::Clock;
use meshkv::storage::identity;
use meshkv::{Db, LastWriteWins, MulticastConfig, Node, NodeConfig, NodeId, Options};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::checker::{check, pending_deadline, Contents, Report, MARGIN_MS};
use super::cluster::view;
use super::history::{History, Outcome};
use super::workload::{clock_ms, Mode, Ttls, Workload};

/// Hosts per simulation.
pub const NODES: usize = 5;
/// Client operations per simulation.
pub const OPS: usize = 400;
/// Simulated time the clients write (and the nemesis acts) before the heal.
pub const WRITE_PHASE: Duration = Duration::from_secs(20);
/// Simulated time the nodes get to converge after the heal.
pub const SETTLE: Duration = Duration::from_secs(120);
/// The simulated clock's epoch, in Unix milliseconds (2026-01-01).
const EPOCH_MS: u64 = 1_767_225_600_000;
const PORT: u16 = 7070;

/// Turmoil's simulated TCP behind the node's transport seam.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTransport;

impl Transport for SimTransport {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr).await
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        listener.accept().await
    }

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr.to_string()).await
    }

    type Datagram = turmoil::net::UdpSocket;

    /// The group's port on the host's address, joined on every interface (turmoil's hosts have
    /// one); the sender on an ephemeral port, looping back to the host's own receiver.
    async fn multicast(
        &self,
        config: &MulticastGroup,
    ) -> meshkv::Result<(Self::Datagram, Self::Datagram)> {
        let any = Ipv4Addr::UNSPECIFIED;
        let receiver =
            turmoil::net::UdpSocket::bind(SocketAddr::from((any, config.group.port()))).await?;
        receiver.join_multicast_v4(*config.group.ip(), any)?;
        let sender = turmoil::net::UdpSocket::bind(SocketAddr::from((any, 0))).await?;
        sender.set_multicast_loop_v4(true)?;
        Ok((receiver, sender))
    }

    async fn send_to(
        socket: &Self::Datagram,
        datagram: &[u8],
        to: SocketAddr,
    ) -> io::Result<usize> {
        socket.send_to(datagram, to).await
    }

    async fn recv_from(socket: &Self::Datagram, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        socket.recv_from(buf).await
    }

    fn leave_multicast(
        socket: &Self::Datagram,
        group: Ipv4Addr,
        _interface: Ipv4Addr,
    ) -> io::Result<()> {
        socket.leave_multicast_v4(group, Ipv4Addr::UNSPECIFIED)
    }
}

/// What one simulation found.
#[derive(Clone, Debug)]
pub struct SimRun {
    pub seed: u64,
    pub mode: Mode,
    /// Whether the nodes found each other by multicast discovery.
    pub discovered: bool,
    pub report: Report,
    /// The hours-ahead clock of one node, if this run had one: (node, hours).
    pub hours_ahead: Option<(usize, i64)>,
    /// Writes refused with `Error::ClockSkew` (a node whose clock its peers refuse): correct
    /// refusals, not failures of the run.
    pub clock_refused: u64,
    pub faults: u64,
    /// Simulated time from the heal until every node held the same contents.
    pub converged_after: Option<Duration>,
    /// A hash of every operation and outcome, every fault, the convergence time and the final
    /// contents: equal for two runs of one seed when the simulation is deterministic.
    pub trace: u64,
    /// The trace's lines, to show where two runs of one seed part.
    pub lines: Vec<String>,
}

fn host(i: usize) -> String {
    format!("n{i}")
}

/// The harness's view of the hosts.
struct Hosts {
    /// The database of each host whose software has opened it (and not crashed since).
    dbs: Vec<Option<Db>>,
    /// The runtime of each host in `dbs`: the harness enters it around a client call, so that
    /// what the database reads of the monotonic clock (`tokio::time::Instant`, aging the
    /// peers' clock limit) is the host's simulated time, not the test thread's real time.
    runtimes: Vec<Option<tokio::runtime::Handle>>,
    /// Debugging (`MESHKV_SIM_FINE`): each host's peer states whenever they change.
    notes: Vec<String>,
}

static TRACE_FILE: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

struct TraceWriter;
impl std::io::Write for TraceWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(f) = TRACE_FILE.lock().unwrap().as_mut() {
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs one seeded simulation (the workload's mode drawn from the seed unless given).
pub fn run(seed: u64, mode: Option<Mode>) -> SimRun {
    if let Some(dir) = std::env::var_os("MESHKV_SIM_TRACE_DIR") {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::path::Path::new(&dir).join(format!("{seed}-{n}.log"));
        *TRACE_FILE.lock().unwrap() = Some(std::fs::File::create(path).unwrap());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("turmoil=trace,meshkv=debug")
            .without_time()
            .with_ansi(false)
            .with_writer(|| TraceWriter)
            .try_init();
    }
    // Debugging only: every node's sequence and peer states in the trace.
    let fine = std::env::var_os("MESHKV_SIM_FINE").is_some();
    let mut rng = StdRng::seed_from_u64(seed);
    let drawn = match rng.random_range(0..3) {
        0 => Mode::Conflicts { keys: 8 },
        1 => Mode::UniqueKeys,
        _ => Mode::DeleteHeavy { keys: 8 },
    };
    let mode = mode.unwrap_or(drawn);
    let keyed = rng.random_bool(0.5);
    // Some runs find their peers by multicast over the simulated UDP instead of a list.
    let discovered = rng.random_bool(0.3);
    let root = tempfile::tempdir().expect("a temporary folder");
    let dirs: Vec<PathBuf> = (0..NODES)
        .map(|i| root.path().join(format!("node{i}")))
        .collect();
    // Simulated milliseconds since the epoch, advanced by the harness after each step; each
    // host's clock reads it plus its own skew (which the nemesis moves).
    let now_ms = Arc::new(AtomicU64::new(0));
    let skews: Vec<Arc<AtomicI64>> = (0..NODES)
        .map(|_| Arc::new(AtomicI64::new(rng.random_range(-500..=500))))
        .collect();
    // Some runs put one node's clock hours ahead for a while in the write phase (an NTP or VM
    // fault): its peers refuse its clock, so its writes must fail with `ClockSkew` (never be
    // acknowledged and refused) and everyone else's must still reach everyone. Not with
    // discovery: announcements from a clock that far off are stale by design.
    let offsets: Vec<Arc<AtomicI64>> = (0..NODES).map(|_| Arc::new(AtomicI64::new(0))).collect();
    let phase = WRITE_PHASE.as_millis() as u64;
    let hours_ahead = (!discovered && rng.random_bool(0.3)).then(|| {
        let node = rng.random_range(0..NODES);
        let hours = rng.random_range(1..=30i64);
        let on = rng.random_range(phase / 10..phase * 4 / 10);
        let off = on + rng.random_range(phase / 10..phase / 4);
        (node, hours, on, off)
    });
    let hosts = Rc::new(RefCell::new(Hosts {
        dbs: vec![None; NODES],
        runtimes: vec![None; NODES],
        notes: Vec::new(),
    }));

    let mut sim = turmoil::Builder::new()
        .rng_seed(rng.random())
        .simulation_duration(WRITE_PHASE + SETTLE + Duration::from_secs(60))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(5))
        .build();

    for i in 0..NODES {
        let dir = dirs[i].clone();
        let hosts = Rc::clone(&hosts);
        let now_ms = Arc::clone(&now_ms);
        let skew = Arc::clone(&skews[i]);
        let offset = Arc::clone(&offsets[i]);
        let node_seed = seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        sim.host(host(i), move || {
            let dir = dir.clone();
            let hosts = Rc::clone(&hosts);
            let (now_ms, skew) = (Arc::clone(&now_ms), Arc::clone(&skew));
            let offset = Arc::clone(&offset);
            async move {
                let clock = Clock::custom(move || {
                    let ms = EPOCH_MS as i64
                        + now_ms.load(Ordering::Relaxed) as i64
                        + skew.load(Ordering::Relaxed)
                        + offset.load(Ordering::Relaxed);
                    ms.max(0) as u64
                });
                let mut id = [0u8; 16];
                id[15] = i as u8 + 1;
                // No sweeper thread: nothing outside simulated time runs (docs/design.md).
                let mut options = Options::default()
                    .clock(clock)
                    .cache_size(1 << 20)
                    .write_buffer_size(4 << 20)
                    .sweep_interval(None);
                if keyed {
                    // Keyed peers believe only ids derived from a node's key: provision a
                    // deterministic key, so the ids (and their tie-breaks) replay per seed.
                    std::fs::create_dir_all(&dir)?;
                    if !dir.join(identity::KEY_FILE).exists() {
                        let mut private = [0u8; 32];
                        private[..16].copy_from_slice(&id);
                        identity::NodeKey::from_private(private).store(&dir)?;
                    }
                } else {
                    options = options.node_id(NodeId(id));
                }
                let db = Db::open(&dir, options)?;
                hosts.borrow_mut().dbs[i] = Some(db.clone());
                hosts.borrow_mut().runtimes[i] = Some(tokio::runtime::Handle::current());
                let config = NodeConfig {
                    listen: SocketAddr::from(([0, 0, 0, 0], PORT)),
                    advertise: Some(format!("{}:{PORT}", host(i))),
                    peers: if discovered {
                        vec![]
                    } else {
                        (0..NODES)
                            .filter(|&j| j != i)
                            .map(|j| format!("{}:{PORT}", host(j)))
                            .collect()
                    },
                    discovery: discovered.then(|| MulticastConfig {
                        group: "239.255.70.70:7946".parse().expect("a group address"),
                        interval: Duration::from_millis(200),
                        ..MulticastConfig::default()
                    }),
                    cluster: "sim".into(),
                    cluster_keys: if keyed {
                        vec![b"simulation-cluster-key-0123456789".to_vec()]
                    } else {
                        vec![]
                    },
                    allow_insecure: !keyed,
                    heartbeat_interval: Duration::from_millis(200),
                    reconnect_min: Duration::from_millis(50),
                    reconnect_max: Duration::from_secs(1),
                    handshake_timeout: Duration::from_secs(1),
                    initial_sync_timeout: Duration::from_millis(500),
                    anti_entropy_interval: super::anti_entropy(Duration::from_secs(2)),
                    ..NodeConfig::default()
                };
                let node = Node::start_simulated(SimTransport, db, config, node_seed).await?;
                if fine {
                    let mut last = String::new();
                    loop {
                        let status = node.status();
                        let mut st: Vec<String> =
                            vec![format!("in {} out {}", status.bytes_in, status.bytes_out)];
                        st.extend(status.peers.iter().map(|p| {
                            format!(
                                "{}:{}:{:?}:{:?}",
                                p.address, p.connected, p.cursor, p.last_error
                            )
                        }));
                        let now = format!("{st:?}");
                        if now != last {
                            hosts.borrow_mut().notes.push(format!("n{i} {now}"));
                            last = now;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }

    let mut lines: Vec<String> = Vec::new();
    let history = History::default();
    let mut clients: Vec<Workload> = (0..NODES as u32)
        .map(|i| Workload::new(seed, i, mode).with_ttls(Ttls::SIMULATION))
        .collect();
    let mut crashed: Vec<Option<Duration>> = vec![None; NODES];
    let mut faults = 0u64;
    let mut clock_refused = 0u64;
    // Whether the hours-ahead clock was set, and set right again.
    let mut hours_done = (false, false);
    // Client operations at seeded times over the write phase.
    let mut op_times: Vec<u64> = (0..OPS)
        .map(|_| rng.random_range(0..WRITE_PHASE.as_millis() as u64))
        .collect();
    op_times.sort_unstable();
    let mut next_op = 0;
    let mut next_fault = Duration::from_millis(rng.random_range(200..1500));
    // The write phase: clients write while the nemesis acts.
    let mut seen = [0u64; NODES];
    loop {
        let now = step(&mut sim, &now_ms);
        if fine {
            for note in std::mem::take(&mut hosts.borrow_mut().notes) {
                lines.push(format!("{} {note}", now.as_millis()));
            }
            for (i, db) in hosts.borrow().dbs.iter().enumerate() {
                if let Some(db) = db {
                    if db.last_seq() != seen[i] {
                        seen[i] = db.last_seq();
                        lines.push(format!("{} n{i} seq {}", now.as_millis(), seen[i]));
                    }
                }
            }
        }
        if now >= WRITE_PHASE {
            break;
        }
        while next_op < op_times.len() && op_times[next_op] <= now.as_millis() as u64 {
            next_op += 1;
            let first = rng.random_range(0..NODES);
            let live = (0..NODES)
                .map(|k| (first + k) % NODES)
                .find(|&n| hosts.borrow().dbs[n].is_some());
            let Some(n) = live else { continue };
            let op = clients[n].next_op();
            let db = hosts.borrow().dbs[n].clone().expect("a live host");
            let runtime = hosts.borrow().runtimes[n].clone().expect("a live host");
            // Inside the host's runtime, the database's monotonic clock is simulated time
            // (docs/design.md, **Determinism rules**).
            let _in_host = runtime.enter();
            // Simulated time stands still during the call: one reading is both ends.
            let at = clock_ms(&db);
            let result = op.run(&db);
            if matches!(result, Err(meshkv::Error::ClockSkew { .. })) {
                clock_refused += 1;
            }
            let outcome = Outcome::from(result);
            lines.push(format!("{} op n{n} {op:?} {outcome:?}", now.as_millis()));
            history.record(n as u32, n, op, outcome, (at, at));
            // The databases run no sweeper thread (nothing outside simulated time): the
            // service sweeps now and then, as the thread would.
            if rng.random_ratio(1, 8) {
                let swept = db.sweep_expired().expect("a sweeper step");
                lines.push(format!("{} sweep n{n} {swept}", now.as_millis()));
            }
        }
        if let Some((s, hours, on, off)) = hours_ahead {
            let ms = now.as_millis() as u64;
            if !hours_done.0 && ms >= on {
                hours_done.0 = true;
                offsets[s].store(hours * 3_600_000, Ordering::Relaxed);
                lines.push(format!("{ms} clock {s} +{hours} h"));
            }
            if hours_done.0 && !hours_done.1 && ms >= off {
                hours_done.1 = true;
                offsets[s].store(0, Ordering::Relaxed);
                lines.push(format!("{ms} clock {s} fixed"));
            }
        }
        for (i, at) in crashed.iter_mut().enumerate() {
            if at.is_some_and(|t| t <= now) {
                *at = None;
                // A reboot sets the clock right (NTP at boot).
                offsets[i].store(0, Ordering::Relaxed);
                if hours_ahead.is_some_and(|(s, ..)| s == i) && hours_done.0 {
                    hours_done.1 = true;
                }
                sim.bounce(host(i));
                lines.push(format!("{} restart n{i}", now.as_millis()));
            }
        }
        if now >= next_fault {
            next_fault = now + Duration::from_millis(rng.random_range(200..1500));
            faults += 1;
            let what = nemesis(&mut sim, &mut rng, &hosts, &mut crashed, &skews, now);
            lines.push(format!("{} {what}", now.as_millis()));
        }
    }

    // Heal: every link, every crashed host.
    heal(&mut sim);
    for (i, at) in crashed.iter_mut().enumerate() {
        if at.take().is_some() {
            sim.bounce(host(i));
        }
    }
    let healed = sim.elapsed();
    let applied_at_heal = applied(&hosts.borrow().dbs);
    let mut converged_after = None;
    while sim.elapsed() < healed + SETTLE {
        let now = step(&mut sim, &now_ms);
        if (now - healed).as_millis() % 100 != 0 {
            continue;
        }
        let dbs = hosts.borrow().dbs.clone();
        if dbs.iter().any(Option::is_none) {
            continue;
        }
        let views: Vec<_> = dbs.iter().flatten().map(view).collect();
        if views.windows(2).all(|w| w[0] == w[1]) {
            converged_after = Some(now - healed);
            break;
        }
        // Each write is applied at most once per node; more applies than that after the heal,
        // with no client writing, are replicas replacing each other forever (a livelock, as
        // a broken tie-break makes): not converging, however long it runs. Stop here rather
        // than simulate the rest of the settle time, commit by commit.
        if applied(&dbs) > applied_at_heal + (OPS * NODES) as u64 {
            lines.push(format!("{} livelock", now.as_millis()));
            break;
        }
    }
    // The final contents, read when no deadline is near any node's (skewed) clock: while one
    // is, the simulation steps on until every clock is past it. (A run that did not converge
    // fails whatever its deadlines say: it is read at once.)
    let finals: Vec<Contents> = loop {
        let dbs: Vec<Db> = hosts.borrow().dbs.iter().flatten().cloned().collect();
        let finals: Vec<Contents> = dbs.iter().map(Contents::read).collect();
        let pending = pending_deadline(&finals).filter(|_| converged_after.is_some());
        let Some(deadline) = pending else {
            break finals;
        };
        while dbs.iter().any(|db| clock_ms(db) <= deadline + MARGIN_MS) {
            step(&mut sim, &now_ms);
        }
    };
    for db in hosts.borrow().dbs.iter().flatten() {
        assert!(
            db.verify().expect("verify runs").is_clean(),
            "seed {seed}: verify"
        );
    }
    lines.push(format!("converged after {converged_after:?}"));
    lines.push(format!("final {finals:?}"));
    let mut trace = DefaultHasher::new();
    lines.hash(&mut trace);
    let report = check(&LastWriteWins, &history.events(), &finals);
    hosts.borrow_mut().dbs.clear();
    hosts.borrow_mut().runtimes.clear();
    drop(sim);
    SimRun {
        seed,
        mode,
        discovered,
        report,
        hours_ahead: hours_ahead.map(|(node, hours, _, _)| (node, hours)),
        clock_refused,
        faults,
        converged_after,
        trace: trace.finish(),
        lines,
    }
}

/// Remote entries the open databases have applied since they were opened.
fn applied(dbs: &[Option<Db>]) -> u64 {
    dbs.iter()
        .flatten()
        .map(|db| db.stats().remote_applied)
        .sum()
}

/// Steps the simulation by one tick and publishes the simulated time to the hosts' clocks.
fn step(sim: &mut turmoil::Sim<'_>, now_ms: &AtomicU64) -> Duration {
    if let Err(e) = sim.step() {
        panic!("the simulation stopped: {e}");
    }
    now_ms.store(sim.elapsed().as_millis() as u64, Ordering::Relaxed);
    sim.elapsed()
}

/// Applies one seeded fault; returns what it did (for the trace).
fn nemesis(
    sim: &mut turmoil::Sim<'_>,
    rng: &mut StdRng,
    hosts: &Rc<RefCell<Hosts>>,
    crashed: &mut [Option<Duration>],
    skews: &[Arc<AtomicI64>],
    now: Duration,
) -> String {
    let a = rng.random_range(0..NODES);
    let b = (a + rng.random_range(1..NODES)) % NODES;
    match rng.random_range(0..10) {
        0 => {
            for j in (0..NODES).filter(|&j| j != a) {
                sim.partition(host(a), host(j));
            }
            format!("isolate {a}")
        }
        1 => {
            let mut side: Vec<bool> = (0..NODES).map(|_| rng.random_bool(0.5)).collect();
            side[a] = true;
            side[b] = false;
            for x in 0..NODES {
                for y in 0..NODES {
                    if side[x] && !side[y] {
                        sim.partition(host(x), host(y));
                    }
                }
            }
            format!("halves {side:?}")
        }
        2 => {
            sim.partition_oneway(host(a), host(b));
            format!("one-way {a}->{b}")
        }
        3 => {
            sim.hold(host(a), host(b));
            format!("hold {a}-{b}")
        }
        4 => {
            sim.release(host(a), host(b));
            format!("release {a}-{b}")
        }
        5 => {
            let rate = rng.random_range(0.05..0.5);
            sim.set_link_fail_rate(host(a), host(b), rate);
            format!("failure burst {a}-{b} {rate:.2}")
        }
        6 => {
            let ms = rng.random_range(20..400);
            sim.set_link_max_message_latency(host(a), host(b), Duration::from_millis(ms));
            format!("latency {a}-{b} {ms} ms")
        }
        7 if crashed[a].is_none() => {
            hosts.borrow_mut().dbs[a] = None;
            hosts.borrow_mut().runtimes[a] = None;
            // The host vanishes (power off): its sockets send nothing, so the order in which
            // tokio drops its tasks cannot reorder anything on the network. Its links end any
            // fault (a partition, a hold, a failure burst) with the crash.
            for j in (0..NODES).filter(|&j| j != a) {
                sim.set_link_fail_rate(host(a), host(j), 0.0);
                sim.partition(host(a), host(j));
            }
            sim.crash(host(a));
            for j in (0..NODES).filter(|&j| j != a) {
                sim.repair(host(a), host(j));
                sim.release(host(a), host(j));
            }
            crashed[a] = Some(now + Duration::from_millis(rng.random_range(100..3000)));
            format!("crash {a}")
        }
        8 => {
            // Within discovery's 10 s replay window: a node whose clock is further off than
            // that cannot be discovered, by design.
            let jump = rng.random_range(-2000..=2000);
            let skew = (skews[a].load(Ordering::Relaxed) + jump).clamp(-4000, 4000);
            skews[a].store(skew, Ordering::Relaxed);
            format!("clock {a} {jump:+} ms")
        }
        _ => {
            heal(sim);
            "heal".to_string()
        }
    }
}

/// Repairs and releases every link and resets its loss and latency.
fn heal(sim: &mut turmoil::Sim<'_>) {
    for a in 0..NODES {
        for b in (0..NODES).filter(|&b| b != a) {
            sim.repair(host(a), host(b));
            sim.release(host(a), host(b));
            sim.set_link_fail_rate(host(a), host(b), 0.0);
            sim.set_link_max_message_latency(host(a), host(b), Duration::from_millis(5));
        }
    }
}

/// The trace of a run with a fixed name for printing.
pub fn describe(r: &SimRun) -> String {
    format!(
        "seed {} ({:?}{}{}): {:?}, {} refused for clock skew, {} faults, converged after {:?}, \
         trace {:016x}",
        r.seed,
        r.mode,
        if r.discovered { ", discovery" } else { "" },
        r.hours_ahead
            .map(|(n, h)| format!(", node {n} {h} h ahead"))
            .unwrap_or_default(),
        r.report,
        r.clock_refused,
        r.faults,
        r.converged_after,
        r.trace
    )
}
