//! Anti-entropy figures (docs/performance.md, "Anti-entropy"): two databases of `KEYS` keys
//! (16-byte keys, 100-byte values) in one process.
//!
//! First compared through their digests with the `Comparison` state machine, each side
//! answering from its `Replica` directly (no network: the bytes are those the exchanges would
//! carry, counted from what is handed over): the bytes of a round between the two converged
//! databases, and the time and bytes to find and repair one divergent key (then ten, then a
//! thousand).
//!
//! Then as two real nodes on loopback TCP with the default `NodeConfig` (anti-entropy every
//! 5 s, heartbeats every second): one key that one node lacks while its cursor says it has
//! everything, so only anti-entropy can bring it; the time from both pulls being caught up to
//! the key being there; and the bytes of a round between the converged nodes
//! (`Node::verify_peer`, counted on the wire).
//!
//! Last, what keeping the digests costs at open (the open of a database of `KEYS` keys, whose
//! one pass over the index makes the key counts and the digests), and a `Db::verify`, which
//! recomputes them.
//! `MESHKV_BENCH_SCALE=0.1` shrinks the key count for a quick look.

use std::time::{Duration, Instant};

use meshkv::replica::{Comparison, Differences, PeerCursor, Replica, Step};
use meshkv::{Db, LastWriteWins, Node, NodeConfig, NodeId, Options};

const VALUE: [u8; 100] = [7; 100];

fn key(n: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(b"anti-ent");
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
}

fn scale() -> f64 {
    std::env::var("MESHKV_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// One comparison of `local` against `peer`, and the bytes its replies and asks would carry
/// (16 bytes a digest, a key and its 32-byte version per listed record, plus 8 bytes of
/// framing per list).
fn compare(local: Replica<'_>, peer: Replica<'_>) -> (Differences, usize) {
    let theirs = peer.digests();
    let (mut c, mut step) = Comparison::start(local.digests(), 0, 0);
    let mut bytes = 8;
    loop {
        step = match step {
            Step::AskRanges => {
                let r = theirs.ranges();
                bytes += 8 + 16 * r.len();
                c.on_ranges(&r).unwrap()
            }
            Step::AskSegments(ranges) => {
                bytes += 8 + ranges.len();
                let mut next = None;
                for r in ranges {
                    let s = theirs.segments(usize::from(r)).unwrap();
                    bytes += 8 + 16 * s.len();
                    next = c.on_segments(r, s).unwrap();
                }
                next.unwrap()
            }
            Step::AskDigests(_) => unreachable!("started without rechecks"),
            Step::AskVersions(segments) => {
                bytes += 8 + 2 * segments.len();
                let mine = local.versions_in_segments(&segments).unwrap();
                let remote = peer.versions_in_segments(&segments).unwrap();
                bytes += 8 + remote.iter().map(|(k, _)| 8 + k.len() + 32).sum::<usize>();
                c.on_versions(&mine, &remote).unwrap()
            }
            Step::Done(found) => return (found, bytes),
        }
    }
}

/// Finds what `b` lacks of `a` and repairs it: returns the keys fetched, the bytes of the
/// comparison and the time of the whole (compare, read the entries, apply).
fn repair(a: &Db, b: &Db) -> (usize, usize, Duration) {
    let start = Instant::now();
    let (found, bytes) = compare(b.replica(), a.replica());
    let (entries, done) = a.replica().entries_of(&found.fetch, 64 << 20).unwrap();
    assert_eq!(done, found.fetch.len());
    b.replica().apply(&entries, &LastWriteWins).unwrap();
    (found.fetch.len(), bytes, start.elapsed())
}

/// The nodes' part: one key only anti-entropy can bring, with the default config.
fn over_the_wire(a: &Db, b: &Db) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        a.put(b"only-on-a", b"divergent").unwrap();
        // Each cursor at the other's end: the pulls will send nothing.
        for (db, peer) in [(a, b), (b, a)] {
            let cursor = PeerCursor {
                seq: peer.last_seq(),
                incarnation: peer.replica().incarnation(),
                proof: None,
            };
            db.replica()
                .set_peer_cursor(peer.node_id(), cursor)
                .unwrap();
        }
        let config = |peers| NodeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            peers,
            ..NodeConfig::default()
        };
        let na = Node::start(a.clone(), config(vec![])).await.unwrap();
        let addr = na.local_addr().to_string();
        let nb = Node::start(b.clone(), config(vec![addr.clone()]))
            .await
            .unwrap();
        let caught_up = |n: &Node| {
            let peers = n.status().peers;
            !peers.is_empty()
                && peers
                    .iter()
                    .all(|p| p.connected && p.entries_behind == Some(0))
        };
        while !(caught_up(&na) && caught_up(&nb)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let start = Instant::now();
        while b.get(b"only-on-a").unwrap().is_none() {
            assert!(start.elapsed() < Duration::from_secs(120), "never repaired");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!(
            "two nodes on loopback, default config (anti_entropy_interval 5 s): one divergent \
             key found and repaired {:.2} s after both pulls were caught up",
            start.elapsed().as_secs_f64()
        );
        let start = Instant::now();
        let report = nb.verify_peer(&addr).await.unwrap();
        assert!(report.converged(), "{report:?}");
        println!(
            "converged nodes: a round (Node::verify_peer) exchanges {} bytes on the wire in \
             {:.2} ms, handshake not counted",
            report.bytes,
            start.elapsed().as_secs_f64() * 1e3
        );
        na.shutdown().await.unwrap();
        nb.shutdown().await.unwrap();
    });
}

fn main() {
    let keys = ((1_000_000.0 * scale()) as u64).max(1_000);
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let open = |i: usize| {
        Db::open(
            dirs[i].path(),
            Options::default().node_id(NodeId([i as u8 + 1; 16])),
        )
        .unwrap()
    };
    let (a, b) = (open(0), open(1));
    for chunk in (0..keys).collect::<Vec<_>>().chunks(1_000) {
        let mut batch = a.batch();
        for &n in chunk {
            batch.put(key(n), VALUE);
        }
        a.write(batch).unwrap();
    }
    // B gets everything through a full sync, as a new peer would.
    {
        let mut full = a.replica().full_sync();
        loop {
            let batch = full.next_batch(4 << 20).unwrap();
            if batch.is_empty() {
                break;
            }
            let entries: Vec<_> = batch.into_iter().map(|(_, e)| e).collect();
            b.replica().apply(&entries, &LastWriteWins).unwrap();
        }
    }
    assert_eq!(a.replica().digests(), b.replica().digests());
    println!(
        "anti-entropy, {keys} keys (16-byte keys, 100-byte values), two databases in one process"
    );

    let start = Instant::now();
    let (found, bytes) = compare(a.replica(), b.replica());
    assert!(found.is_empty());
    println!(
        "converged: one round exchanges {bytes} bytes, in {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    for divergent in [1u64, 10, 1_000] {
        for n in 0..divergent {
            a.put(key(n * 997 % keys), b"changed on a").unwrap();
        }
        let (fetched, bytes, took) = repair(&a, &b);
        assert_eq!(fetched as u64, divergent);
        assert_eq!(a.replica().digests(), b.replica().digests());
        println!(
            "{divergent} divergent key(s): found and repaired in {:.3} s, {bytes} bytes compared",
            took.as_secs_f64()
        );
    }

    over_the_wire(&a, &b);

    drop(a);
    let start = Instant::now();
    let a = open(0);
    println!(
        "open of {keys} keys (one index pass: key counts and digests): {:.3} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    assert!(a.verify().unwrap().is_clean());
    println!(
        "verify of {keys} keys (digests recomputed): {:.3} s",
        start.elapsed().as_secs_f64()
    );
}
