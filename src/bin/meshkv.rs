//! The `meshkv` command.
//!
//! - `meshkv example [DIR]`: opens a database (in a temporary folder unless DIR is given), writes,
//!   reads, deletes, prints the changes feed and the consistency report.
//! - `meshkv verify DIR`: checks a database's storage invariants; exit code 1 when it finds a
//!   problem.
//!
//! The replicating server and its demo come with the replication issues.

use std::process::ExitCode;

use meshkv::{Db, Options};

const USAGE: &str = "usage: meshkv example [DIR] | meshkv verify DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["example"] => example(None),
        ["example", dir] => example(Some(dir)),
        ["verify", dir] => verify(dir),
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meshkv: {e}");
            ExitCode::FAILURE
        }
    }
}

fn example(dir: Option<&str>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let path = dir.map_or_else(|| temp.path().to_path_buf(), Into::into);
    let db = Db::open(&path, Options::default())?;
    println!("opened {} as node {}", path.display(), db.node_id());
    for (k, v) in [("user/1", "alice"), ("user/2", "bob"), ("user/3", "carol")] {
        let version = db.put(k, v)?;
        println!("put {k} = {v}  -> clock {}", version.clock);
    }
    let v = db.put("user/1", "alice v2")?;
    println!("put user/1 = alice v2  -> clock {}", v.clock);
    let v = db.delete("user/2")?;
    println!(
        "delete user/2  -> clock {} (a tombstone that replicates)",
        v.clock
    );
    let mut batch = db.batch();
    batch.put("user/4", "dave").delete("user/3");
    let versions = db.write(batch)?;
    println!(
        "batch: put user/4, delete user/3 -> clocks {:?}",
        versions.iter().map(|v| v.clock).collect::<Vec<_>>()
    );
    println!("scan user/:");
    for item in db.scan_prefix("user/") {
        let (k, v) = item?;
        println!(
            "  {} = {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }
    let changes = db.changes_since(0);
    println!(
        "changes feed (newest first, one entry per key, high seq {}):",
        changes.high_seq()
    );
    for item in changes {
        let (seq, e) = item?;
        let what = match &e.value {
            Some(v) => format!("put {}", String::from_utf8_lossy(v)),
            None => "delete".into(),
        };
        println!(
            "  seq {seq}: {} {what} (clock {})",
            String::from_utf8_lossy(&e.key),
            e.version.clock
        );
    }
    let report = db.verify()?;
    println!(
        "verify: {} live keys, {} tombstones, {} log entries, clean: {}",
        report.live_keys,
        report.tombstones,
        report.log_entries,
        report.is_clean()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if !std::path::Path::new(dir).join("CURRENT").is_file() {
        return Err(format!("{dir} holds no database").into());
    }
    let db = Db::open(dir, Options::default())?;
    let report = db.verify()?;
    println!(
        "{dir}: node {}, {} live keys, {} tombstones, {} log entries, last seq {}",
        db.node_id(),
        report.live_keys,
        report.tombstones,
        report.log_entries,
        report.last_seq
    );
    for p in &report.problems {
        println!("problem: {p}");
    }
    if report.is_clean() {
        println!("clean");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} problems", report.problem_count);
        Ok(ExitCode::FAILURE)
    }
}
