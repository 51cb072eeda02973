//! The fault suite: the checker, a nemesis over in-process nodes, real processes behind fault
//! proxies, partitions, isolation and restored copies (see docs/testing.md). The deterministic
//! simulation and the negative controls run in crates of their own.
//!
//! One behaviour per module, each named after its scenario; its header says what it proves.

#[path = "../common/mod.rs"]
mod common;

mod delete_then_reput_is_present_everywhere;
mod fault_checker_counts_violations;
mod fault_cluster_of_processes;
mod fault_nemesis_in_process;
mod isolated_node_rejoins_and_key_stays_deleted;
mod partition_put_against_delete_has_the_documented_winner;
mod restored_old_copy_loses_and_resurrects_nothing;
