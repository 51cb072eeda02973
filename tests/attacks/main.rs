//! Attacks on the replication protocol: wrong keys, wrong hellos, replays, tampering,
//! downgrades, pre-authentication floods, forged discovery announcements, forged rollback
//! claims and impersonation of another node.
//!
//! One behaviour per module, each named after its scenario; its header says what it proves.

mod anti_entropy_peers_cannot_overreach;
#[path = "../common/mod.rs"]
mod common;

mod discovery_forged_and_replayed_announcements_are_ignored;
mod downgrade_to_plaintext_is_refused;
mod forged_rollback_claim_does_not_halt;
mod impersonation_cannot_take_a_peers_cursor;
mod junk_learned_addresses_are_forgotten;
mod keyed_traffic_is_opaque_and_tamper_proof;
mod pre_auth_flood_is_bounded;
mod refused_version_or_cluster;
mod replayed_session_is_rejected;
mod right_key_wrong_hello_is_refused;
mod tampered_session_frames_close_the_connection;
mod wrong_key_and_rotation;
