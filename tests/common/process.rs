//! The real `meshkv` binary as a child process: `meshkv serve` with a config file, its bound
//! ports read from the `listening http=... replication=... [resp=...]` line it prints, its stderr kept for
//! failure messages, SIGTERM, and a kill on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use meshkv::server::Client;

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_meshkv")
}

/// A command for the binary with no `MESHKV_*` variables inherited.
pub fn command() -> Command {
    let mut cmd = Command::new(binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("MESHKV_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Writes `text` as `name` in `dir`; returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `meshkv serve ARGS` to completion (bad configs exit at once).
pub fn serve_output(args: &[&str]) -> Output {
    command().arg("serve").args(args).output().unwrap()
}

/// A running `meshkv serve`.
pub struct ServerProcess {
    pub child: Child,
    /// `127.0.0.1:PORT` of the HTTP API.
    pub http: String,
    /// The replication address.
    pub replication: String,
    /// `127.0.0.1:PORT` of the RESP listener, when `resp_listen` is set.
    pub resp: Option<String>,
    stderr: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `meshkv serve --config CONFIG` and waits (up to 60 s) for its listening line.
    pub fn start(config: &Path) -> ServerProcess {
        let mut child = command()
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("listening ") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "meshkv serve did not start; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap()
                .to_string()
        };
        ServerProcess {
            http: field("http="),
            replication: field("replication="),
            resp: line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("resp="))
                .map(str::to_string),
            child,
            stderr,
        }
    }

    /// A client of its HTTP API.
    pub fn client(&self) -> Client {
        Client::new(&self.http).unwrap()
    }

    /// What it logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (up to 60 s) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait(Duration::from_secs(60))
    }

    /// Waits for the exit, up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "meshkv did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A config on loopback with ports from port 0, fast heartbeats and anti-entropy every 500 ms.
pub fn loopback_config(data_dir: &Path, extra: &str) -> String {
    format!(
        "data_dir = {:?}\nhttp_listen = \"127.0.0.1:0\"\nlisten = \"127.0.0.1:0\"\n\
         cluster = \"test\"\nheartbeat_interval = \"100ms\"\nreconnect_min = \"20ms\"\n\
         reconnect_max = \"500ms\"\ninitial_sync_timeout = \"3s\"\n\
         anti_entropy_interval = \"500ms\"\n{extra}",
        data_dir.display().to_string()
    )
}
