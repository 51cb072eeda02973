//! Crash safety with real processes: a child process writes with `Durability::Sync` from several
//! threads and reports every acknowledged write on stdout; the parent kills it with SIGKILL at a
//! random moment, reopens the database, and checks that every acknowledged write is there (puts
//! present with their value, deletes absent) and that `verify()` is clean. Several rounds on the
//! same database; the seed is printed (set `MESHKV_CRASH_SEED` to replay).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use meshkv::{Db, Durability, Options};

const CHILD_ENV: &str = "MESHKV_CRASH_CHILD_DIR";
const ROUNDS: u64 = 6;
const THREADS: usize = 4;

/// The child: not a test of its own. It runs only when the parent starts it with `CHILD_ENV`.
#[test]
#[ignore = "child process of crash_sigkill_keeps_acknowledged_writes; started by it"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var("MESHKV_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let db = Db::open(&dir, Options::default().durability(Durability::Sync)).unwrap();
    println!("OPEN {}", db.last_seq());
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, out) = (db.clone(), out.clone());
            std::thread::spawn(move || {
                for n in 0u64.. {
                    let key = format!("r{round}/t{t}/{n}");
                    // Every fifth operation deletes the previous (acknowledged) key; every
                    // seventh is a batch of a put and an overwrite of a shared key.
                    let line = if n % 5 == 4 {
                        let prev = format!("r{round}/t{t}/{}", n - 1);
                        db.delete(&prev).unwrap();
                        format!("DEL {prev}")
                    } else if n % 7 == 6 {
                        let mut batch = db.batch();
                        batch
                            .put(&key, key.as_bytes())
                            .put(format!("shared/t{t}"), key.as_bytes());
                        db.write(batch).unwrap();
                        format!("PUT {key}\nSHARED t{t} {key}")
                    } else {
                        db.put(&key, key.as_bytes()).unwrap();
                        format!("PUT {key}")
                    };
                    let mut o = out.lock().unwrap();
                    writeln!(o, "{line}").unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// `r{round}/t{t}/{n}` -> `(round, n)`: the order one thread wrote its values in.
fn order_of(value: &str) -> (u64, u64) {
    let parts: Vec<&str> = value.split('/').collect();
    let num = |s: &str| s.trim_start_matches('r').parse::<u64>().unwrap();
    (num(parts[0]), num(parts[2]))
}

#[test]
fn crash_sigkill_keeps_acknowledged_writes() {
    let seed: u64 = std::env::var("MESHKV_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed: {seed} (replay with MESHKV_CRASH_SEED={seed})");
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // The child is this test binary running `crash_child` alone: its name inside the test crate.
    let child_test = module_path!().split_once("::").map_or_else(
        || "crash_child".to_string(),
        |(_, m)| format!("{m}::crash_child"),
    );
    let mut last_open_seq = 0u64;
    let mut total_acks = 0usize;
    // key -> expected present (true) or deleted (false); shared key -> last acknowledged value.
    let mut expected: HashMap<String, bool> = HashMap::new();
    let mut shared: HashMap<String, Vec<String>> = HashMap::new();

    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                child_test.as_str(),
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env("MESHKV_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the child has opened the database and acknowledged a few writes, then let
        // it run a random while longer before the kill.
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while lines.len() < 20 {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => lines.push(l),
                Err(_) => assert!(Instant::now() < deadline, "child made no progress"),
            }
        }
        let run_for = Duration::from_millis(50 + next() % 400);
        let until = Instant::now() + run_for;
        while Instant::now() < until {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(5)) {
                lines.push(l);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());

        for line in &lines {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some("OPEN"), Some(seq), None) => {
                    let seq: u64 = seq.parse().unwrap();
                    assert!(
                        seq >= last_open_seq,
                        "sequence went back: {seq} < {last_open_seq}"
                    );
                    last_open_seq = seq;
                }
                (Some("PUT"), Some(key), None) => {
                    expected.insert(key.to_string(), true);
                    total_acks += 1;
                }
                (Some("DEL"), Some(key), None) => {
                    expected.insert(key.to_string(), false);
                    total_acks += 1;
                }
                (Some("SHARED"), Some(t), Some(value)) => {
                    shared
                        .entry(t.to_string())
                        .or_default()
                        .push(value.to_string());
                }
                _ => {} // A line cut by the kill was never acknowledged in full.
            }
        }

        let db = Db::open(dir.path(), Options::default()).unwrap();
        let report = db.verify().unwrap();
        assert!(report.is_clean(), "seed {seed} round {round}: {report:?}");
        for (key, present) in &expected {
            let got = db.get(key).unwrap();
            // A put whose thread's next operation deletes it, with that delete's acknowledgement
            // cut off by the kill, may be either present or deleted.
            let delete_in_flight = *present && order_of(key).1 % 5 == 3;
            if delete_in_flight {
                assert!(got.is_none() || got.as_deref() == Some(key.as_bytes()));
            } else if *present {
                assert_eq!(
                    got.as_deref(),
                    Some(key.as_bytes()),
                    "seed {seed}: lost put of {key}"
                );
            } else {
                assert_eq!(got, None, "seed {seed}: lost delete of {key}");
                assert!(db.get_versioned(key).unwrap().unwrap().is_tombstone());
            }
        }
        for (t, values) in &shared {
            // The shared key holds the last acknowledged value or one written after it (whose
            // acknowledgement the kill cut off).
            let got = String::from_utf8(db.get(format!("shared/{t}")).unwrap().unwrap()).unwrap();
            let last = values.last().unwrap();
            assert!(
                order_of(&got) >= order_of(last),
                "seed {seed}: shared/{t} is {got}, older than acknowledged {last}"
            );
        }
        println!(
            "round {round}: {} acknowledged so far, reopened clean at seq {}",
            total_acks,
            db.last_seq()
        );
    }
    assert!(
        total_acks > 100,
        "too few writes to mean anything: {total_acks}"
    );
}
