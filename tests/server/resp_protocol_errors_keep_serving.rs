//! The RESP listener's protocol behaviour, with `redis-cli` and raw TCP against a real
//! `meshkv serve`: an unknown command gets Redis's error and the connection stays usable; a
//! pipeline of 200 commands in one write is answered in order; `SET ... EX 0` is refused;
//! `NX`/`XX`/`GET` follow Redis; an empty key, `HELLO 3` and `SELECT 1` get Redis-style error
//! replies; malformed input (a bad bulk length, a bulk over the limit, too many arguments, a
//! non-bulk element) gets `-ERR Protocol error: ...` after the replies to the commands before it,
//! and that connection closes, while the server keeps serving others; `QUIT` answers and closes;
//! the client cap refuses the connection over it; interactive `redis-cli` works over stdin; SIGTERM
//! closes open connections and the server exits 0.
//!
//! Needs `redis-cli` (`scripts/setup.sh` installs `redis-tools`); without it the test fails saying
//! so.

use crate::common;

use common::resp::{closed, exchange, port, raw, redis_cli, require_redis_cli, start_node};

#[test]
fn protocol_behaviour() {
    require_redis_cli();
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(
        dir.path(),
        "a",
        "resp_max_bulk = 1024\nresp_max_args = 8\nresp_max_clients = 4\n",
    );
    let p = port(&node);

    // Unknown command: Redis's exact wording, and the connection stays usable.
    let mut s = raw(p);
    let want = b"-ERR unknown command 'foo', with args beginning with: 'bar' 'baz' \r\n+PONG\r\n";
    let got = exchange(
        &mut s,
        b"*3\r\n$3\r\nfoo\r\n$3\r\nbar\r\n$3\r\nbaz\r\nPING\r\n",
        want.len(),
    );
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    assert_eq!(
        redis_cli(p, &["foo", "a"]),
        "ERR unknown command 'foo', with args beginning with: 'a' "
    );

    // Pipelining: 200 commands in one write, answered in order.
    let mut pipeline = Vec::new();
    let mut want = Vec::new();
    for i in 0..100 {
        let (k, v) = (format!("p{i}"), format!("value-{i}"));
        pipeline.extend(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .bytes(),
        );
        pipeline.extend(format!("*2\r\n$3\r\nGET\r\n${}\r\n{k}\r\n", k.len()).bytes());
        want.extend(b"+OK\r\n");
        want.extend(format!("${}\r\n{v}\r\n", v.len()).bytes());
    }
    let got = exchange(&mut s, &pipeline, want.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );

    // A bad time-to-live is refused and writes nothing; NX and XX as in Redis.
    let ex = redis_cli(p, &["SET", "t", "v", "EX", "0"]);
    assert_eq!(ex, "ERR invalid expire time in 'set' command");
    assert_eq!(redis_cli(p, &["EXISTS", "t"]), "0");
    assert_eq!(redis_cli(p, &["SET", "n", "1", "XX"]), "");
    assert_eq!(redis_cli(p, &["SET", "n", "1", "NX"]), "OK");
    assert_eq!(redis_cli(p, &["SET", "n", "2", "NX"]), "");
    assert_eq!(redis_cli(p, &["SET", "n", "3", "XX", "GET"]), "1");
    assert_eq!(redis_cli(p, &["GET", "n"]), "3");
    assert_eq!(
        redis_cli(p, &["SET", "n", "4", "NX", "XX"]),
        "ERR syntax error"
    );
    // MSET with a key twice: the last value wins, as in Redis.
    assert_eq!(redis_cli(p, &["MSET", "d", "1", "e", "x", "d", "2"]), "OK");
    assert_eq!(redis_cli(p, &["MGET", "d", "e"]), "2\nx");
    assert_eq!(redis_cli(p, &["DEL", "d", "d", "e"]), "2");
    // A key over the database's limits is an error reply, not a closed connection.
    assert!(
        redis_cli(p, &["SET", "", "v"]).starts_with("ERR empty key"),
        "empty keys are refused"
    );
    assert_eq!(
        redis_cli(p, &["HELLO", "3"]),
        "NOPROTO unsupported protocol version"
    );
    assert_eq!(
        redis_cli(p, &["SELECT", "1"]),
        "ERR DB index is out of range"
    );

    // Malformed input: the error, then the connection closes.
    let cases: [(&[u8], &str); 4] = [
        (
            b"*2\r\n$3\r\nGET\r\n$x\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n$1025\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*9\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n:1\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
    ];
    for (input, want) in cases {
        let mut bad = raw(p);
        // A good command first: its reply comes before the error.
        let mut bytes = b"PING\r\n".to_vec();
        bytes.extend_from_slice(input);
        let got = exchange(&mut bad, &bytes, 7 + want.len());
        assert_eq!(String::from_utf8_lossy(&got), format!("+PONG\r\n{want}"));
        assert!(
            closed(&mut bad),
            "the connection stays open after {input:?}"
        );
    }
    // Meanwhile the first connection still works, and so do new ones.
    assert_eq!(exchange(&mut s, b"PING\r\n", 7), b"+PONG\r\n");
    assert_eq!(redis_cli(p, &["GET", "p7"]), "value-7");

    // QUIT answers, then closes.
    assert_eq!(exchange(&mut s, b"QUIT\r\n", 5), b"+OK\r\n");
    assert!(closed(&mut s));

    // The client cap: 4 open connections, the fifth is refused with Redis's words. (The
    // connections above free their slots once the server has seen them close: poll.)
    let open = common::resp::poll(std::time::Duration::from_secs(30), "4 free slots", || {
        let mut conns: Vec<_> = (0..4).map(|_| raw(p)).collect();
        let served = conns
            .iter_mut()
            .all(|c| exchange(c, b"PING\r\n", 7) == b"+PONG\r\n");
        served.then_some(conns)
    });
    let mut fifth = raw(p);
    let got = exchange(&mut fifth, b"", 37);
    assert_eq!(got, b"-ERR max number of clients reached\r\n");
    drop(open);
    // Slots come back once the connections close.
    common::resp::poll(std::time::Duration::from_secs(30), "a free slot", || {
        let mut c = raw(p);
        (exchange(&mut c, b"PING\r\n", 7) == b"+PONG\r\n").then_some(())
    });
    // The interactive start of redis-cli: COMMAND DOCS, then a command, over stdin.
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &p.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"GET p3\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "value-3");

    // SIGTERM with a RESP connection open: it is closed, and the server exits 0.
    let mut idle = raw(p);
    assert_eq!(exchange(&mut idle, b"PING\r\n", 7), b"+PONG\r\n");
    let status = node.terminate();
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        node.stderr()
    );
    assert!(closed(&mut idle));
}
