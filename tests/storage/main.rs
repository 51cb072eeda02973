//! The storage core: clocks, a model of the database, restarts, bad input, scans, ordered
//! visibility, the watch feeds, the changes feed, crashes of real processes, and the set-up
//! script's libclang check.
//!
//! One behaviour per module, each named after its scenario; its header says what it proves.

#[path = "../common/mod.rs"]
mod common;

mod apply_converges_in_any_order;
mod bad_input_is_rejected;
mod changes_feed_batches_are_bounded;
mod clock_scenario;
mod crash_sigkill_keeps_acknowledged_writes;
mod delete_all_keeps_the_writes_that_beat_it;
mod digests_find_what_differs;
mod expiry_converges_in_any_order;
mod keys_expire_by_the_readers_clock;
mod model_against_btreemap;
mod older_formats_open_and_are_marked_current;
mod ordered_visibility;
mod remote_clocks_are_bounded;
mod restart_keeps_sequence_and_node_id;
mod scan_ranges_and_prefixes;
mod setup_detects_libclang;
mod watch_delivers_changes_in_commit_order;
mod watch_lagged_resumes_without_gap;
