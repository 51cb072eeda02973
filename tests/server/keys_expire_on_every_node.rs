//! Two real `meshkv serve` processes replicating on loopback: a deadline set on one node is
//! carried to the other with the write, and the key disappears on both once it passes, with no
//! further write. Set with the Rust `redis` crate (`SET ... PX`), read back with `curl`
//! (`x-meshkv-expires-at`, then a 404 with `x-meshkv-expired: true`), and with the `meshkv`
//! command (`put --ttl`). `EXPIRE` on one node and `PERSIST` on the other are versioned writes
//! that replicate like any other; `PUT ?ttl=` and `POST ?persist` do the same over HTTP, and
//! bad time-to-lives are refused with `bad_ttl`.

use crate::common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::process::command;
use common::resp::{poll, port, two_nodes};
use redis::Commands;

const LIMIT: Duration = Duration::from_secs(30);

/// `curl -s -i URL` with `args`: the status code, the headers (lower-cased names) and the body.
fn curl(args: &[&str]) -> (u16, Vec<(String, String)>, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is missing: run scripts/setup.sh");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn a_deadline_set_on_one_node_expires_the_key_on_both() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path());
    let connect = |p: u16| {
        redis::Client::open(format!("redis://127.0.0.1:{p}/"))
            .unwrap()
            .get_connection()
            .unwrap()
    };
    let (mut ca, mut cb) = (connect(port(&a)), connect(port(&b)));
    let url_b = |key: &str| format!("http://{}/v1/kv/{key}", b.http);

    // SET ... PX on A: B has the value and the same deadline, then neither has the key.
    let before = now_ms();
    let () = redis::cmd("SET")
        .arg("brief")
        .arg("v")
        .arg("PX")
        .arg(2500)
        .query(&mut ca)
        .unwrap();
    let (status, headers, body) = poll(LIMIT, "brief on B", || {
        let got = curl(&[&url_b("brief")]);
        (got.0 == 200).then_some(got)
    });
    assert_eq!((status, body.as_str()), (200, "v"));
    let at: u64 = header(&headers, "x-meshkv-expires-at")
        .expect("B reports the deadline")
        .parse()
        .unwrap();
    assert!(
        (before + 2500..=now_ms() + 2500).contains(&at),
        "deadline {at}"
    );
    let ttl_b: i64 = cb.pttl("brief").unwrap();
    assert!(ttl_b > 0 && ttl_b <= 2500, "PTTL on B {ttl_b}");
    let start = std::time::Instant::now();
    poll(LIMIT, "brief to expire on both", || {
        let gone_a: bool = !ca.exists::<_, bool>("brief").unwrap();
        let gone_b = curl(&[&url_b("brief")]).0 == 404;
        (gone_a && gone_b).then_some(())
    });
    println!("expired on both {:?} after the write", start.elapsed());
    assert!(now_ms() >= at, "gone before its deadline");
    let (status, headers, _) = curl(&[&url_b("brief")]);
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "x-meshkv-expired"), Some("true"));
    assert_eq!(header(&headers, "x-meshkv-deleted"), None);
    let ttl: i64 = ca.ttl("brief").unwrap();
    assert_eq!(ttl, -2);

    // EXPIRE on B and PERSIST on A are writes that replicate.
    let () = ca.set("kept", "v").unwrap();
    poll(LIMIT, "kept on B", || {
        cb.get::<_, Option<String>>("kept").unwrap()
    });
    assert!(cb.expire::<_, bool>("kept", 1000).unwrap());
    poll(LIMIT, "the deadline on A", || {
        (ca.ttl::<_, i64>("kept").unwrap() > 0).then_some(())
    });
    assert!(ca.persist::<_, bool>("kept").unwrap());
    poll(LIMIT, "the persist on B", || {
        (cb.ttl::<_, i64>("kept").unwrap() == -1).then_some(())
    });

    // The command line: put --ttl, and a ttl of 0 refused before anything is sent.
    let out = command()
        .args(["put", "--ttl", "600", "cli", "x", "--addr", &a.http])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("expires in 600 s"));
    poll(LIMIT, "cli's deadline on B", || {
        let t: i64 = cb.ttl("cli").unwrap();
        (t > 590).then_some(())
    });
    let out = command()
        .args(["put", "--ttl", "0", "cli", "x", "--addr", &a.http])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // HTTP: PUT ?ttl=, POST ?persist, POST ?ttl=, and bad time-to-lives.
    let (status, headers, _) = curl(&[
        "-X",
        "PUT",
        "--data",
        "h",
        &format!("{}?ttl=100", url_b("h")),
    ]);
    assert_eq!(status, 200);
    assert!(header(&headers, "x-meshkv-expires-at").is_some());
    let t: i64 = cb.ttl("h").unwrap();
    assert!((99..=100).contains(&t), "TTL {t}");
    let (status, _, body) = curl(&["-X", "POST", &format!("{}?persist", url_b("h"))]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(cb.ttl::<_, i64>("h").unwrap(), -1);
    let (status, _, _) = curl(&["-X", "POST", "-H", "x-meshkv-ttl: 50", &url_b("h")]);
    assert_eq!(status, 200);
    assert_eq!(cb.ttl::<_, i64>("h").unwrap(), 50);
    let (status, _, _) = curl(&["-X", "POST", &format!("{}?ttl=5", url_b("nothing"))]);
    assert_eq!(status, 404);
    for bad in ["?ttl=0", "?ttl=abc", "?ttl=-1", "?ttl=99999999999999"] {
        let (status, _, body) =
            curl(&["-X", "PUT", "--data", "x", &format!("{}{bad}", url_b("h"))]);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("bad_ttl"), "{bad}: {body}");
    }
    let (status, _, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "x-meshkv-ttl: 7",
        "--data",
        "x",
        &format!("{}?ttl=8", url_b("h")),
    ]);
    assert_eq!(status, 400, "{body}");
    // Nothing of the refused writes landed.
    assert_eq!(cb.get::<_, String>("h").unwrap(), "h");
    assert_eq!(cb.ttl::<_, i64>("h").unwrap(), 50);
}
