//! The commands that work on local databases, without a server.
//!
//! - `meshkv demo`: three replicating nodes in one process on loopback (ports picked by the
//!   system), each writing its own keys and one contested key, until all three agree. With
//!   `--discovery` the nodes have no peer lists and find each other by UDP multicast, kept on
//!   this host: interface 127.0.0.1, TTL 0, a random group in 239.255.0.0/16 and a free port.
//! - `meshkv example [DIR]`: opens a database (in a temporary folder unless DIR is given), writes,
//!   reads, deletes, prints the changes feed and the consistency report.
//! - `meshkv verify DIR`: checks a database's storage invariants; exit code 1 when it finds a
//!   problem.

use std::process::ExitCode;

use meshkv::{Db, Options};

/// Multicast discovery that stays on this host (interface 127.0.0.1, TTL 0), on a random group
/// and a port that was free a moment ago.
fn loopback_discovery() -> std::io::Result<meshkv::MulticastConfig> {
    use std::net::{Ipv4Addr, SocketAddrV4};
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let [a, b]: [u8; 2] = rand::random();
    Ok(meshkv::MulticastConfig {
        group: SocketAddrV4::new(Ipv4Addr::new(239, 255, a, b.max(1)), port),
        interface: Ipv4Addr::LOCALHOST,
        interval: std::time::Duration::from_millis(200),
        expire_after: 5,
        ttl: 0,
    })
}

pub fn demo(discovery: bool) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use std::time::{Duration, Instant};
    let rt = tokio::runtime::Runtime::new()?;
    let multicast = if discovery {
        let m = loopback_discovery()?;
        println!(
            "discovery on {} via 127.0.0.1 (TTL 0: it never leaves this host)",
            m.group
        );
        Some(m)
    } else {
        None
    };
    rt.block_on(async {
        let dirs = [
            tempfile::tempdir()?,
            tempfile::tempdir()?,
            tempfile::tempdir()?,
        ];
        let mut dbs = Vec::new();
        let mut nodes: Vec<meshkv::Node> = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let db = Db::open(dir.path(), Options::default())?;
            let peers = match multicast {
                Some(_) => Vec::new(),
                None => nodes.iter().map(|n| n.local_addr().to_string()).collect(),
            };
            let node = meshkv::Node::start(
                db.clone(),
                meshkv::NodeConfig {
                    listen: "127.0.0.1:0".parse()?,
                    peers,
                    cluster: "demo".into(),
                    heartbeat_interval: Duration::from_millis(200),
                    discovery: multicast.clone(),
                    ..meshkv::NodeConfig::default()
                },
            )
            .await?;
            println!(
                "node {} ({}) listening on {}",
                "ABC".as_bytes()[i] as char,
                db.node_id(),
                node.local_addr()
            );
            dbs.push(db);
            nodes.push(node);
        }
        let names = ["A", "B", "C"];
        // The contested key first, on all three at once (one thread each), so that the
        // writes race replication and usually meet with equal clocks.
        let colors = ["red", "green", "blue"];
        std::thread::scope(|scope| {
            let writes: Vec<_> = dbs
                .iter()
                .zip(colors)
                .map(|(db, color)| scope.spawn(move || db.put("color", color)))
                .collect();
            writes
                .into_iter()
                .map(|w| w.join().map_err(|_| "a writer panicked"))
                .collect::<Result<Vec<_>, _>>()
        })?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        for (i, db) in dbs.iter().enumerate() {
            db.put(
                format!("greeting/{}", names[i]),
                format!("hello from {}", names[i]),
            )?;
            println!(
                "{} wrote color = {} and greeting/{}",
                names[i], colors[i], names[i]
            );
        }
        dbs[0].put("temporary", "soon gone")?;
        let view = |db: &Db| -> Vec<(Vec<u8>, Option<Vec<u8>>, meshkv::Version)> {
            let mut all: Vec<_> = db
                .replica()
                .changes_since(0)
                .filter_map(|r| r.ok())
                .map(|(_, e)| (e.key, e.value, e.version))
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        let start = Instant::now();
        let mut deleted = false;
        loop {
            if !deleted && dbs[2].get("temporary")?.is_some() {
                dbs[2].delete("temporary")?;
                println!("C deleted temporary (written on A)");
                deleted = true;
            }
            let first = view(&dbs[0]);
            if deleted && first.len() == 5 && dbs.iter().all(|d| view(d) == first) {
                break;
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err("the nodes did not converge within 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = start.elapsed();
        let origin_name = |id: meshkv::NodeId| {
            dbs.iter()
                .position(|d| d.node_id() == id)
                .map_or("?", |i| names[i])
        };
        println!("converged in {took:.1?}: every node holds the same keys, values and versions");
        println!(
            "  {:<12} {:<5} {:<16} {:>5}  origin",
            "key", "node", "value", "clock"
        );
        for (key, _, _) in view(&dbs[0]) {
            for (db, name) in dbs.iter().zip(names) {
                let (value, version) = match db.get_versioned(&key)? {
                    Some(rec) => (rec.value, rec.version),
                    None => return Err("a converged key is missing".into()),
                };
                let shown = value.map_or("(deleted)".to_string(), |v| {
                    String::from_utf8_lossy(&v).into_owned()
                });
                println!(
                    "  {:<12} {:<5} {:<16} {:>5}  {} ({})",
                    String::from_utf8_lossy(&key),
                    name,
                    shown,
                    version.clock,
                    origin_name(version.origin),
                    &version.origin.to_string()[..8]
                );
            }
        }
        match dbs[0].get_versioned("color")? {
            Some(rec) if rec.version.clock == 1 => println!(
                "color: the three writes met with equal clocks; last-writer-wins picked the same \
                 one everywhere"
            ),
            Some(rec) => println!(
                "color: a write saw another before it (clock {}); the higher clock won everywhere",
                rec.version.clock
            ),
            None => return Err("color is missing".into()),
        }
        for (i, node) in nodes.iter().enumerate() {
            let status = node.status();
            for p in status.peers {
                println!(
                    "  {} -> {:<16} {:<10} connected {:<5} cursor {:>3} behind {}",
                    names[i],
                    p.address,
                    format!("{:?}", p.source),
                    p.connected,
                    p.cursor.unwrap_or(0),
                    p.entries_behind.unwrap_or(0)
                );
            }
        }
        for (db, name) in dbs.iter().zip(names) {
            let report = db.verify()?;
            println!("{name}: verify clean = {}", report.is_clean());
        }
        for node in nodes {
            node.shutdown().await?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn example(dir: Option<&str>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let path = dir.map_or_else(|| temp.path().to_path_buf(), Into::into);
    let db = Db::open(&path, Options::default())?;
    println!("opened {} as node {}", path.display(), db.node_id());
    for (k, v) in [("user/1", "alice"), ("user/2", "bob"), ("user/3", "carol")] {
        let version = db.put(k, v)?;
        println!("put {k} = {v}  -> clock {}", version.clock);
    }
    let v = db.put("user/1", "alice v2")?;
    println!("put user/1 = alice v2  -> clock {}", v.clock);
    let v = db.delete("user/2")?;
    println!(
        "delete user/2  -> clock {} (a tombstone that replicates)",
        v.clock
    );
    let mut batch = db.batch();
    batch.put("user/4", "dave").delete("user/3");
    let versions = db.write(batch)?;
    println!(
        "batch: put user/4, delete user/3 -> clocks {:?}",
        versions.iter().map(|v| v.clock).collect::<Vec<_>>()
    );
    println!("scan user/:");
    for item in db.scan_prefix("user/") {
        let (k, v) = item?;
        println!(
            "  {} = {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }
    let changes = db.replica().changes_since(0);
    println!(
        "changes feed (newest first, one entry per key, high seq {}):",
        changes.high_seq()
    );
    for item in changes {
        let (seq, e) = item?;
        let what = match &e.value {
            Some(v) => format!("put {}", String::from_utf8_lossy(v)),
            None => "delete".into(),
        };
        println!(
            "  seq {seq}: {} {what} (clock {})",
            String::from_utf8_lossy(&e.key),
            e.version.clock
        );
    }
    let report = db.verify()?;
    println!(
        "verify: {} live keys, {} tombstones, {} log entries, clean: {}",
        report.live_keys,
        report.tombstones,
        report.log_entries,
        report.is_clean()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn renew_id(dir: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if !std::path::Path::new(dir).join("CURRENT").is_file() {
        return Err(format!("{dir} holds no database").into());
    }
    let id = Db::renew_node_id(dir, Options::default())?;
    println!("{dir}: new node id {id}; peer cursors cleared");
    Ok(ExitCode::SUCCESS)
}

pub fn verify(dir: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if !std::path::Path::new(dir).join("CURRENT").is_file() {
        return Err(format!("{dir} holds no database").into());
    }
    let db = Db::open(dir, Options::default())?;
    let report = db.verify()?;
    println!(
        "{dir}: node {}, {} live keys, {} tombstones, {} log entries, last seq {}",
        db.node_id(),
        report.live_keys,
        report.tombstones,
        report.log_entries,
        report.last_seq
    );
    for p in &report.problems {
        println!("problem: {p}");
    }
    if report.is_clean() {
        println!("clean");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} problems", report.problem_count);
        Ok(ExitCode::FAILURE)
    }
}
