//! Replication and discovery: real nodes on loopback (ports from port 0), converging, catching
//! up, detecting silent peers, not echoing, and multicast discovery kept on loopback.
//!
//! One behaviour per module, each named after its scenario; its header says what it proves.

#[path = "../common/mod.rs"]
mod common;

mod a_clock_ahead_gets_clock_skew_not_silent_loss;
mod a_fast_relay_expires_nothing_early;
mod anti_entropy_repairs_what_the_log_never_sends;
mod catch_up_survives_a_cut_connection;
mod chain_converges;
mod concurrent_writes_to_one_key_converge;
mod delete_stays_deleted_after_restarts;
mod discovery_expires_and_returns;
mod discovery_foreign_key_is_never_dialed;
mod discovery_setup_errors_are_typed;
mod discovery_shutdown_leaves_the_group;
mod discovery_survives_garbage_datagrams;
mod discovery_three_nodes_converge;
mod keyed_ids_are_bound_to_node_keys;
mod large_catch_up_batches;
mod members_are_learned_kept_and_decommissioned;
mod own_writes_are_not_echoed;
mod peers_with_different_limits_are_refused;
mod refused_entries_are_pulled_again;
mod restarted_node_catches_up_before_start_returns;
mod silent_peer_is_detected;
mod three_nodes_converge;
