//! A run of plain `SET`s in one pipeline commits as one batch (one log append), with Redis's
//! semantics unchanged: each answered `+OK`, in order; a key set twice keeps its last value; other
//! commands between runs (a `GET` between two runs) see the writes before them. A bad key or value
//! in the run (here an empty key) refuses the batch and the `SET`s then run one by one, so only the
//! bad one gets `-ERR` and every other one lands.

use crate::common;

use common::resp::{exchange, port, raw, redis_cli, require_redis_cli, start_node};

fn set(k: &str, v: &str) -> String {
    format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
        k.len(),
        v.len()
    )
}

#[test]
fn pipelined_sets_batch_and_keep_per_command_replies() {
    require_redis_cli();
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path(), "a", "resp_max_bulk = 4096\n");
    let p = port(&node);
    let mut s = raw(p);

    // A run with a repeated key, then a GET between two runs, then a second run.
    let mut pipeline = String::new();
    pipeline += &set("a", "1");
    pipeline += &set("a", "2");
    pipeline += &set("b", "x");
    pipeline += "*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
    pipeline += &set("c", "y");
    pipeline += &set("a", "3");
    let want = "+OK\r\n+OK\r\n+OK\r\n$1\r\n2\r\n+OK\r\n+OK\r\n";
    let got = exchange(&mut s, pipeline.as_bytes(), want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert_eq!(redis_cli(p, &["GET", "a"]), "3");
    assert_eq!(redis_cli(p, &["GET", "c"]), "y");

    // An empty key (refused by the database) inside a run: only it fails, the rest land.
    let mut pipeline = String::new();
    pipeline += &set("d", "1");
    pipeline += &set("", "bad");
    pipeline += &set("e", "2");
    pipeline += "PING\r\n";
    let got = exchange(&mut s, pipeline.as_bytes(), 1);
    let mut got = String::from_utf8_lossy(&got).into_owned();
    while !got.ends_with("+PONG\r\n") {
        got += &String::from_utf8_lossy(&exchange(&mut s, b"", 1));
    }
    let lines: Vec<&str> = got.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{got:?}");
    assert_eq!(lines[0], "+OK");
    assert!(lines[1].starts_with("-ERR"), "{got:?}");
    assert_eq!(lines[2], "+OK");
    assert_eq!(lines[3], "+PONG");
    assert_eq!(redis_cli(p, &["GET", "d"]), "1");
    assert_eq!(redis_cli(p, &["GET", "e"]), "2");
    assert_eq!(redis_cli(p, &["DBSIZE"]), "5");
    assert!(node.terminate().success());
}
