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
    VerifyPeer(String),
    Members,
    Decommission(String, bool),
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
        Op::VerifyPeer(peer) => {
            let report = client.verify_peer(&peer).await?;
            write!(out, "{}", repair_text(&report))?;
            if report["converged"] != Value::Bool(true) {
                return Ok(ExitCode::FAILURE);
            }
        }
        Op::Members => {
            let members = client.members().await?;
            write!(out, "{}", members_table(&members))?;
        }
        Op::Decommission(node, force) => {
            let v = client.decommission(&node, force).await?;
            let forced = if v["forced"] == Value::Bool(true) {
                " (forced)"
            } else {
                ""
            };
            writeln!(
                out,
                "decommissioned: {}{forced}",
                v["decommissioned"].as_str().unwrap_or(&node)
            )?;
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

/// What `meshkv members` prints of `GET /v1/members`: one line per member, the server first.
pub fn members_table(v: &Value) -> String {
    let mut out = format!(
        "{:<32}  {:<14}  {:<22}  {:>12}  {:>9}  {}\n",
        "NODE", "STATE", "ADDRESS", "HEARD", "CONNECTED", "WRITES HELD THROUGH"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let ago = |ms: u64| -> String {
        match ms {
            0 => "never".into(),
            ms if ms >= now_ms => "now".into(),
            ms => format!("{:.1} s ago", (now_ms - ms) as f64 / 1000.0),
        }
    };
    for m in v["members"].as_array().into_iter().flatten() {
        let mut state = m["state"].as_str().unwrap_or("?").to_string();
        if m["self"] == Value::Bool(true) {
            state.push_str(" (self)");
        }
        let held = match m["held_through_ms"].as_u64() {
            Some(ms) => ago(ms),
            None => "nothing yet".into(),
        };
        out.push_str(&format!(
            "{:<32}  {:<14}  {:<22}  {:>12}  {:>9}  {}\n",
            m["node_id"].as_str().unwrap_or("?"),
            state,
            m["address"].as_str().unwrap_or("-"),
            ago(m["last_heard_ms"].as_u64().unwrap_or(0)),
            if m["connected"] == Value::Bool(true) {
                "yes"
            } else {
                "no"
            },
            held,
        ));
    }
    out
}

/// What `verify --peer` prints of a round's JSON: a summary, then one line per key that
/// differed (`fetch` when the peer held it newer, `push` when the peer lacked it).
pub fn repair_text(r: &Value) -> String {
    let n = |name: &str| r[name].as_u64().unwrap_or(0);
    let keys = |name: &str| -> Vec<String> {
        r[name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    };
    let (fetch, lacking) = (keys("fetch"), keys("lacking"));
    let who = format!(
        "peer {} (node {})",
        r["peer"].as_str().unwrap_or("?"),
        r["node_id"].as_str().unwrap_or("?")
    );
    let mut t = String::new();
    if r["converged"] == Value::Bool(true) {
        t += &format!("{who}: no difference ({} bytes exchanged)\n", n("bytes"));
        return t;
    }
    t += &format!(
        "{who}: {} keys differed in {} segments; fetched {} ({} applied, {} refused), pushed {} ({} applied, {} refused, {} too large for the peer); {} segments left for a later round; {} bytes exchanged\n",
        n("fetch_count") + n("lacking_count"),
        n("segments_compared"),
        n("fetched"),
        n("applied"),
        n("refused"),
        n("pushed"),
        n("pushed_applied"),
        n("pushed_refused"),
        n("unsendable"),
        n("segments_deferred"),
        n("bytes"),
    );
    for k in &fetch {
        t += &format!("fetch\t{k}\n");
    }
    for k in &lacking {
        t += &format!("push\t{k}\n");
    }
    let more = (n("fetch_count") + n("lacking_count"))
        .saturating_sub((fetch.len() + lacking.len()) as u64);
    if more > 0 {
        t += &format!("... and {more} more keys\n");
    }
    t
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

    #[test]
    fn verify_prints_each_key_that_differed_and_what_was_left_out() {
        let r = serde_json::json!({"peer": "127.0.0.1:7071", "node_id": "ab", "converged": false,
            "segments_compared": 2, "fetch": ["a/1"], "lacking": ["b%00"], "fetch_count": 1,
            "lacking_count": 3, "fetched": 1, "applied": 1, "pushed": 3, "pushed_applied": 3,
            "bytes": 9000});
        let text = repair_text(&r);
        assert!(text.starts_with("peer 127.0.0.1:7071 (node ab): 4 keys differed in 2 segments"));
        assert!(
            text.contains("fetch\ta/1\n") && text.contains("push\tb%00\n"),
            "{text}"
        );
        assert!(text.contains("and 2 more keys"), "{text}");
        let same =
            serde_json::json!({"peer": "p", "node_id": "ab", "converged": true, "bytes": 4128});
        assert_eq!(
            repair_text(&same),
            "peer p (node ab): no difference (4128 bytes exchanged)\n"
        );
    }
}
