//! The same command script, sent to a real `redis-server` and to a `meshkv serve` node over
//! RESP, gets byte-identical replies: the string and keyspace commands (`APPEND`, `STRLEN`,
//! `GETRANGE`, `SETRANGE`, `GETSET`, `SETNX`, `MSETNX`, `GETDEL`, `TYPE`, `KEYS`, `UNLINK`,
//! `TOUCH`, `RANDOMKEY`, `RENAME`, `RENAMENX`) with their edge cases and errors (wrong arity,
//! bad integers, negative offsets, missing keys). The one documented difference compared
//! loosely: `KEYS` returns meshkv's keys in byte order and Redis's in hash order, so both sides
//! are sorted first.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::resp::{poll, port, start_node};

/// A `redis-server` of this test, on a free loopback port, without persistence.
struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis(dir: &std::path::Path) -> Redis {
    let found = Command::new("redis-server").arg("--version").output();
    assert!(
        matches!(&found, Ok(o) if o.status.success()),
        "redis-server is missing: run scripts/setup.sh (Debian package redis-server)"
    );
    // redis-server cannot bind port 0: take a free port and retry if another process took it.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = poll(Duration::from_secs(10), "redis-server to answer", || {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(false);
            }
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.write_all(b"PING\r\n").ok()?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf).ok()?;
            (&buf == b"+PONG\r\n").then_some(true)
        });
        if up {
            return Redis { child, port };
        }
    }
    panic!("redis-server did not start on a free port in 5 attempts");
}

/// One connection, speaking RESP2 arrays of bulk strings.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn new(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// Sends `args` and returns the raw bytes of the one reply.
    fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).unwrap();
        let mut reply = Vec::new();
        self.read_reply(&mut reply);
        reply
    }

    fn read_reply(&mut self, into: &mut Vec<u8>) {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).unwrap();
        assert!(line.ends_with(b"\r\n"), "a truncated reply: {line:?}");
        into.extend_from_slice(&line);
        let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        match line[0] {
            b'$' if n >= 0 => {
                let mut body = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut body).unwrap();
                into.extend_from_slice(&body);
            }
            b'*' if n >= 0 => {
                for _ in 0..n {
                    self.read_reply(into);
                }
            }
            _ => {}
        }
    }

    /// `KEYS pattern`, its keys sorted.
    fn keys(&mut self, pattern: &str) -> Vec<Vec<u8>> {
        let raw = self.call(&[b"KEYS", pattern.as_bytes()]);
        let text = raw.split(|&b| b == b'\n').skip(1);
        let mut keys: Vec<Vec<u8>> = text
            .skip(1)
            .step_by(2)
            .map(|k| k.strip_suffix(b"\r").unwrap_or(k).to_vec())
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort();
        keys
    }
}

/// The script: each command with the reply both must give (checked against Redis, then meshkv).
fn script() -> Vec<Vec<&'static [u8]>> {
    let c = |args: &[&'static str]| args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>();
    vec![
        c(&["RANDOMKEY"]),
        c(&["SET", "only", "1"]),
        c(&["RANDOMKEY"]),
        c(&["DEL", "only"]),
        // APPEND, STRLEN.
        c(&["SET", "s", "hello"]),
        c(&["APPEND", "s", " world"]),
        c(&["APPEND", "fresh", "abc"]),
        c(&["GET", "fresh"]),
        c(&["STRLEN", "s"]),
        c(&["STRLEN", "missing"]),
        c(&["APPEND", "s"]),
        c(&["STRLEN"]),
        // GETRANGE: negative indices, clamping, empty ranges, bad integers.
        c(&["GETRANGE", "s", "0", "4"]),
        c(&["GETRANGE", "s", "-5", "-1"]),
        c(&["GETRANGE", "s", "5", "2"]),
        c(&["GETRANGE", "s", "-100", "100"]),
        c(&["GETRANGE", "s", "-1", "-5"]),
        c(&["GETRANGE", "s", "3", "-1"]),
        c(&["GETRANGE", "missing", "0", "-1"]),
        c(&["GETRANGE", "s", "x", "1"]),
        c(&["GETRANGE", "s", "1"]),
        // SETRANGE: overwrite, zero padding, empty values, bad offsets.
        c(&["SETRANGE", "s", "6", "WORLD"]),
        c(&["GET", "s"]),
        c(&["SETRANGE", "pad", "5", "x"]),
        c(&["GET", "pad"]),
        c(&["SETRANGE", "nothing", "3", ""]),
        c(&["EXISTS", "nothing"]),
        c(&["SETRANGE", "s", "2", ""]),
        c(&["SETRANGE", "s", "-1", "x"]),
        c(&["SETRANGE", "s", "abc", "x"]),
        // GETSET, SETNX, MSETNX, GETDEL.
        c(&["GETSET", "s", "new"]),
        c(&["GETSET", "nokey", "v"]),
        c(&["GET", "s"]),
        c(&["SETNX", "s", "x"]),
        c(&["SETNX", "nx1", "x"]),
        c(&["GET", "s"]),
        c(&["MSETNX", "m1", "a", "m2", "b"]),
        c(&["MSETNX", "m2", "c", "m3", "d"]),
        c(&["EXISTS", "m3"]),
        c(&["MGET", "m1", "m2", "m3"]),
        c(&["MSETNX", "m1"]),
        c(&["MSETNX", "a", "b", "c"]),
        c(&["GETDEL", "m1"]),
        c(&["GETDEL", "m1"]),
        c(&["EXISTS", "m1"]),
        // TYPE, UNLINK, TOUCH.
        c(&["TYPE", "s"]),
        c(&["TYPE", "nothing"]),
        c(&["UNLINK", "m2", "nothing"]),
        c(&["UNLINK", "m2"]),
        c(&["TOUCH", "s", "s", "nothing"]),
        // RENAME, RENAMENX.
        c(&["RENAME", "s", "s2"]),
        c(&["GET", "s2"]),
        c(&["EXISTS", "s"]),
        c(&["RENAME", "s", "x"]),
        c(&["RENAME", "s2", "s2"]),
        c(&["RENAMENX", "s2", "nx1"]),
        c(&["RENAMENX", "s2", "s3"]),
        c(&["RENAMENX", "s3", "s3"]),
        c(&["RENAMENX", "nothing", "x"]),
        c(&["GET", "s3"]),
        c(&["RENAME", "s3"]),
        c(&["DBSIZE"]),
    ]
}

#[test]
fn string_and_keyspace_commands_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let redis = start_redis(dir.path());
    let node = start_node(dir.path(), "a", "");
    let mut theirs = Client::new(redis.port);
    let mut ours = Client::new(port(&node));
    let mut compared = 0;
    for args in script() {
        let want = theirs.call(&args);
        let got = ours.call(&args);
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let cmd: Vec<String> = args.iter().map(|a| show(a)).collect();
        assert_eq!(
            show(&got),
            show(&want),
            "{cmd:?}: meshkv's reply differs from redis-server's"
        );
        compared += 1;
    }
    for pattern in ["*", "s*", "m?", "no*", "[ps]*"] {
        assert_eq!(ours.keys(pattern), theirs.keys(pattern), "KEYS {pattern}");
        compared += 1;
    }
    println!("resp: {compared} replies identical to redis-server's");
}
