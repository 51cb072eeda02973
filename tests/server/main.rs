//! The `meshkv` server: real `meshkv serve` processes, their configuration, the HTTP API, the
//! RESP listener with `redis-cli` and the `redis` crate, signals, and the demo.
//!
//! One behaviour per module, each named after its scenario; its header says what it proves.

#[path = "../common/mod.rs"]
mod common;

mod keys_expire_on_every_node;
mod resp_pipelined_sets_commit_together;
mod resp_protocol_errors_keep_serving;
mod resp_replies_match_redis;
mod resp_set_nx_race_has_one_winner;
mod resp_set_on_one_node_gets_on_the_other;
mod server_bad_config_exits_2;
mod server_bad_requests_keep_serving;
mod server_demo_prints_converged_rows;
mod server_sigterm_during_writes_keeps_acknowledged;
mod server_two_processes_replicate;
mod settings_table_matches_docs;
