//! Before authentication a connection costs the node little and not for long, over real TCP:
//! - 100 length prefixes over the pre-auth limit, up to 4 GiB: closed at once, nothing
//!   allocated for them;
//! - 10 slowloris connections sending one byte per second: closed at the handshake timeout;
//! - 1,000 half-open connections that send nothing: `max_handshakes` (64) of them wait for the
//!   handshake timeout, the rest are closed on arrival and counted (`inbound_over_limit`).
//!
//! None of them is served a byte. Meanwhile a peer connected before the flood keeps syncing both
//! ways, and a node started during it gets in once the half-open slots time out. The process's
//! resident memory growth (both the node and the attackers live in it) is reported and bounded.

use crate::common;

use std::time::{Duration, Instant};

use common::attack::{read_until_closed, rss_kib};
use common::{contents, start, wait_until};
use meshkv::NodeConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use common::KEY;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);

fn keyed(peers: Vec<String>) -> NodeConfig {
    NodeConfig {
        handshake_timeout: HANDSHAKE_TIMEOUT,
        ..common::keyed_with(peers, KEY)
    }
}

/// Connects, sends `bytes` at `pace` (all at once if zero), and returns how long the node took
/// to close the connection after the connect, and how many bytes it sent.
async fn attack(addr: std::net::SocketAddr, bytes: Vec<u8>, pace: Duration) -> (Duration, usize) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    if pace.is_zero() {
        let _ = s.write_all(&bytes).await;
    } else {
        let (mut r, mut w) = s.into_split();
        let trickle = tokio::spawn(async move {
            for b in bytes {
                if w.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(pace).await;
            }
        });
        let mut got = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut r, &mut got).await;
        trickle.abort();
        return (started.elapsed(), got.len());
    }
    let got = read_until_closed(&mut s, Duration::from_secs(10)).await;
    (started.elapsed(), got.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_auth_flood_is_bounded_and_peers_still_sync() {
    let _memory = common::attack::measuring_memory().await;
    let a = start(keyed(vec![])).await;
    a.db.put(b"before", b"1").unwrap();
    let b = start(keyed(vec![a.addr()])).await;
    let bdb = &b.db;
    wait_until(
        Duration::from_secs(10),
        "B to sync before the flood",
        || contents(bdb).len() == 1,
    )
    .await;
    let addr = a.node.local_addr();
    let rss_before = rss_kib();
    let mut served = 0;

    // Oversized length prefixes, up to 4 GiB: refused on the header, long before the timeout.
    let mut prefix_slowest = Duration::ZERO;
    for i in 0..100u64 {
        let len = ((64 << 10) + 1 + i * ((u32::MAX as u64 - (64 << 10)) / 99)).min(u32::MAX as u64);
        let mut prefix = (len as u32).to_be_bytes().to_vec();
        prefix.extend([0u8; 4]);
        let (took, got) = attack(addr, prefix, Duration::ZERO).await;
        prefix_slowest = prefix_slowest.max(took);
        served += got;
    }
    assert!(
        prefix_slowest < HANDSHAKE_TIMEOUT / 2,
        "an oversized prefix was not refused at once ({prefix_slowest:?})"
    );
    // Counted just after the close the attacker saw.
    let an = &a.node;
    wait_until(Duration::from_secs(5), "refusals counted", || {
        an.status().refused_inbound >= 100
    })
    .await;
    assert_eq!(an.status().refused_inbound, 100);

    // Slowloris: one byte per second, closed at the handshake timeout.
    let slowloris: Vec<_> = (0..10)
        .map(|_| tokio::spawn(attack(addr, vec![0u8; 60], Duration::from_secs(1))))
        .collect();
    let mut slowloris_slowest = Duration::ZERO;
    for t in slowloris {
        let (took, got) = t.await.unwrap();
        assert!(
            took >= HANDSHAKE_TIMEOUT.mul_f64(0.9),
            "closed early: {took:?}"
        );
        slowloris_slowest = slowloris_slowest.max(took);
        served += got;
    }
    assert!(slowloris_slowest <= HANDSHAKE_TIMEOUT + Duration::from_secs(1));
    // Counted just after the close the attacker saw.
    let an = &a.node;
    wait_until(Duration::from_secs(5), "refusals counted", || {
        an.status().refused_inbound >= 110
    })
    .await;
    assert_eq!(an.status().refused_inbound, 110);

    // 1,000 half-open connections, held open by the attacker.
    let flood_started = Instant::now();
    let mut half_open = Vec::new();
    for _ in 0..1000 {
        half_open.push(TcpStream::connect(addr).await.unwrap());
    }
    let half_open: Vec<_> = half_open
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let got = read_until_closed(&mut s, Duration::from_secs(10)).await;
                (flood_started.elapsed(), got.len())
            })
        })
        .collect();

    // A legitimate peer keeps syncing both ways, and a newcomer gets in.
    a.db.put(b"during-a", b"2").unwrap();
    b.db.put(b"during-b", b"3").unwrap();
    let adb = &a.db;
    wait_until(
        Duration::from_secs(10),
        "sync both ways during the flood",
        || contents(adb).len() == 3 && contents(bdb).len() == 3,
    )
    .await;
    let synced_after = flood_started.elapsed();
    let c = start(keyed(vec![a.addr()])).await;
    let cdb = &c.db;
    wait_until(
        Duration::from_secs(15),
        "a newcomer to sync during the flood",
        || contents(cdb).len() == 3,
    )
    .await;
    let newcomer_after = flood_started.elapsed();

    let mut slowest = Duration::ZERO;
    for t in half_open {
        let (took, got) = t.await.unwrap();
        slowest = slowest.max(took);
        served += got;
    }
    // The half-open connections that held a slot are counted as they time out.
    wait_until(
        Duration::from_secs(5),
        "the timed-out handshakes counted",
        || an.status().refused_inbound >= 110 + 64,
    )
    .await;
    let rss_growth_mib = rss_kib().saturating_sub(rss_before) as f64 / 1024.0;
    let status = a.node.status();
    assert_eq!(
        served, 0,
        "the node sent bytes to an unauthenticated connection"
    );
    assert!(
        slowest <= HANDSHAKE_TIMEOUT + Duration::from_secs(2),
        "a half-open connection lived {slowest:?}"
    );
    // All but the `max_handshakes` (64) slots were closed on arrival; those timed out.
    assert!(
        status.inbound_over_limit >= 1000 - 64,
        "{}",
        status.inbound_over_limit
    );
    assert!(
        rss_growth_mib < 64.0,
        "resident memory grew by {rss_growth_mib:.1} MiB"
    );
    println!(
        "pre-auth: 100 oversized prefixes (up to 4 GiB) closed within {:.1} ms, 10 slowloris closed \
         within {:.1} s, 1000 half-open all closed within {:.1} s ({} over the limit at once); 0 \
         accepted, 0 state changes, {} refused; RSS growth {rss_growth_mib:.1} MiB (with a third node started); the connected \
         peer synced after {} ms, a newcomer after {} ms",
        prefix_slowest.as_secs_f64() * 1000.0,
        slowloris_slowest.as_secs_f64(),
        slowest.as_secs_f64(),
        status.inbound_over_limit,
        status.refused_inbound,
        synced_after.as_millis(),
        newcomer_after.as_millis(),
    );
}
