//! The client commands: `get`, `put`, `del`, `ls`, `status`, `watch`, over the HTTP API.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use meshkv::server::Client;
use serde_json::Value;

/// One client command.
pub enum Op {
    Get(String),
    Put(String, String, Option<u64>),
    Del(String),
    Ls(String, usize),
    Status,
    Watch(String, Option<u64>),
}

type Outcome = Result<ExitCode, Box<dyn std::error::Error>>;

/// Runs `op` against the server at `addr`.
pub fn run(addr: &str, op: Op) -> Outcome {
    let client = Client::new(addr)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(client, op))
}

async fn run_async(client: Client, op: Op) -> Outcome {
    let mut out = std::io::stdout().lock();
    match op {
        Op::Get(key) => match client.get(key.as_bytes()).await? {
            Some(reply) => {
                out.write_all(&reply.body)?;
                if std::io::IsTerminal::is_terminal(&out) {
                    writeln!(out)?;
                }
            }
            None => {
                eprintln!("meshkv: {key}: not found");
                return Ok(ExitCode::FAILURE);
            }
        },
        Op::Put(key, value, ttl) => {
            let value = match value.as_str() {
                "-" => {
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf)?;
                    buf
                }
                _ => value.into_bytes(),
            };
            let v = match ttl {
                Some(secs) => client.put_with_ttl(key.as_bytes(), &value, secs).await?,
                None => client.put(key.as_bytes(), &value).await?,
            };
            match ttl {
                Some(secs) => writeln!(out, "ok: {key} clock {} expires in {secs} s", v["clock"])?,
                None => writeln!(out, "ok: {key} clock {}", v["clock"])?,
            }
        }
        Op::Del(key) => {
            let v = client.delete(key.as_bytes()).await?;
            writeln!(out, "deleted: {key} clock {}", v["clock"])?;
        }
        Op::Ls(prefix, page) => {
            let mut after: Option<String> = None;
            loop {
                let listing = client
                    .list(prefix.as_bytes(), after.as_deref(), page)
                    .await?;
                for item in listing["items"].as_array().into_iter().flatten() {
                    let key = item["key"].as_str().unwrap_or("");
                    let value = match (&item["value"], &item["value_hex"]) {
                        (Value::String(s), _) => s.clone(),
                        (_, Value::String(h)) => format!("(hex) {h}"),
                        _ => String::new(),
                    };
                    writeln!(out, "{key}\t{value}")?;
                }
                match listing["next_after"].as_str() {
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
        }
        Op::Status => {
            let status = client.status().await?;
            write!(out, "{}", status_table(&status))?;
        }
        Op::Watch(prefix, from) => {
            let mut stream = client.watch(prefix.as_bytes(), from).await?;
            while let Some(event) = stream.next_event().await? {
                writeln!(out, "{} {}", event.event, event.data)?;
                out.flush()?;
                if event.event == "lagged" || event.event == "error" {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A readable table of the status JSON, with a progress bar for each peer catching up.
pub fn status_table(s: &Value) -> String {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut t = String::new();
    t += &format!(
        "node {}  replication {}  last seq {}  local writes {}  bytes in/out {}/{}\n",
        text(&s["node_id"]),
        text(&s["replication_addr"]),
        text(&s["last_seq"]),
        text(&s["stats"]["local_writes"]),
        text(&s["bytes_in"]),
        text(&s["bytes_out"]),
    );
    let peers = s["peers"].as_array().cloned().unwrap_or_default();
    if peers.is_empty() {
        t += "no peers\n";
        return t;
    }
    t += &format!(
        "{:<22} {:<10} {:<9} {:<10} {:>8} {:>8} {:>8}  {}\n",
        "PEER", "SOURCE", "NODE", "STATE", "CURSOR", "BEHIND", "APPLIED", "LAST ERROR"
    );
    for p in &peers {
        let node = text(&p["node_id"]);
        let state = if p["connected"].as_bool() == Some(true) {
            "connected"
        } else {
            "down"
        };
        t += &format!(
            "{:<22} {:<10} {:<9} {:<10} {:>8} {:>8} {:>8}  {}\n",
            text(&p["address"]),
            text(&p["source"]),
            node.get(..8).unwrap_or(&node),
            state,
            text(&p["cursor"]),
            text(&p["entries_behind"]),
            text(&p["entries_applied"]),
            text(&p["last_error"]),
        );
        if let Some(bar) = progress_bar(p) {
            t += &format!("  {bar}\n");
        }
    }
    t
}

/// `[#####-----]  50% 5000/10000 entries` for a peer with entries behind, `None` otherwise.
fn progress_bar(p: &Value) -> Option<String> {
    let behind = p["entries_behind"].as_u64().filter(|b| *b > 0)?;
    let last = p["peer_last_seq"].as_u64().unwrap_or(0);
    let cursor = p["cursor"].as_u64().unwrap_or(0);
    let total = last.saturating_sub(cursor).max(behind);
    let done = p["round_entries"].as_u64().unwrap_or(0).min(total);
    const WIDTH: u64 = 30;
    let filled = (done * WIDTH / total.max(1)) as usize;
    Some(format!(
        "catching up [{}{}] {:>3}% {done}/{total} entries",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        done * 100 / total.max(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_for_a_peer_behind_only() {
        let p = serde_json::json!({"entries_behind": 100, "peer_last_seq": 100, "cursor": 0,
            "round_entries": 50});
        let bar = progress_bar(&p).unwrap();
        assert!(bar.contains(" 50%"), "{bar}");
        assert!(progress_bar(&serde_json::json!({"entries_behind": 0})).is_none());
    }
}
