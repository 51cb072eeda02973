//! The JSON of `GET /v1/status`: the node, its database counters and every peer.
//!
//! ```json
//! {"node_id": "9f0c...", "replication_addr": "127.0.0.1:7070", "last_seq": 42,
//!  "refused_inbound": 0, "bytes_in": 1234, "bytes_out": 5678, "halted": null,
//!  "healthy": true, "failed_tasks": [], "unproven_rollback_claims": 0,
//!  "repairs_served": 3, "repair_entries_received": 0, "repair_entries_applied": 0,
//!  "members": 3, "members_error": null,
//!  "clock": {"peers_heard": 1, "peers_refusing": 0, "refused": false},
//!  "stats": {"local_writes": 40, "remote_applied": 2, "remote_stale": 0,
//!            "remote_duplicate": 0, "conflicts_resolved": 0, "clock_skew_refusals": 0,
//!            "clock_regressions": 0, "expired_swept": 0},
//!  "peers": [{"address": "127.0.0.1:7071", "source": "configured", "node_id": "...",
//!             "connected": true, "cursor": 17, "peer_last_seq": 17, "entries_behind": 0,
//!             "round_entries": 0, "last_error": null, "refused": 0, "invalid_entries": 0,
//!             "unapplied_entries": 0, "last_refusal": null,
//!             "entries_received": 17, "entries_applied": 17,
//!             "anti_entropy": {"rounds": 3, "differing_rounds": 0, "failed_rounds": 0,
//!                              "fetched": 0, "applied": 0, "pushed": 0,
//!                              "last_round_bytes": 4216, "last_error": null}}],
//!  "discovery": null}
//! ```
//!
//! `clock` says whether the peers accept this node's clock: how many were heard, how many would
//! refuse a timestamp of its wall clock now, and whether a majority does (local writes then fail
//! with `ClockSkew`). `halted` says why replication stopped for good (the folder is an old copy of its node), if it
//! did. `failed_tasks` lists the node's tasks that panicked or failed (`task`, `essential`,
//! `error`); `healthy` is false once replication halted or an essential one died. `storage_error`
//! is the database's last background failure (a lease fsync), or null. `members` counts the
//! members this node knows (itself included; `GET /v1/members` lists them), `members_error` is the
//! last failure to store their records, or null. `resp`, present with `resp_listen`, holds the RESP listener's counters
//! (`connections`, `refused`, `connected`, `commands`, `errors`). `discovery`, when on, holds its group, advertised address, peer count and datagram counters.

use serde_json::{json, Value};

use super::resp::RespStats;
use crate::replication::PeerSource;
use crate::{DbStats, NodeStatus, PeerStatus};

/// The lower-case name of a peer source, as in the status JSON.
pub fn source_name(source: PeerSource) -> &'static str {
    match source {
        PeerSource::Configured => "configured",
        PeerSource::Added => "added",
        PeerSource::Dialed => "dialed",
        PeerSource::Discovered => "discovered",
    }
}

/// The RESP listener's counters (the `resp` field, present when `resp_listen` is set).
pub fn resp_json(r: &RespStats) -> Value {
    json!({
        "connections": RespStats::get(&r.connections),
        "refused": RespStats::get(&r.refused),
        "connected": RespStats::get(&r.connected),
        "commands": RespStats::get(&r.commands),
        "errors": RespStats::get(&r.errors),
    })
}

/// One peer's JSON object.
pub fn peer_json(p: &PeerStatus) -> Value {
    json!({
        "address": p.address,
        "source": source_name(p.source),
        "node_id": p.node_id.map(|id| id.to_string()),
        "connected": p.connected,
        "cursor": p.cursor,
        "peer_last_seq": p.peer_last_seq,
        "entries_behind": p.entries_behind,
        "round_entries": p.round_entries,
        "last_error": p.last_error,
        "refused": p.refused,
        "invalid_entries": p.invalid_entries,
        "unapplied_entries": p.unapplied_entries,
        "last_refusal": p.last_refusal,
        "entries_received": p.entries_received,
        "entries_applied": p.entries_applied,
        "anti_entropy": repair_json(&p.repair),
    })
}

/// One peer's anti-entropy rounds (the `anti_entropy` object of a peer).
pub fn repair_json(r: &crate::RepairStatus) -> Value {
    json!({
        "rounds": r.rounds,
        "differing_rounds": r.differing_rounds,
        "failed_rounds": r.failed_rounds,
        "fetched": r.fetched,
        "applied": r.applied,
        "pushed": r.pushed,
        "last_round_bytes": r.last_round_bytes,
        "last_error": r.last_error,
    })
}

/// Keys listed at most in each of `fetch` and `lacking` (the counts say how many there were).
pub const LISTED_KEYS: usize = 1000;

/// What one on-demand anti-entropy round found and did (`POST /v1/verify?peer=`); keys are
/// percent-encoded as in listings, at most [`LISTED_KEYS`] of each kind.
pub fn repair_report_json(address: &str, r: &crate::RepairReport) -> Value {
    json!({
        "peer": address,
        "node_id": r.peer.map(|id| id.to_string()),
        "converged": r.converged(),
        "segments_compared": r.differences.segments,
        "segments_deferred": r.differences.deferred,
        "segments_transient": r.differences.transient,
        "fetch": r.differences.fetch.iter().take(LISTED_KEYS).map(|k| super::urlkey::encode(k)).collect::<Vec<_>>(),
        "fetch_count": r.differences.fetch.len(),
        "lacking": r.differences.lacking.iter().take(LISTED_KEYS).map(|k| super::urlkey::encode(k)).collect::<Vec<_>>(),
        "lacking_count": r.differences.lacking.len(),
        "fetched": r.fetched,
        "applied": r.applied,
        "refused": r.refused,
        "pushed": r.pushed,
        "pushed_applied": r.pushed_applied,
        "pushed_refused": r.pushed_refused,
        "unsendable": r.unsendable,
        "bytes": r.bytes,
    })
}

/// The member list (`GET /v1/members`): this node first, then by node id.
pub fn members_json(members: &[crate::Member]) -> Value {
    let rows: Vec<Value> = members
        .iter()
        .map(|m| {
            json!({
                "node_id": m.node_id.to_string(),
                "self": m.is_self,
                "address": m.address,
                "state": m.state.name(),
                "last_heard_ms": m.last_heard_ms,
                "connected": m.connected,
                "held_through_ms": m.held_through_ms,
                "holds_all_through_ms": m.holds_all_through_ms,
            })
        })
        .collect();
    json!({ "members": rows })
}

/// The whole status document.
pub fn status_json(node: &NodeStatus, stats: &DbStats, last_seq: u64) -> Value {
    json!({
        "node_id": node.node_id.to_string(),
        "replication_addr": node.local_addr.to_string(),
        "last_seq": last_seq,
        "refused_inbound": node.refused_inbound,
        "inbound_over_limit": node.inbound_over_limit,
        "unproven_rollback_claims": node.unproven_rollback_claims,
        "repairs_served": node.repairs_served,
        "repair_entries_received": node.repair_entries_received,
        "repair_entries_applied": node.repair_entries_applied,
        "members": node.members,
        "members_error": node.members_error,
        "clock": {
            "peers_heard": node.clock.peers_heard,
            "peers_refusing": node.clock.peers_refusing,
            "refused": node.clock.refused,
        },
        "bytes_in": node.bytes_in,
        "bytes_out": node.bytes_out,
        "halted": node.halted,
        "healthy": node.healthy(),
        "failed_tasks": node.failed_tasks.iter().map(|f| json!({
            "task": f.task,
            "essential": f.essential,
            "error": f.error,
        })).collect::<Vec<_>>(),
        "stats": {
            "local_writes": stats.local_writes,
            "remote_applied": stats.remote_applied,
            "remote_stale": stats.remote_stale,
            "remote_duplicate": stats.remote_duplicate,
            "conflicts_resolved": stats.conflicts_resolved,
            "clock_skew_refusals": stats.clock_skew_refusals,
            "clock_regressions": stats.clock_regressions,
            "expired_swept": stats.expired_swept,
        },
        "peers": node.peers.iter().map(peer_json).collect::<Vec<_>>(),
        "discovery": node.discovery.as_ref().map(|d| json!({
            "group": d.group.map(|g| g.to_string()),
            "advertise": d.advertise,
            "peers": d.peers,
            "announcements_sent": d.announcements_sent,
            "send_errors": d.send_errors,
            "accepted": d.accepted,
            "rejected": d.rejected(),
            "malformed": d.malformed,
            "too_large": d.too_large,
            "foreign_cluster": d.foreign_cluster,
            "unauthenticated": d.unauthenticated,
            "replayed": d.replayed,
            "over_limit": d.over_limit,
            "expired": d.expired,
        })),
    })
}
