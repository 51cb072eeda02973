//! `INFO`: Redis-style sections of `field:value` lines (`\r\n`-ended), each under a
//! `# Title` line, sections separated by an empty line.
//!
//! - `# Server`: `redis_version:7.0.0` (what clients check; meshkv speaks that subset),
//!   `meshkv_version`, `redis_mode:standalone`, `tcp_port`, `uptime_in_seconds`, `run_id`
//!   (the node id).
//! - `# Clients`: `connected_clients`.
//! - `# Stats`: RESP connections and commands, and the database's write counters.
//! - `# Replication`: `role:master` (every node takes writes), `connected_slaves` (peers with
//!   a pulling connection up), `master_replid` (the node id), `master_repl_offset` (this
//!   node's last sequence), then one line per known peer:
//!   `slave<i>:ip=...,port=...,state=online|offline,offset=<our cursor in its log>,`
//!   `lag=<entries behind>,node_id=...,source=...`. Unlike Redis, `lag` counts log entries
//!   not yet pulled from that peer (not seconds), and peers are nodes we pull from.
//! - `# Keyspace`: `db0:keys=<keys>,expires=<keys with a deadline>,avg_ttl=0`, from the counts
//!   every commit keeps (`Db::key_count`), in constant time.
//!
//! No argument, `default`, `all` or `everything`: every section. Otherwise the named ones,
//! any case; an unknown name adds nothing.

use std::fmt::Write as _;

use super::state::{RespStats, Shared};

/// The Redis version meshkv's RESP front-end claims, for clients that check it.
pub const REDIS_VERSION: &str = "7.0.0";

const SECTIONS: [&str; 5] = ["server", "clients", "stats", "replication", "keyspace"];

/// The `INFO` text for `sections` (lower-case).
pub fn render(shared: &Shared, sections: &[String]) -> crate::Result<String> {
    let all = sections.is_empty()
        || sections
            .iter()
            .any(|s| matches!(s.as_str(), "default" | "all" | "everything"));
    let mut out = String::new();
    for name in SECTIONS {
        if !all && !sections.iter().any(|s| s == name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section(&mut out, shared, name)?;
    }
    Ok(out)
}

fn section(out: &mut String, shared: &Shared, name: &str) -> crate::Result<()> {
    let stats = &shared.stats;
    match name {
        "server" => {
            let _ = write!(out, "# Server\r\n");
            kv(out, "redis_version", &REDIS_VERSION);
            kv(out, "meshkv_version", &env!("CARGO_PKG_VERSION"));
            kv(out, "redis_mode", &"standalone");
            kv(out, "multiplexing_api", &"tokio");
            kv(out, "process_id", &std::process::id());
            kv(out, "run_id", &shared.db.node_id());
            kv(out, "tcp_port", &shared.addr.port());
            kv(
                out,
                "uptime_in_seconds",
                &shared.started.elapsed().as_secs(),
            );
        }
        "clients" => {
            let _ = write!(out, "# Clients\r\n");
            kv(out, "connected_clients", &RespStats::get(&stats.connected));
        }
        "stats" => {
            let db = shared.db.stats();
            let _ = write!(out, "# Stats\r\n");
            kv(
                out,
                "total_connections_received",
                &RespStats::get(&stats.connections),
            );
            kv(
                out,
                "total_commands_processed",
                &RespStats::get(&stats.commands),
            );
            kv(out, "rejected_connections", &RespStats::get(&stats.refused));
            kv(out, "total_error_replies", &RespStats::get(&stats.errors));
            kv(out, "meshkv_local_writes", &db.local_writes);
            kv(out, "meshkv_remote_applied", &db.remote_applied);
            kv(out, "meshkv_conflicts_resolved", &db.conflicts_resolved);
        }
        "replication" => {
            let status = shared.node.status();
            let _ = write!(out, "# Replication\r\n");
            kv(out, "role", &"master");
            kv(
                out,
                "connected_slaves",
                &status.peers.iter().filter(|p| p.connected).count(),
            );
            kv(out, "master_replid", &status.node_id);
            kv(out, "master_repl_offset", &shared.db.last_seq());
            kv(out, "meshkv_replication_addr", &status.local_addr);
            if let Some(why) = &status.halted {
                kv(out, "meshkv_halted", &why.replace(['\r', '\n'], " "));
            }
            for (i, p) in status.peers.iter().enumerate() {
                let (ip, port) = match p.address.rsplit_once(':') {
                    Some((ip, port)) => (ip.trim_matches(['[', ']']), port),
                    None => (p.address.as_str(), "0"),
                };
                let mut v = format!(
                    "ip={ip},port={port},state={},offset={},lag={}",
                    if p.connected { "online" } else { "offline" },
                    p.cursor.unwrap_or(0),
                    p.entries_behind.map_or("-1".to_string(), |n| n.to_string()),
                );
                if let Some(id) = p.node_id {
                    let _ = write!(v, ",node_id={id}");
                }
                let _ = write!(v, ",source={}", super::super::status::source_name(p.source));
                kv(out, &format!("slave{i}"), &v.replace(['\r', '\n'], " "));
            }
        }
        "keyspace" => {
            let (keys, expires) = (shared.db.key_count(), shared.db.expiring_key_count());
            let _ = write!(out, "# Keyspace\r\n");
            // Redis leaves out an empty database's line.
            if keys > 0 {
                kv(
                    out,
                    "db0",
                    &format!("keys={keys},expires={expires},avg_ttl=0"),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

/// One `field:value` line.
fn kv(out: &mut String, field: &str, value: &dyn std::fmt::Display) {
    let _ = write!(out, "{field}:{value}\r\n");
}
