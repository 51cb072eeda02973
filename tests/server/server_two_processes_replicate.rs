//! Two real `meshkv serve` processes with two config files on loopback (keyed, ports from port
//! 0): a PUT of a binary key on one appears on the other (same version, and as a watch event
//! there), a DELETE on the other propagates back (then a 404 with the tombstone's version),
//! `/v1/status` shows each peer connected, and `/metrics` parses as Prometheus text with its
//! counters moved. Both exit 0 on SIGTERM and never log the cluster key.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::process::{loopback_config, write_file, ServerProcess};
use meshkv::server::Client;
use serde_json::Value;

/// Polls `check` every 20 ms until it returns `Some`, or panics after `limit`.
async fn poll<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Parses Prometheus text: every sample line is `name{labels} value`, every family declared by
/// `# TYPE` before its samples. Returns `name{labels}` -> value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut declared = std::collections::BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            declared.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = value.parse().expect(line);
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty()
                    || (labels.starts_with("{\"") || labels.starts_with('{'))
                        && labels.ends_with('}'),
                "{line}"
            );
        }
        assert!(declared.contains(name), "sample before its # TYPE: {line}");
        samples.insert(series.to_string(), value);
    }
    samples
}

async fn connected_to(client: &Client, node_id: &str) -> bool {
    let Ok(status) = client.status().await else {
        return false;
    };
    status["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["connected"] == Value::Bool(true) && p["node_id"].as_str() == Some(node_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_delete_status_and_metrics_across_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = write_file(dir.path(), "cluster.key", &format!("{}\n", "5a".repeat(32)));
    let key_line = format!("cluster_key_file = {:?}\n", key_file.display().to_string());
    let a_conf = write_file(
        dir.path(),
        "a.toml",
        &loopback_config(&dir.path().join("a"), &key_line),
    );
    let mut a = ServerProcess::start(&a_conf);
    let b_conf = write_file(
        dir.path(),
        "b.toml",
        &loopback_config(
            &dir.path().join("b"),
            &format!("{key_line}peers = [{:?}]\n", a.replication),
        ),
    );
    let mut b = ServerProcess::start(&b_conf);
    let (ca, cb) = (a.client(), b.client());
    let a_id = ca.status().await.unwrap()["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let b_id = cb.status().await.unwrap()["node_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Each sees the other connected (B dials A; A learns B from its hello and dials back).
    poll(Duration::from_secs(30), "B connected to A", || async {
        connected_to(&cb, &a_id).await.then_some(())
    })
    .await;
    poll(Duration::from_secs(30), "A connected to B", || async {
        connected_to(&ca, &b_id).await.then_some(())
    })
    .await;

    // A watcher on B, then a PUT on A (a binary key): it appears on B with A's version.
    let mut feed = cb.watch(b"user/", None).await.unwrap();
    let key = b"user/\x00\xffbin".as_slice();
    let written = ca.put(key, b"from A").await.unwrap();
    let reply = poll(Duration::from_secs(30), "the PUT on B", || async {
        cb.get(key).await.unwrap()
    })
    .await;
    assert_eq!(reply.body, b"from A");
    assert_eq!(reply.header("x-meshkv-origin"), written["origin"].as_str());
    assert_eq!(
        reply.header("x-meshkv-clock").unwrap(),
        written["clock"].to_string()
    );
    let event = tokio::time::timeout(Duration::from_secs(30), feed.next_event())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.event, "put");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["key"], "user/%00%FFbin");
    assert_eq!(data["value"], "from A");
    assert_eq!(data["origin"].as_str(), Some(a_id.as_str()));

    // A DELETE on B propagates to A.
    cb.delete(key).await.unwrap();
    poll(Duration::from_secs(30), "the DELETE on A", || async {
        ca.get(key).await.unwrap().is_none().then_some(())
    })
    .await;
    let gone = ca
        .request("GET", &meshkv::server::client::kv_path(key), Vec::new())
        .await
        .unwrap();
    assert_eq!(gone.status, 404);
    assert_eq!(gone.header("x-meshkv-deleted"), Some("true"));
    assert_eq!(gone.header("x-meshkv-clock"), Some("2"));

    // Metrics parse and moved: A wrote and applied B's delete; bytes flowed both ways.
    let m = poll(
        Duration::from_secs(30),
        "A's metrics to count the delete",
        || async {
            let m = parse_prometheus(&ca.metrics().await.unwrap());
            (m["meshkv_remote_entries_applied_total"] >= 1.0).then_some(m)
        },
    )
    .await;
    assert!(m["meshkv_local_writes_total"] >= 1.0, "{m:?}");
    assert!(
        m["meshkv_replication_bytes_total{direction=\"in\"}"] > 0.0,
        "{m:?}"
    );
    assert!(
        m["meshkv_replication_bytes_total{direction=\"out\"}"] > 0.0,
        "{m:?}"
    );
    assert_eq!(m["meshkv_last_seq"], 2.0, "{m:?}");
    let mb = parse_prometheus(&cb.metrics().await.unwrap());
    assert!(mb["meshkv_remote_entries_applied_total"] >= 1.0, "{mb:?}");
    assert!(mb["meshkv_local_writes_total"] >= 1.0, "{mb:?}");
    let lag = format!("meshkv_peer_entries_behind{{peer=\"{}\"}}", a.replication);
    assert!(mb.contains_key(&lag), "{mb:?}");
    assert_eq!(
        mb[&format!("meshkv_peer_connected{{peer=\"{}\"}}", a.replication)],
        1.0
    );

    // Status of B lists A as configured, with its cursor.
    let status = cb.status().await.unwrap();
    let peer = status["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == a.replication.as_str())
        .unwrap()
        .clone();
    assert_eq!(peer["source"], "configured");
    assert!(peer["cursor"].as_u64().is_some(), "{peer}");
    assert!(peer["peer_last_seq"].as_u64().is_some(), "{peer}");
    assert_eq!(peer["round_entries"], 0, "{peer}");
    assert_eq!(peer["last_error"], Value::Null);

    // `meshkv verify --peer`: the converged pair has no difference (exit 0); an address the
    // server does not know is refused (exit 1, named), so the API cannot make it dial anywhere.
    // Anti-entropy rounds ran by themselves meanwhile (every 500 ms here).
    let verify = |peer: &str| {
        common::process::command()
            .args(["verify", "--peer", peer, "--addr", &b.http])
            .output()
            .unwrap()
    };
    let out = poll(
        Duration::from_secs(30),
        "a verify with no difference",
        || async {
            let out = verify(&a.replication);
            out.status.success().then_some(out)
        },
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no difference") && text.contains(&a_id),
        "{text}"
    );
    let out = verify("127.0.0.1:9");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a peer of this node"),
        "{out:?}"
    );
    let status = cb.status().await.unwrap();
    let rounds = status["peers"][0]["anti_entropy"]["rounds"]
        .as_u64()
        .unwrap();
    assert!(rounds >= 1, "{status}");
    let m = parse_prometheus(&ca.metrics().await.unwrap());
    assert!(m["meshkv_anti_entropy_served_total"] >= 1.0, "{m:?}");

    // `meshkv members`: B lists itself first, then A, both active, A connected.
    let members = common::process::command()
        .args(["members", "--addr", &b.http])
        .output()
        .unwrap();
    assert!(members.status.success(), "{members:?}");
    let text = String::from_utf8_lossy(&members.stdout);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].contains("active (self)"), "{text}");
    assert!(
        rows[1].starts_with(&a_id) && rows[1].contains("active") && rows[1].contains("yes"),
        "{text}"
    );
    assert!(m["meshkv_members"] == 2.0, "{m:?}");
    // `meshkv decommission`: an id no member has, or the server's own, is refused (exit 1).
    let decommission = |id: &str| {
        common::process::command()
            .args(["decommission", id, "--addr", &b.http])
            .output()
            .unwrap()
    };
    let out = decommission(&"ab".repeat(16));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no member"),
        "{out:?}"
    );
    let b_id = cb.status().await.unwrap()["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = decommission(&b_id);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it is this node"),
        "{out:?}"
    );

    // Both stop cleanly on SIGTERM.
    assert!(b.terminate().success(), "{}", b.stderr());
    assert!(a.terminate().success(), "{}", a.stderr());
    assert!(!a.stderr().contains(&"5a".repeat(16)), "the key was logged");
}
