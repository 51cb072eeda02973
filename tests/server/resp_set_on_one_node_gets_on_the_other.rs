//! Two real `meshkv serve` processes replicating on loopback, each with its RESP listener
//! (`resp_listen`) on port 0: `redis-cli SET` on one node is a `redis-cli GET` away on the other,
//! and a `DEL` there removes it on the first. Then a Rust Redis client (the `redis` crate) runs
//! across the two nodes: binary-safe SET/GET, MSET/MGET, EXISTS and DEL counts, SCAN with a prefix
//! at `COUNT 4` (each key once) and with a glob, DBSIZE, and INFO replication with the peer online;
//! `/v1/status` and `/metrics` count the RESP traffic.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::resp::{poll, port, redis_cli, require_redis_cli, two_nodes};
use redis::Commands;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn redis_cli_set_on_a_is_a_get_away_on_b() {
    require_redis_cli();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path());
    let (pa, pb) = (port(&a), port(&b));

    assert_eq!(redis_cli(pa, &["PING"]), "PONG");
    assert_eq!(redis_cli(pa, &["SET", "k", "v"]), "OK");
    poll(LIMIT, "k on B", || {
        (redis_cli(pb, &["GET", "k"]) == "v").then_some(())
    });
    // And back: a DEL on B removes it on A.
    assert_eq!(redis_cli(pb, &["DEL", "k"]), "1");
    poll(LIMIT, "k deleted on A", || {
        (redis_cli(pa, &["EXISTS", "k"]) == "0").then_some(())
    });
}

#[test]
fn rust_client_across_two_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path());
    let connect = |p: u16| {
        redis::Client::open(format!("redis://127.0.0.1:{p}/"))
            .unwrap()
            .get_connection()
            .unwrap()
    };
    let (mut ca, mut cb) = (connect(port(&a)), connect(port(&b)));

    // SET/GET, binary-safe.
    let key: &[u8] = b"bin/\x00\xff\r\n";
    let () = ca.set(key, b"\x01\x02\r\n".as_slice()).unwrap();
    let got: Vec<u8> = poll(LIMIT, "the binary key on B", || {
        cb.get::<_, Option<Vec<u8>>>(key).unwrap()
    });
    assert_eq!(got, b"\x01\x02\r\n");

    // MSET on B is one batch: every key shows up on A.
    let pairs: Vec<(String, String)> = (0..25)
        .map(|i| (format!("user:{i:02}"), format!("v{i}")))
        .collect();
    let () = cb.mset(&pairs).unwrap();
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    let values: Vec<Option<String>> = poll(LIMIT, "the MSET on A", || {
        let v: Vec<Option<String>> = ca.mget(&keys).unwrap();
        v.iter().all(Option::is_some).then_some(v)
    });
    assert_eq!(
        values,
        pairs
            .iter()
            .map(|(_, v)| Some(v.clone()))
            .collect::<Vec<_>>()
    );
    let missing: Vec<Option<String>> = ca.mget(&["user:00", "nope"]).unwrap();
    assert_eq!(missing, vec![Some("v0".to_string()), None]);

    // EXISTS counts repeats; DEL counts keys that held a value.
    let n: i64 = ca.exists(&["user:01", "user:01", "nope"]).unwrap();
    assert_eq!(n, 2);
    let n: i64 = ca.del(&["user:01", "user:02", "nope"]).unwrap();
    assert_eq!(n, 2);
    poll(LIMIT, "the DEL on B", || {
        let n: i64 = cb.exists(&["user:01", "user:02"]).unwrap();
        (n == 0).then_some(())
    });

    // SCAN with MATCH (a prefix) and a small COUNT walks every key once, on either node.
    for con in [&mut ca, &mut cb] {
        let found: Vec<String> = con
            .scan_options(
                redis::ScanOptions::default()
                    .with_pattern("user:*")
                    .with_count(4),
            )
            .unwrap()
            .collect();
        let found_set: BTreeSet<String> = found.iter().cloned().collect();
        assert_eq!(found.len(), found_set.len(), "a key came twice: {found:?}");
        let want: BTreeSet<String> = keys
            .iter()
            .filter(|k| *k != "user:01" && *k != "user:02")
            .cloned()
            .collect();
        assert_eq!(found_set, want);
        // A glob that is not a prefix is filtered per page.
        let tens: BTreeSet<String> = con.scan_match::<_, String>("user:1?").unwrap().collect();
        assert_eq!(tens, (10..20).map(|i| format!("user:{i}")).collect());
    }

    // DBSIZE: 23 user keys and the binary key, on both nodes.
    for con in [&mut ca, &mut cb] {
        let n: i64 = redis::cmd("DBSIZE").query(con).unwrap();
        assert_eq!(n, 24);
    }

    // INFO replication lists the peer, online.
    let info: String = poll(LIMIT, "B online in A's INFO", || {
        let text: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut ca)
            .unwrap();
        text.contains("state=online").then_some(text)
    });
    assert!(info.contains("# Replication\r\nrole:master\r\n"), "{info}");
    assert!(info.contains("connected_slaves:1"), "{info}");
    assert!(
        info.contains(&format!(
            "port={}",
            b.replication.rsplit_once(':').unwrap().1
        )),
        "{info}"
    );
    let all: String = redis::cmd("INFO").query(&mut cb).unwrap();
    assert!(all.contains("redis_version:7.0.0"), "{all}");
    assert!(all.contains("db0:keys=24,"), "{all}");

    // The HTTP side counts RESP traffic: `/v1/status` and `/metrics`.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, metrics) = rt.block_on(async {
        let c = a.client();
        (c.status().await.unwrap(), c.metrics().await.unwrap())
    });
    assert!(
        status["resp"]["commands"].as_u64().unwrap() > 10,
        "{status}"
    );
    assert_eq!(status["resp"]["connected"].as_u64(), Some(1), "{status}");
    assert!(
        metrics.contains("meshkv_resp_connections_total{outcome=\"accepted\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE meshkv_resp_commands_total counter"));
}
