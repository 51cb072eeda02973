//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4), written by hand.
//!
//! Every family has `# HELP` and `# TYPE` lines; counters end in `_total`. Label values are
//! escaped (`\\`, `"`, newline). The families:
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `meshkv_local_writes_total` | counter | local operations committed (puts, deletes, batch ops) |
//! | `meshkv_remote_entries_applied_total` | counter | remote entries that won and were committed |
//! | `meshkv_remote_entries_skipped_total{reason}` | counter | remote entries skipped: `stale` (lost), `duplicate` (already held), `invalid` (refused) |
//! | `meshkv_conflicts_resolved_total` | counter | equal-clock conflicts handed to the resolver |
//! | `meshkv_replication_bytes_total{direction}` | counter | replication bytes `in` and `out` |
//! | `meshkv_refused_handshakes_total{direction}` | counter | refused or failed handshakes, `inbound` and `outbound` |
//! | `meshkv_discovery_datagrams_refused_total{reason}` | counter | discovery datagrams dropped (when discovery is on) |
//! | `meshkv_peers_refusing_my_clock` | gauge | recently heard peers that would refuse a timestamp of this node's wall clock |
//! | `meshkv_clock_skew_refusals_total` | counter | local writes refused with `ClockSkew` (a majority of the peers refuse this node's clock) |
//! | `meshkv_clock_regressions_total` | counter | times the clock was moved back to the wall clock after running ahead of the peers |
//! | `meshkv_expired_keys_swept_total` | counter | values of expired keys the sweeper removed from disk |
//! | `meshkv_last_seq` | gauge | this node's highest committed sequence |
//! | `meshkv_peers` | gauge | known peer addresses |
//! | `meshkv_peer_connected{peer}` | gauge | 1 while a pulling connection to the peer is up |
//! | `meshkv_peer_entries_behind{peer}` | gauge | the peer's last sequence minus our cursor (lag) |
//! | `meshkv_peer_entries_received_total{peer}` | counter | entries pulled from the peer |
//! | `meshkv_resp_connections_total{outcome}` | counter | RESP connections `accepted`, and `refused` over `resp_max_clients` (with `resp_listen` only) |
//! | `meshkv_resp_connected` | gauge | RESP connections open |
//! | `meshkv_resp_commands_total` | counter | RESP commands executed |
//! | `meshkv_resp_errors_total` | counter | RESP error replies (protocol errors included) |
//!
//! Counters start at zero when the server starts.

use std::fmt::Write as _;

use super::resp::RespStats;
use crate::{DbStats, NodeStatus};

/// Renders every metric family.
pub fn render(node: &NodeStatus, stats: &DbStats, last_seq: u64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        write_family(&mut out, name, kind, help, samples)
    };
    let none = String::new;
    let peers = &node.peers;
    family(
        "meshkv_local_writes_total",
        "counter",
        "Local operations committed (puts, deletes, operations of batches).",
        &[(none(), stats.local_writes)],
    );
    family(
        "meshkv_remote_entries_applied_total",
        "counter",
        "Remote entries that won and were committed.",
        &[(none(), stats.remote_applied)],
    );
    let invalid: u64 = peers.iter().map(|p| p.invalid_entries).sum();
    family(
        "meshkv_remote_entries_unapplied",
        "gauge",
        "Refused remote entries waiting to be pulled again (the cursor stays below them).",
        &[(none(), peers.iter().map(|p| p.unapplied_entries).sum())],
    );
    family(
        "meshkv_remote_entries_skipped_total",
        "counter",
        "Remote entries not committed: lost to the local version, already held, or refused (refused ones are pulled again).",
        &[
            (label("reason", "stale"), stats.remote_stale),
            (label("reason", "duplicate"), stats.remote_duplicate),
            (label("reason", "invalid"), invalid),
        ],
    );
    family(
        "meshkv_conflicts_resolved_total",
        "counter",
        "Remote entries with the local clock but another write, decided by the resolver.",
        &[(none(), stats.conflicts_resolved)],
    );
    family(
        "meshkv_replication_bytes_total",
        "counter",
        "Replication bytes on established connections.",
        &[
            (label("direction", "in"), node.bytes_in),
            (label("direction", "out"), node.bytes_out),
        ],
    );
    family(
        "meshkv_replication_halted",
        "gauge",
        "1 when replication stopped for good: this folder is an old copy of its node.",
        &[(none(), u64::from(node.halted.is_some()))],
    );
    family(
        "meshkv_healthy",
        "gauge",
        "1 while the node does its whole job: not halted, no essential task (accept loop, discovery) dead.",
        &[(none(), u64::from(node.healthy()))],
    );
    family(
        "meshkv_task_failures_total",
        "counter",
        "Node tasks that panicked or failed (at most 64 recorded).",
        &[(none(), node.failed_tasks.len() as u64)],
    );
    let outbound: u64 = peers.iter().map(|p| p.refused).sum();
    family(
        "meshkv_refused_handshakes_total",
        "counter",
        "Replication handshakes refused or failed.",
        &[
            (label("direction", "inbound"), node.refused_inbound),
            (label("direction", "outbound"), outbound),
        ],
    );
    family(
        "meshkv_inbound_over_limit_total",
        "counter",
        "Replication connections closed on arrival: max_connections or max_handshakes reached.",
        &[(none(), node.inbound_over_limit)],
    );
    family(
        "meshkv_peers_refusing_my_clock",
        "gauge",
        "Recently heard peers that would refuse a timestamp of this node's wall clock.",
        &[(none(), node.clock.peers_refusing as u64)],
    );
    family(
        "meshkv_clock_skew_refusals_total",
        "counter",
        "Local writes refused because a majority of the peers refuse this node's clock.",
        &[(none(), stats.clock_skew_refusals)],
    );
    family(
        "meshkv_clock_regressions_total",
        "counter",
        "Times the clock was moved back to the wall clock after running ahead of the peers.",
        &[(none(), stats.clock_regressions)],
    );
    family(
        "meshkv_expired_keys_swept_total",
        "counter",
        "Values of expired keys the sweeper removed from disk.",
        &[(none(), stats.expired_swept)],
    );
    let repair = |f: fn(&crate::RepairStatus) -> u64| peers.iter().map(|p| f(&p.repair)).sum();
    family(
        "meshkv_anti_entropy_rounds_total",
        "counter",
        "Anti-entropy rounds this node ran with its peers, by outcome.",
        &[
            (
                label("outcome", "converged"),
                repair(|r| r.rounds - r.differing_rounds),
            ),
            (label("outcome", "differed"), repair(|r| r.differing_rounds)),
            (label("outcome", "failed"), repair(|r| r.failed_rounds)),
        ],
    );
    family(
        "meshkv_anti_entropy_entries_total",
        "counter",
        "Entries anti-entropy moved: fetched from peers and committed here, pushed to peers, pushed by peers and committed here.",
        &[
            (label("kind", "fetched"), repair(|r| r.fetched)),
            (label("kind", "fetched_applied"), repair(|r| r.applied)),
            (label("kind", "pushed"), repair(|r| r.pushed)),
            (label("kind", "received"), node.repair_entries_received),
            (label("kind", "received_applied"), node.repair_entries_applied),
        ],
    );
    family(
        "meshkv_anti_entropy_served_total",
        "counter",
        "Anti-entropy connections this node answered.",
        &[(none(), node.repairs_served)],
    );
    family(
        "meshkv_members",
        "gauge",
        "Members of the cluster this node knows, itself included.",
        &[(none(), node.members as u64)],
    );
    family(
        "meshkv_unproven_rollback_claims_total",
        "counter",
        "Pulls that claimed this folder is an old copy without its proof (ignored).",
        &[(none(), node.unproven_rollback_claims)],
    );
    if let Some(d) = &node.discovery {
        family(
            "meshkv_discovery_datagrams_refused_total",
            "counter",
            "Discovery datagrams dropped, by reason.",
            &[
                (label("reason", "malformed"), d.malformed),
                (label("reason", "too_large"), d.too_large),
                (label("reason", "foreign_cluster"), d.foreign_cluster),
                (label("reason", "unauthenticated"), d.unauthenticated),
                (label("reason", "replayed"), d.replayed),
                (label("reason", "over_limit"), d.over_limit),
            ],
        );
    }
    family(
        "meshkv_last_seq",
        "gauge",
        "This node's highest committed sequence.",
        &[(none(), last_seq)],
    );
    family(
        "meshkv_peers",
        "gauge",
        "Known peer addresses.",
        &[(none(), peers.len() as u64)],
    );
    let per_peer = |f: &dyn Fn(&crate::PeerStatus) -> u64| -> Vec<(String, u64)> {
        peers
            .iter()
            .map(|p| (label("peer", &p.address), f(p)))
            .collect()
    };
    family(
        "meshkv_peer_connected",
        "gauge",
        "1 while a pulling connection to the peer is up.",
        &per_peer(&|p| u64::from(p.connected)),
    );
    family(
        "meshkv_peer_entries_behind",
        "gauge",
        "The peer's last sequence minus this node's cursor for it.",
        &per_peer(&|p| p.entries_behind.unwrap_or(0)),
    );
    family(
        "meshkv_peer_entries_received_total",
        "counter",
        "Entries pulled from the peer.",
        &per_peer(&|p| p.entries_received),
    );
    out
}

/// The RESP listener's families, appended to [`render`]'s when it is on.
pub fn render_resp(stats: &RespStats) -> String {
    let get = RespStats::get;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        write_family(&mut out, name, kind, help, samples)
    };
    family(
        "meshkv_resp_connections_total",
        "counter",
        "RESP connections accepted, and refused over resp_max_clients.",
        &[
            (label("outcome", "accepted"), get(&stats.connections)),
            (label("outcome", "refused"), get(&stats.refused)),
        ],
    );
    family(
        "meshkv_resp_connected",
        "gauge",
        "RESP connections open.",
        &[(String::new(), get(&stats.connected))],
    );
    family(
        "meshkv_resp_commands_total",
        "counter",
        "RESP commands executed.",
        &[(String::new(), get(&stats.commands))],
    );
    family(
        "meshkv_resp_errors_total",
        "counter",
        "RESP error replies, protocol errors included.",
        &[(String::new(), get(&stats.errors))],
    );
    out
}

/// One family: its `# HELP` and `# TYPE` lines, then its samples.
fn write_family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// `{name="value"}` with the value escaped.
fn label(name: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{{{name}=\"{escaped}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("peer", "a\"b\\c\n"), "{peer=\"a\\\"b\\\\c\\n\"}");
    }
}
