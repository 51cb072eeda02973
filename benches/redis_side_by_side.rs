//! The load generator and probes of the side-by-side benchmark against Redis (issue 8); the
//! driver is `benches/redis_side_by_side.sh` (`make bench-redis`), which starts the servers and
//! calls this program once per scenario. A plain harness (`harness = false`):
//!
//! ```text
//! cargo bench --bench redis_side_by_side -- resp --label NAME --primary ADDR --replica ADDR [OPTIONS]
//! cargo bench --bench redis_side_by_side -- embedded --label NAME [OPTIONS]
//! cargo bench --bench redis_side_by_side -- table FILE
//! cargo bench --bench redis_side_by_side -- free-port
//! ```
//!
//! `resp` drives any RESP2 primary/replica pair (Redis with `replicaof`, or two `meshkv serve`
//! peers with `resp_listen`) with the same client code, so only the ports differ between
//! systems. `embedded` runs two in-process meshkv nodes, A and B: writes go through `Db::put` on
//! A (no client hop), B pulls from A over loopback TCP. Each prints one `RESULT` line (tab
//! separated) on stdout; `table` turns a file of them into the table with the meshkv/Redis
//! ratios (the median of each column when a scenario ran several rounds). With `RUST_LOG` set
//! (e.g. `meshkv=info`), the embedded nodes log on stderr.
//!
//! Phases of one scenario (every count is an option, the defaults are the issue's):
//!
//! 1. **Warm-up.** One key `warmup` is written on the primary and awaited on the replica (this
//!    also waits for the replication link); the replica must then hold exactly that one key.
//! 2. **Throughput.** `--clients` 4 connections, each with `--pipeline` 16 SETs per round trip
//!    (send 16, read 16 replies: `redis-benchmark -P 16`), write `--keys` 1,000,000 distinct
//!    16-byte keys (`s:` and 14 digits) with `--value-size` 100-byte values, each client its own
//!    quarter. Primary write throughput = keys / (first send .. last reply). Embedded: 4 threads
//!    calling `Db::put`, no pipelining (there is no round trip to hide).
//! 3. **All readable on the second node.** A prober started with the writers polls the replica
//!    every millisecond: `GET` of each client's last key; once all are there, `DBSIZE` (embedded:
//!    `Db::get` on B, then a count of B's `s:` keys), which must equal keys + 1 (the warm-up
//!    key). Both systems stream writes in commit order, so the time is taken, from the first send,
//!    when the last of the last keys is found, and the count confirms it (it is not the time of
//!    the count's reply; the embedded count walks B's keys).
//!    Should the first count fall short (a meshkv puller that falls behind the live stream
//!    catches up in rounds, newest entries first), the time is the reply of the first complete
//!    count, and a note says so.
//!    End-to-end replicated throughput = keys / that time.
//! 4. **Lag at a fixed rate.** After `--settle` 5000 ms (in milliseconds), one connection
//!    writes `--rate` 10,000 new keys (`l:` and 14 digits) a second for `--lag-seconds` 10 s,
//!    open loop: writes are sent in 1 ms ticks (10 per tick), never waiting for replies. Every
//!    `--sample-every` 50th write is sampled: when its reply arrives (its ack), one of 4 probe
//!    connections to the replica (in turn) sends `GET` for it until it is found; lag = arrival
//!    of that reply - the ack. Probes go back to back for the first millisecond after the ack,
//!    then 1 ms apart (a lagging replica is not also flooded with probes): the resolution is
//!    one loopback round trip (tens of microseconds) below 1 ms of lag, 1-2 ms above; a write
//!    already on the replica at its ack shows as that one round trip. A prober has one sample
//!    every 20 ms, so lags above that can be overstated by a prober still busy with the
//!    previous one. Embedded: the ack is `put` returning, and probe threads call `Db::get` on
//!    B, 20 us apart for the first millisecond, then 1 ms apart. p50 and p99 of the samples.
//! 5. **Keys that expire.** The throughput phase again for a quarter of `--keys` new keys
//!    (`e:` and 14 digits), each written with `SET key value EX 3600` (embedded:
//!    `Db::put_with_ttl`): primary write throughput of writes with a deadline.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Everything a scenario is parameterised by.
#[derive(Clone, Debug)]
struct Params {
    label: String,
    primary: String,
    replica: String,
    keys: u64,
    clients: usize,
    pipeline: usize,
    value_size: usize,
    rate: u64,
    lag_seconds: u64,
    sample_every: u64,
    settle: Duration,
}

impl Params {
    fn parse(args: &[String]) -> Params {
        let mut p = Params {
            label: "unnamed".into(),
            primary: String::new(),
            replica: String::new(),
            keys: 1_000_000,
            clients: 4,
            pipeline: 16,
            value_size: 100,
            rate: 10_000,
            lag_seconds: 10,
            sample_every: 50,
            settle: Duration::from_secs(5),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
                    .clone()
            };
            let num = |s: String| -> u64 {
                s.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{flag}: {s:?} is not a number"))
            };
            match flag.as_str() {
                "--label" => p.label = value(),
                "--primary" => p.primary = value(),
                "--replica" => p.replica = value(),
                "--keys" => p.keys = num(value()),
                "--clients" => p.clients = num(value()) as usize,
                "--pipeline" => p.pipeline = num(value()) as usize,
                "--value-size" => p.value_size = num(value()) as usize,
                "--rate" => p.rate = num(value()),
                "--lag-seconds" => p.lag_seconds = num(value()),
                "--sample-every" => p.sample_every = num(value()),
                "--settle" => p.settle = Duration::from_millis(num(value())),
                other => panic!("unknown option {other}"),
            }
        }
        assert!(p.clients > 0 && p.pipeline > 0 && p.rate > 0 && p.sample_every > 0);
        assert!(
            p.keys >= p.clients as u64,
            "--keys must be at least --clients"
        );
        p
    }

    /// Client `c`'s share of the throughput keys.
    fn range(&self, c: usize) -> std::ops::Range<u64> {
        let n = self.clients as u64;
        let c = c as u64;
        self.keys * c / n..self.keys * (c + 1) / n
    }

    fn value(&self) -> Vec<u8> {
        vec![b'v'; self.value_size]
    }
}

/// A throughput key: 16 bytes.
fn set_key(i: u64) -> Vec<u8> {
    format!("s:{i:014}").into_bytes()
}

/// A key of the lag phase: 16 bytes.
fn lag_key(i: u64) -> Vec<u8> {
    format!("l:{i:014}").into_bytes()
}

/// The figures of one scenario.
struct Outcome {
    write_secs: f64,
    ready: Ready,
    lags_us: Vec<u64>,
    lag_rate: f64,
    /// Phase 5: `SET ... EX` writes a second.
    set_ex_rate: f64,
}

impl Outcome {
    /// The `RESULT` line: label, keys, write seconds, ready seconds, lag p50 ms, lag p99 ms,
    /// samples, achieved lag-phase rate, `SET EX` writes/s.
    fn print(mut self, p: &Params) {
        self.lags_us.sort_unstable();
        let pct = |q: f64| -> f64 {
            if self.lags_us.is_empty() {
                return f64::NAN;
            }
            let i = ((self.lags_us.len() as f64 * q) as usize).min(self.lags_us.len() - 1);
            self.lags_us[i] as f64 / 1000.0
        };
        eprintln!(
            "[{}] {} keys written in {:.2} s ({:.0}/s); all readable on the second node after \
             {:.2} s ({:.0}/s end to end; the confirming count took {:.3} s); lag at {:.0} \
             writes/s: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples); SET EX: {:.0}/s",
            p.label,
            p.keys,
            self.write_secs,
            p.keys as f64 / self.write_secs,
            self.ready.secs,
            p.keys as f64 / self.ready.secs,
            self.ready.count_secs,
            self.lag_rate,
            pct(0.5),
            pct(0.99),
            pct(1.0),
            self.lags_us.len(),
            self.set_ex_rate
        );
        println!(
            "RESULT\t{}\t{}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{}\t{:.0}\t{:.0}",
            p.label,
            p.keys,
            self.write_secs,
            self.ready.secs,
            pct(0.5),
            pct(0.99),
            self.lags_us.len(),
            self.lag_rate,
            self.set_ex_rate
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal RESP2 client: commands encoded as arrays of bulk strings, replies parsed in full.

/// One RESP2 reply.
#[derive(Debug)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    /// An array, null or not: its items are read and dropped (no command here needs them).
    Array,
}

/// The sending half of a connection: commands are queued with [`Sender::push`] and sent with
/// [`Sender::flush`], so a pipeline is one `write`.
struct Sender {
    w: OwnedWriteHalf,
    out: Vec<u8>,
}

/// The receiving half of a connection.
struct Receiver {
    r: BufReader<OwnedReadHalf>,
}

/// A connection; [`Conn::cmd`] for one command at a time, the halves for pipelines.
struct Conn {
    tx: Sender,
    rx: Receiver,
}

fn protocol(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Sender {
    fn push(&mut self, args: &[&[u8]]) {
        use std::io::Write as _;
        let _ = write!(self.out, "*{}\r\n", args.len());
        for a in args {
            let _ = write!(self.out, "${}\r\n", a.len());
            self.out.extend_from_slice(a);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.w.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }
}

/// A reply in flight (arrays recurse).
type ReplyFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<Reply>> + Send + 'a>>;

impl Receiver {
    async fn line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).await?;
        if !line.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in a reply",
            ));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn number(bytes: &[u8]) -> io::Result<i64> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| protocol(format!("bad number {:?}", String::from_utf8_lossy(bytes))))
    }

    /// Reads one reply.
    fn reply(&mut self) -> ReplyFuture<'_> {
        Box::pin(async move {
            let line = self.line().await?;
            let (kind, rest) = line
                .split_first()
                .ok_or_else(|| protocol("empty reply line"))?;
            match kind {
                b'+' => Ok(Reply::Simple(String::from_utf8_lossy(rest).into_owned())),
                b'-' => Ok(Reply::Error(String::from_utf8_lossy(rest).into_owned())),
                b':' => Ok(Reply::Int(Self::number(rest)?)),
                b'$' => {
                    let n = Self::number(rest)?;
                    if n < 0 {
                        return Ok(Reply::Bulk(None));
                    }
                    let mut data = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut data).await?;
                    if !data.ends_with(b"\r\n") {
                        return Err(protocol("bulk string without CRLF"));
                    }
                    data.truncate(n as usize);
                    Ok(Reply::Bulk(Some(data)))
                }
                b'*' => {
                    let n = Self::number(rest)?;
                    if n < 0 {
                        return Ok(Reply::Array);
                    }
                    for _ in 0..n {
                        self.reply().await?;
                    }
                    Ok(Reply::Array)
                }
                other => Err(protocol(format!("unknown reply type {:?}", *other as char))),
            }
        })
    }
}

impl Conn {
    async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Conn {
            tx: Sender {
                w,
                out: Vec::with_capacity(64 * 1024),
            },
            rx: Receiver {
                r: BufReader::with_capacity(64 * 1024, r),
            },
        })
    }

    async fn cmd(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.tx.push(args);
        self.tx.flush().await?;
        self.rx.reply().await
    }

    /// `GET key`: whether the key exists.
    async fn exists(&mut self, key: &[u8]) -> io::Result<bool> {
        match self.cmd(&[b"GET", key]).await? {
            Reply::Bulk(v) => Ok(v.is_some()),
            other => Err(protocol(format!("GET answered {other:?}"))),
        }
    }

    async fn dbsize(&mut self) -> io::Result<u64> {
        match self.cmd(&[b"DBSIZE"]).await? {
            Reply::Int(n) if n >= 0 => Ok(n as u64),
            other => Err(protocol(format!("DBSIZE answered {other:?}"))),
        }
    }
}

/// Checks a SET's reply.
fn expect_ok(reply: Reply) -> io::Result<()> {
    match reply {
        Reply::Simple(s) if s == "OK" => Ok(()),
        Reply::Error(e) => Err(protocol(format!("SET failed: {e}"))),
        other => Err(protocol(format!("SET answered {other:?}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// RESP scenario.

async fn resp(p: Params) -> io::Result<Outcome> {
    assert!(
        !p.primary.is_empty() && !p.replica.is_empty(),
        "resp needs --primary and --replica"
    );
    let value = p.value();
    let mut primary = Conn::connect(&p.primary).await?;
    let mut replica = Conn::connect(&p.replica).await?;

    // 1. Warm-up: the replication link is up once the warm-up key is on the replica.
    expect_ok(primary.cmd(&[b"SET", b"warmup", &value]).await?)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !replica.exists(b"warmup").await? {
        if Instant::now() > deadline {
            return Err(protocol("the warm-up key never reached the replica"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let size = replica.dbsize().await?;
    if size != 1 {
        return Err(protocol(format!(
            "the replica holds {size} keys before the run; it must start empty"
        )));
    }

    // 2 and 3. Writers, and the readiness prober beside them.
    let mut conns = Vec::new();
    for _ in 0..p.clients {
        conns.push(Conn::connect(&p.primary).await?);
    }
    let start = Instant::now();
    let last_keys: Vec<Vec<u8>> = (0..p.clients)
        .map(|c| set_key(p.range(c).end - 1))
        .collect();
    let expected = p.keys + 1;
    let prober = tokio::spawn(async move {
        let mut ready = Readiness::new(last_keys, expected);
        loop {
            let mut still = Vec::new();
            for k in std::mem::take(&mut ready.pending) {
                if !replica.exists(&k).await? {
                    still.push(k);
                }
            }
            ready.pending = still;
            if ready.pending.is_empty() {
                let asked = start.elapsed();
                let count = replica.dbsize().await?;
                if let Some(done) = ready.counted(start, asked, count) {
                    return Ok::<_, io::Error>(done);
                }
            }
            if start.elapsed() > Duration::from_secs(1800) {
                return Err(protocol(
                    "the replica did not get every key within 30 minutes",
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let ranges = (0..p.clients).map(|c| p.range(c)).collect();
    write_pipelined(conns, ranges, p.pipeline, move |tx, k| {
        tx.push(&[b"SET", &set_key(k), &value])
    })
    .await?;
    let write_secs = start.elapsed().as_secs_f64();
    eprintln!(
        "[{}] written: {} keys in {write_secs:.2} s; waiting for the replica",
        p.label, p.keys
    );
    let ready = prober.await.expect("prober task")?;

    // 4. Lag at a fixed rate.
    tokio::time::sleep(p.settle).await;
    let (lags_us, lag_rate) = resp_lag(&p, primary).await?;
    let set_ex_rate = resp_set_ex(&p).await?;
    Ok(Outcome {
        write_secs,
        ready,
        lags_us,
        lag_rate,
        set_ex_rate,
    })
}

/// A key of phase 5: 16 bytes.
fn ex_key(i: u64) -> Vec<u8> {
    format!("e:{i:014}").into_bytes()
}

/// Phase 5 over RESP: pipelined `SET key value EX 3600`, the throughput phase's clients and
/// pipeline, a quarter of its keys; writes a second.
async fn resp_set_ex(p: &Params) -> io::Result<f64> {
    let value = p.value();
    let keys = (p.keys / 4).max(p.clients as u64);
    let mut conns = Vec::new();
    for _ in 0..p.clients {
        conns.push(Conn::connect(&p.primary).await?);
    }
    let start = Instant::now();
    let n = p.clients as u64;
    let ranges = (0..n).map(|c| keys * c / n..keys * (c + 1) / n).collect();
    write_pipelined(conns, ranges, p.pipeline, move |tx, k| {
        tx.push(&[b"SET", &ex_key(k), &value, b"EX", b"3600"])
    })
    .await?;
    Ok(keys as f64 / start.elapsed().as_secs_f64())
}

/// Writes keys `ranges[c]` on connection `c`, all at once, `pipeline` commands per round trip
/// (`push` queues key `k`'s command), each reply checked to be `OK`.
async fn write_pipelined(
    conns: Vec<Conn>,
    ranges: Vec<std::ops::Range<u64>>,
    pipeline: usize,
    push: impl Fn(&mut Sender, u64) + Clone + Send + 'static,
) -> io::Result<()> {
    let mut writers = Vec::new();
    for (mut conn, range) in conns.into_iter().zip(ranges) {
        let push = push.clone();
        writers.push(tokio::spawn(async move {
            let mut i = range.start;
            while i < range.end {
                let end = (i + pipeline as u64).min(range.end);
                for k in i..end {
                    push(&mut conn.tx, k);
                }
                conn.tx.flush().await?;
                for _ in i..end {
                    expect_ok(conn.rx.reply().await?)?;
                }
                i = end;
            }
            Ok::<_, io::Error>(())
        }));
    }
    for w in writers {
        w.await.expect("writer task")?;
    }
    Ok(())
}

/// When the second node held every key of the throughput phase.
#[derive(Clone, Copy, Debug)]
struct Ready {
    /// Seconds from the first send.
    secs: f64,
    /// How long the count that confirmed it took (`DBSIZE` walks every key in meshkv).
    count_secs: f64,
}

/// The readiness probe's state. Both systems stream a primary's writes in commit order, so
/// once each client's last key is on the second node all earlier keys are too: the time is
/// taken when the last of those keys is found, and a full count right after confirms it. If
/// that first count falls short (a meshkv puller that falls behind the live stream catches up in
/// rounds, newest entries first), the time becomes the reply of the first complete count.
struct Readiness {
    pending: Vec<Vec<u8>>,
    expected: u64,
    /// When the last keys were all found, and whether no count has come back short since.
    found: Option<(Duration, bool)>,
}

impl Readiness {
    fn new(last_keys: Vec<Vec<u8>>, expected: u64) -> Readiness {
        Readiness {
            pending: last_keys,
            expected,
            found: None,
        }
    }

    /// A count of `count` keys, asked at `asked` (since `start`), has come back (the pending
    /// keys are all found): the result once the count is complete.
    fn counted(&mut self, start: Instant, asked: Duration, count: u64) -> Option<Ready> {
        let (found, first) = *self.found.get_or_insert((asked, true));
        let replied = start.elapsed();
        if count != self.expected {
            if first {
                eprintln!(
                    "note: the last keys were all on the second node at {:.2} s, but it counted \
                     {count} keys of {}: timing the first complete count instead",
                    found.as_secs_f64(),
                    self.expected
                );
            }
            self.found = Some((found, false));
            return None;
        }
        Some(Ready {
            secs: if first { found } else { replied }.as_secs_f64(),
            count_secs: (replied - asked).as_secs_f64(),
        })
    }
}

/// Number of probe connections (or threads) in the lag phase.
const PROBERS: usize = 4;

/// How long after its ack a sampled write is probed back to back; later probes are 1 ms apart,
/// so that a slow replica is not also flooded with probes (which would slow it further).
const PROBE_SPIN: Duration = Duration::from_millis(1);

/// The lag phase over RESP: returns the lags in microseconds and the achieved write rate.
async fn resp_lag(p: &Params, conn: Conn) -> io::Result<(Vec<u64>, f64)> {
    let total = p.rate * p.lag_seconds;
    let Conn {
        tx: mut sender,
        rx: mut receiver,
    } = conn;
    let mut probe_tx = Vec::new();
    let mut probers = Vec::new();
    for _ in 0..PROBERS {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
        probe_tx.push(tx);
        let mut replica = Conn::connect(&p.replica).await?;
        probers.push(tokio::spawn(async move {
            let mut lags = Vec::new();
            while let Some((i, ack)) = rx.recv().await {
                let key = lag_key(i);
                let deadline = Instant::now() + Duration::from_secs(60);
                while !replica.exists(&key).await? {
                    if Instant::now() > deadline {
                        return Err(protocol("a sampled write never reached the replica"));
                    }
                    if ack.elapsed() > PROBE_SPIN {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                lags.push(ack.elapsed().as_micros() as u64);
            }
            Ok::<_, io::Error>(lags)
        }));
    }
    // Ack reader: replies arrive in order; sampled writes go to the probers.
    let sample_every = p.sample_every;
    let reader = tokio::spawn(async move {
        for i in 0..total {
            expect_ok(receiver.reply().await?)?;
            if i % sample_every == 0 {
                let ack = Instant::now();
                let _ = probe_tx[(i / sample_every) as usize % PROBERS].send((i, ack));
            }
        }
        Ok::<_, io::Error>(Instant::now())
    });
    // Paced sender: open loop, writes due by now are sent each 1 ms tick.
    let value = p.value();
    let begin = Instant::now();
    let mut next = 0u64;
    while next < total {
        let due = ((begin.elapsed().as_secs_f64() * p.rate as f64) as u64 + 1).min(total);
        for i in next..due {
            sender.push(&[b"SET", &lag_key(i), &value]);
        }
        if due > next {
            sender.flush().await?;
            next = due;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let acked = reader.await.expect("ack reader")?;
    let rate = total as f64 / acked.duration_since(begin).as_secs_f64();
    let mut lags = Vec::new();
    for prober in probers {
        lags.extend(prober.await.expect("prober")?);
    }
    Ok((lags, rate))
}

// ---------------------------------------------------------------------------------------------
// Embedded scenario.

fn node_config(peers: Vec<String>) -> meshkv::NodeConfig {
    meshkv::NodeConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        peers,
        cluster: "bench".into(),
        ..meshkv::NodeConfig::default()
    }
}

async fn embedded(p: Params) -> io::Result<Outcome> {
    use meshkv::{Db, Durability, Node, Options};
    let fail = |e: meshkv::Error| io::Error::other(e.to_string());
    let (da, dbb) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let options = Options {
        durability: Durability::Buffered,
        ..Options::default()
    };
    let a = Db::open(da.path(), options.clone()).map_err(fail)?;
    let b = Db::open(dbb.path(), options).map_err(fail)?;
    let na = Node::start(a.clone(), node_config(vec![]))
        .await
        .map_err(fail)?;
    let nb = Node::start(b.clone(), node_config(vec![na.local_addr().to_string()]))
        .await
        .map_err(fail)?;
    na.add_peer(nb.local_addr().to_string());
    let value = p.value();

    // 1. Warm-up.
    a.put(b"warmup", &value).map_err(fail)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while b.get(b"warmup").map_err(fail)?.is_none() {
        if Instant::now() > deadline {
            return Err(protocol("the warm-up key never reached node B"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // 2 and 3. Every thread of this scenario is a `spawn_blocking` one and is awaited, so that
    // no runtime worker (the nodes' tasks run on them) is held by a blocking join.
    let start = Instant::now();
    let prober = {
        let b = b.clone();
        let p = p.clone();
        tokio::task::spawn_blocking(move || -> io::Result<Ready> {
            let last_keys = (0..p.clients)
                .map(|c| set_key(p.range(c).end - 1))
                .collect();
            let mut ready = Readiness::new(last_keys, p.keys);
            loop {
                ready.pending.retain(|k| !matches!(b.get(k), Ok(Some(_))));
                if ready.pending.is_empty() {
                    let asked = start.elapsed();
                    let count = b.scan_prefix(b"s:").count() as u64;
                    if let Some(done) = ready.counted(start, asked, count) {
                        return Ok(done);
                    }
                }
                if start.elapsed() > Duration::from_secs(1800) {
                    return Err(protocol("node B did not get every key within 30 minutes"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let writers: Vec<_> = (0..p.clients)
        .map(|c| {
            let (a, range, value) = (a.clone(), p.range(c), value.clone());
            tokio::task::spawn_blocking(move || {
                for k in range {
                    a.put(set_key(k), &value).expect("put");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer thread");
    }
    let write_secs = start.elapsed().as_secs_f64();
    eprintln!(
        "[{}] written: {} keys in {write_secs:.2} s; waiting for node B",
        p.label, p.keys
    );
    let ready = prober.await.expect("prober thread")?;

    // 4. Lag at a fixed rate: a paced writer thread, probe threads reading B.
    tokio::time::sleep(p.settle).await;
    let total = p.rate * p.lag_seconds;
    let stop = Arc::new(AtomicBool::new(false));
    let mut txs = Vec::new();
    let mut probers = Vec::new();
    for _ in 0..PROBERS {
        let (tx, rx) = mpsc::channel::<(u64, Instant)>();
        txs.push(tx);
        let (b, stop) = (b.clone(), Arc::clone(&stop));
        probers.push(tokio::task::spawn_blocking(
            move || -> io::Result<Vec<u64>> {
                let mut lags = Vec::new();
                for (i, ack) in rx {
                    let key = lag_key(i);
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while b.get(&key).map_err(fail)?.is_none() {
                        if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                            return Err(protocol("a sampled write never reached node B"));
                        }
                        std::thread::sleep(if ack.elapsed() > PROBE_SPIN {
                            Duration::from_millis(1)
                        } else {
                            Duration::from_micros(20)
                        });
                    }
                    lags.push(ack.elapsed().as_micros() as u64);
                }
                Ok(lags)
            },
        ));
    }
    let writer = {
        let (a, p, value) = (a.clone(), p.clone(), value.clone());
        tokio::task::spawn_blocking(move || {
            let begin = Instant::now();
            let mut next = 0u64;
            while next < total {
                let due = ((begin.elapsed().as_secs_f64() * p.rate as f64) as u64 + 1).min(total);
                for i in next..due {
                    a.put(lag_key(i), &value).expect("put");
                    if i % p.sample_every == 0 {
                        let _ =
                            txs[(i / p.sample_every) as usize % PROBERS].send((i, Instant::now()));
                    }
                }
                next = due;
                std::thread::sleep(Duration::from_millis(1));
            }
            total as f64 / begin.elapsed().as_secs_f64()
        })
    };
    let lag_rate = writer.await.expect("writer thread");
    let mut lags_us = Vec::new();
    let mut failed = None;
    for prober in probers {
        match prober.await.expect("prober thread") {
            Ok(l) => lags_us.extend(l),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                failed = Some(e);
            }
        }
    }
    if let Some(e) = failed {
        nb.shutdown().await.map_err(fail)?;
        na.shutdown().await.map_err(fail)?;
        return Err(e);
    }

    // 5. Keys that expire: `put_with_ttl` from the writer threads.
    let keys = (p.keys / 4).max(p.clients as u64);
    let start = Instant::now();
    let writers: Vec<_> = (0..p.clients as u64)
        .map(|c| {
            let n = p.clients as u64;
            let (a, value) = (a.clone(), value.clone());
            tokio::task::spawn_blocking(move || {
                for k in keys * c / n..keys * (c + 1) / n {
                    a.put_with_ttl(ex_key(k), &value, Duration::from_secs(3600))
                        .expect("put_with_ttl");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer thread");
    }
    let set_ex_rate = keys as f64 / start.elapsed().as_secs_f64();
    nb.shutdown().await.map_err(fail)?;
    na.shutdown().await.map_err(fail)?;
    Ok(Outcome {
        write_secs,
        ready,
        lags_us,
        lag_rate,
        set_ex_rate,
    })
}

// ---------------------------------------------------------------------------------------------
// The table.

/// One parsed `RESULT` line.
struct Row {
    label: String,
    keys: f64,
    write_secs: f64,
    ready_secs: f64,
    p50: f64,
    p99: f64,
    /// `SET ... EX` writes a second (NaN in a result line from before phase 5).
    set_ex: f64,
}

impl Row {
    fn parse(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.first() != Some(&"RESULT") || f.len() < 7 {
            return None;
        }
        let n = |i: usize| f[i].parse::<f64>().ok();
        Some(Row {
            label: f[1].to_string(),
            keys: n(2)?,
            write_secs: n(3)?,
            ready_secs: n(4)?,
            p50: n(5)?,
            p99: n(6)?,
            set_ex: f.get(9).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
        })
    }

    /// The median of each column over `rounds` (the same scenario).
    fn median(rounds: &[Row]) -> Row {
        let med = |f: &dyn Fn(&Row) -> f64| -> f64 {
            let mut v: Vec<f64> = rounds.iter().map(f).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        };
        Row {
            label: rounds[0].label.clone(),
            keys: rounds[0].keys,
            write_secs: med(&|r| r.write_secs),
            ready_secs: med(&|r| r.ready_secs),
            p50: med(&|r| r.p50),
            p99: med(&|r| r.p99),
            set_ex: med(&|r| r.set_ex),
        }
    }

    fn write_rate(&self) -> f64 {
        self.keys / self.write_secs
    }

    fn e2e_rate(&self) -> f64 {
        self.keys / self.ready_secs
    }
}

fn table(path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let all: Vec<Row> = text.lines().filter_map(Row::parse).collect();
    // Group the rounds of each scenario, in first-seen order; each column is the median over
    // the rounds (the driver runs the scenarios in turn, round after round).
    let mut groups: Vec<Vec<Row>> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in all {
        match seen.get(&r.label) {
            Some(&i) => groups[i].push(r),
            None => {
                seen.insert(r.label.clone(), groups.len());
                groups.push(vec![r]);
            }
        }
    }
    let rounds = groups.iter().map(Vec::len).max().unwrap_or(0);
    if rounds > 1 {
        println!("Medians of {rounds} rounds; end-to-end writes/s of each round:");
        for g in &groups {
            let each: Vec<String> = g.iter().map(|r| thousands(r.e2e_rate())).collect();
            println!("- {}: {}", g[0].label, each.join(", "));
        }
        println!();
    }
    let rows: Vec<Row> = groups.iter().map(|g| Row::median(g)).collect();
    println!(
        "| scenario | primary writes/s | all readable on 2nd node after | end-to-end writes/s | lag p50 | lag p99 | SET EX writes/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} s | {} | {:.3} ms | {:.3} ms | {} |",
            r.label,
            thousands(r.write_rate()),
            r.ready_secs,
            thousands(r.e2e_rate()),
            r.p50,
            r.p99,
            thousands(r.set_ex)
        );
    }
    let (mesh, redis): (Vec<&Row>, Vec<&Row>) =
        rows.iter().partition(|r| r.label.starts_with("meshkv"));
    if mesh.is_empty() || redis.is_empty() {
        return;
    }
    println!();
    println!(
        "| ratio meshkv/Redis | primary writes/s | end-to-end writes/s | lag p50 | lag p99 | SET EX writes/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for m in &mesh {
        for r in &redis {
            println!(
                "| {} / {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                m.label,
                r.label,
                m.write_rate() / r.write_rate(),
                m.e2e_rate() / r.e2e_rate(),
                m.p50 / r.p50,
                m.p99 / r.p99,
                m.set_ex / r.set_ex
            );
        }
    }
    println!();
    println!(
        "Throughput ratios above 1 and lag ratios below 1 favour meshkv. Goal: meshkv embedded \
         above 1 end to end, meshkv RESP at least 0.5."
    );
}

/// `1234567.8` as `1,234,568`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() {
    // meshkv's logs (the embedded nodes'), on stderr, when asked for with RUST_LOG.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    // `cargo bench` passes `--bench`; the rest is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(command) = args.first() else {
        eprintln!(
            "usage: redis_side_by_side resp|embedded [OPTIONS] | table FILE | free-port \
             (see benches/redis_side_by_side.sh)"
        );
        return;
    };
    let rest = &args[1..];
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    match command.as_str() {
        "--list" => {}
        "free-port" => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
            println!("{}", listener.local_addr().expect("address").port());
        }
        "table" => table(rest.first().expect("table FILE")),
        "resp" => {
            let p = Params::parse(rest);
            match runtime().block_on(resp(p.clone())) {
                Ok(o) => o.print(&p),
                Err(e) => {
                    eprintln!("[{}] failed: {e}", p.label);
                    std::process::exit(1);
                }
            }
        }
        "embedded" => {
            let p = Params::parse(rest);
            match runtime().block_on(embedded(p.clone())) {
                Ok(o) => o.print(&p),
                Err(e) => {
                    eprintln!("[{}] failed: {e}", p.label);
                    std::process::exit(1);
                }
            }
        }
        other => panic!("unknown command {other}"),
    }
}
