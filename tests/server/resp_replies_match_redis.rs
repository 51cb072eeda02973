//! The same command script, sent to a real `redis-server` and to a `meshkv serve` node over
//! RESP, gets byte-identical replies: the string and keyspace commands (`APPEND`, `STRLEN`,
//! `GETRANGE`, `SETRANGE`, `GETSET`, `SETNX`, `MSETNX`, `GETDEL`, `TYPE`, `KEYS`, `UNLINK`,
//! `TOUCH`, `RANDOMKEY`, `RENAME`, `RENAMENX`) with their edge cases and errors (wrong arity,
//! bad integers, negative offsets, missing keys), and the expiry commands (`SET` with `EX`,
//! `PX`, `EXAT`, `PXAT`, `KEEPTTL`, `GET`, `NX`, `XX`; `SETEX`, `PSETEX`, `GETEX`; `EXPIRE`,
//! `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` with `NX`/`XX`/`GT`/`LT`; `TTL`, `PTTL`, `EXPIRETIME`,
//! `PEXPIRETIME`, `PERSIST`; the deadline `APPEND`, `SETRANGE` and `RENAME` keep and `GETSET`
//! clears), `FLUSHALL`/`FLUSHDB`, `DBSIZE`, and what Redis's own test harness sends to an
//! external server (`FUNCTION FLUSH`, `DEBUG LOG`, `SELECT 0`); and a key set to expire is gone
//! on both once its time passes. The documented
//! differences compared loosely: `KEYS` returns meshkv's keys in byte order and Redis's in
//! hash order, so both sides are sorted first; `PTTL` of a relative deadline depends on the
//! millisecond each server read its clock, so it is checked to be within 1 s of the
//! time-to-live on both sides rather than byte for byte.

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
            // As the test harness of Redis runs it: DEBUG LOG answers OK.
            .args(["--enable-debug-command", "yes"])
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

/// The expiry commands. Relative deadlines are read back with `TTL` (seconds, rounded: the same
/// on both servers within the script's milliseconds); absolute ones with `EXPIRETIME` and
/// `PEXPIRETIME` (4102444800 is 2100-01-01).
fn expiry_script() -> Vec<Vec<&'static [u8]>> {
    let c = |args: &[&'static str]| args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>();
    vec![
        // SET's deadline options.
        c(&["SET", "e", "v", "EX", "100"]),
        c(&["TTL", "e"]),
        c(&["SET", "e", "v", "EXAT", "4102444800"]),
        c(&["EXPIRETIME", "e"]),
        c(&["PEXPIRETIME", "e"]),
        c(&["SET", "e", "v", "PXAT", "4102444800123"]),
        c(&["PEXPIRETIME", "e"]),
        c(&["EXPIRETIME", "e"]),
        c(&["SET", "e", "v1", "KEEPTTL"]),
        c(&["PEXPIRETIME", "e"]),
        c(&["GET", "e"]),
        c(&["SET", "e", "v2"]),
        c(&["TTL", "e"]),
        c(&["PTTL", "e"]),
        c(&["EXPIRETIME", "e"]),
        c(&["TTL", "missing"]),
        c(&["PTTL", "missing"]),
        c(&["EXPIRETIME", "missing"]),
        c(&["PEXPIRETIME", "missing"]),
        c(&["SET", "e", "v", "EX", "0"]),
        c(&["SET", "e", "v", "EX", "-5"]),
        c(&["SET", "e", "v", "PX", "abc"]),
        c(&["SET", "e", "v", "EX", "10", "PX", "10"]),
        c(&["SET", "e", "v", "KEEPTTL", "EX", "10"]),
        c(&["SET", "e", "v", "EX"]),
        c(&["SET", "e", "v", "EX", "9223372036854775807"]),
        c(&["SET", "e", "v", "NX", "EX", "10"]),
        c(&["SET", "n1", "v", "XX", "EX", "10"]),
        c(&["EXISTS", "n1"]),
        c(&["SET", "e", "v3", "XX", "GET", "EX", "100"]),
        c(&["TTL", "e"]),
        c(&["SET", "n2", "v", "NX", "GET", "PX", "100000"]),
        c(&["TTL", "n2"]),
        // SETEX, PSETEX.
        c(&["SETEX", "e2", "100", "val"]),
        c(&["TTL", "e2"]),
        c(&["GET", "e2"]),
        c(&["SETEX", "e2", "0", "v"]),
        c(&["SETEX", "e2", "x", "v"]),
        c(&["SETEX", "e2", "10"]),
        c(&["PSETEX", "e3", "100000", "v"]),
        c(&["TTL", "e3"]),
        c(&["PSETEX", "e3", "-1", "v"]),
        // GETEX.
        c(&["GETEX", "e2"]),
        c(&["GETEX", "e2", "PERSIST"]),
        c(&["TTL", "e2"]),
        c(&["GETEX", "e2", "EX", "50"]),
        c(&["TTL", "e2"]),
        c(&["GETEX", "e2", "EXAT", "4102444800"]),
        c(&["EXPIRETIME", "e2"]),
        c(&["GETEX", "e2", "PXAT", "4102444800456"]),
        c(&["PEXPIRETIME", "e2"]),
        c(&["GETEX", "missing", "EX", "5"]),
        c(&["GETEX", "e2", "PERSIST", "EX", "1"]),
        c(&["GETEX", "e2", "EX", "0"]),
        c(&["GETEX", "e2", "FOO"]),
        c(&["GETEX"]),
        // PERSIST.
        c(&["PERSIST", "e2"]),
        c(&["PERSIST", "e2"]),
        c(&["PERSIST", "missing"]),
        // EXPIRE and its conditions.
        c(&["EXPIRE", "p", "100"]),
        c(&["SET", "p", "v"]),
        c(&["EXPIRE", "p", "100"]),
        c(&["TTL", "p"]),
        c(&["EXPIRE", "p", "50", "NX"]),
        c(&["EXPIRE", "p", "200", "XX"]),
        c(&["TTL", "p"]),
        c(&["EXPIRE", "p", "100", "GT"]),
        c(&["EXPIRE", "p", "300", "GT"]),
        c(&["EXPIRE", "p", "400", "LT"]),
        c(&["EXPIRE", "p", "150", "LT"]),
        c(&["TTL", "p"]),
        c(&["EXPIRE", "p", "500", "XX", "GT"]),
        c(&["EXPIRE", "p", "120", "XX", "LT"]),
        c(&["TTL", "p"]),
        c(&["PERSIST", "p"]),
        c(&["EXPIRE", "p", "100", "XX"]),
        c(&["EXPIRE", "p", "100", "GT"]),
        c(&["EXPIRE", "p", "100", "XX", "LT"]),
        c(&["EXPIRE", "p", "100", "LT"]),
        c(&["TTL", "p"]),
        c(&["PERSIST", "p"]),
        c(&["EXPIRE", "p", "100", "NX"]),
        c(&["EXPIRE", "p", "100", "NX", "XX"]),
        c(&["EXPIRE", "p", "100", "GT", "LT"]),
        c(&["EXPIRE", "p", "100", "FOO"]),
        c(&["EXPIRE", "p", "abc"]),
        c(&["EXPIRE", "p"]),
        c(&["EXPIRE", "p", "9223372036854775807"]),
        c(&["PEXPIRE", "p", "9223372036854775807"]),
        c(&["PEXPIRE", "p", "100000"]),
        c(&["TTL", "p"]),
        c(&["EXPIREAT", "p", "4102444800"]),
        c(&["EXPIRETIME", "p"]),
        c(&["PEXPIREAT", "p", "4102444800999"]),
        c(&["PEXPIRETIME", "p"]),
        c(&["EXPIREAT", "p", "4102444800", "GT"]),
        c(&["EXPIREAT", "missing", "4102444800"]),
        // A deadline already past: the key is gone at once.
        c(&["EXPIRE", "p", "-1"]),
        c(&["EXISTS", "p"]),
        c(&["GET", "p"]),
        c(&["TTL", "p"]),
        c(&["SET", "p2", "v"]),
        c(&["EXPIREAT", "p2", "1"]),
        c(&["EXISTS", "p2"]),
        c(&["SET", "p3", "v"]),
        c(&["PEXPIRE", "p3", "0"]),
        c(&["TYPE", "p3"]),
        c(&["SET", "p4", "v", "PXAT", "1"]),
        c(&["EXISTS", "p4"]),
        // What other commands do to a deadline.
        c(&["SET", "a", "v", "EX", "100"]),
        c(&["APPEND", "a", "x"]),
        c(&["TTL", "a"]),
        c(&["SETRANGE", "a", "0", "y"]),
        c(&["TTL", "a"]),
        c(&["GET", "a"]),
        c(&["RENAME", "a", "a2"]),
        c(&["TTL", "a2"]),
        c(&["TTL", "a"]),
        c(&["GETSET", "a2", "w"]),
        c(&["TTL", "a2"]),
        c(&["SET", "g", "v", "EX", "100"]),
        c(&["SET", "g", "w", "GET"]),
        c(&["TTL", "g"]),
        c(&["GETDEL", "e3"]),
        c(&["TTL", "e3"]),
        // What Redis's test harness sends to an external server, and the clears.
        c(&["DBSIZE"]),
        c(&["FUNCTION", "FLUSH"]),
        c(&["DEBUG", "LOG", "### Starting test"]),
        c(&["FLUSHALL"]),
        c(&["DBSIZE"]),
        c(&["KEYS", "*"]),
        c(&["SET", "x", "1", "EX", "100"]),
        c(&["SET", "y", "2"]),
        c(&["DBSIZE"]),
        c(&["FLUSHDB", "ASYNC"]),
        c(&["EXISTS", "x", "y"]),
        c(&["TTL", "x"]),
        c(&["FLUSHALL", "SYNC"]),
        c(&["FLUSHALL", "NOW"]),
        c(&["FLUSHDB", "ASYNC", "SYNC"]),
        c(&["SELECT", "0"]),
        c(&["DBSIZE"]),
    ]
}

#[test]
fn expiry_commands_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let redis = start_redis(dir.path());
    let node = start_node(dir.path(), "a", "");
    let mut theirs = Client::new(redis.port);
    let mut ours = Client::new(port(&node));
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut compared = 0;
    for args in expiry_script() {
        let want = theirs.call(&args);
        let got = ours.call(&args);
        let cmd: Vec<String> = args.iter().map(|a| show(a)).collect();
        assert_eq!(show(&got), show(&want), "{cmd:?}: meshkv's reply differs");
        compared += 1;
    }
    // PTTL: within a second of the time-to-live on both.
    for client in [&mut theirs, &mut ours] {
        assert_eq!(
            show(&client.call(&[b"SET", b"pt", b"v", b"PX", b"100000"])),
            "+OK\r\n"
        );
        let reply = show(&client.call(&[b"PTTL", b"pt"]));
        let ms: i64 = reply.trim_start_matches(':').trim().parse().unwrap();
        assert!((99_000..=100_000).contains(&ms), "PTTL {ms}");
    }
    // A short deadline passes on both: the key is gone with no command.
    for client in [&mut theirs, &mut ours] {
        assert_eq!(
            show(&client.call(&[b"SET", b"brief", b"v", b"PX", b"50"])),
            "+OK\r\n"
        );
    }
    poll(Duration::from_secs(5), "brief to expire on both", || {
        let gone = |c: &mut Client| c.call(&[b"GET", b"brief"]) == b"$-1\r\n";
        (gone(&mut theirs) && gone(&mut ours)).then_some(())
    });
    for client in [&mut theirs, &mut ours] {
        assert_eq!(show(&client.call(&[b"EXISTS", b"brief"])), ":0\r\n");
        assert_eq!(show(&client.call(&[b"TTL", b"brief"])), ":-2\r\n");
    }
    println!("resp: {compared} expiry replies identical to redis-server's");
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
