//! Helpers of the RESP tests: `meshkv serve` nodes with `resp_listen` on loopback port 0, the
//! real `redis-cli`, raw TCP, polling until a deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::{loopback_config, write_file, ServerProcess};

/// The RESP port of a node started with `resp_listen`.
pub fn port(node: &ServerProcess) -> u16 {
    let addr = node
        .resp
        .as_deref()
        .expect("the node prints no resp= address: was resp_listen set?");
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// Panics with a clear message when `redis-cli` is not installed (never passes silently).
pub fn require_redis_cli() {
    let found = Command::new("redis-cli").arg("--version").output();
    assert!(
        matches!(&found, Ok(o) if o.status.success()),
        "redis-cli is missing: run scripts/setup.sh (Debian package redis-tools)"
    );
}

/// `redis-cli -p PORT ARGS...`: its stdout without trailing newlines (an error reply is
/// followed by an empty line when stdout is not a terminal).
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli is missing: run scripts/setup.sh (Debian package redis-tools)");
    assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.trim_end_matches('\n').to_string()
}

/// Starts one node with RESP on loopback port 0 (`extra` TOML lines appended).
pub fn start_node(dir: &Path, name: &str, extra: &str) -> ServerProcess {
    let conf = write_file(
        dir,
        &format!("{name}.toml"),
        &loopback_config(
            &dir.join(name),
            &format!("resp_listen = \"127.0.0.1:0\"\n{extra}"),
        ),
    );
    ServerProcess::start(&conf)
}

/// Two nodes replicating both ways (B dials A, A dials back).
pub fn two_nodes(dir: &Path) -> (ServerProcess, ServerProcess) {
    let a = start_node(dir, "a", "");
    let b = start_node(dir, "b", &format!("peers = [{:?}]\n", a.replication));
    (a, b)
}

/// Calls `check` every 20 ms until it returns `Some`, or panics after `limit`.
pub fn poll<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A raw TCP connection to a RESP port.
pub fn raw(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends `bytes`, then reads until `want` bytes arrived (or the peer closed); returns them.
pub fn exchange(s: &mut TcpStream, bytes: &[u8], want: usize) -> Vec<u8> {
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading after {:?}: {e}", String::from_utf8_lossy(&got)),
        }
    }
    got
}

/// True once the server closed `s` (reads end of stream).
pub fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0))
}
