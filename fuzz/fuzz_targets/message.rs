//! Every message type decodes without panicking, within a heap budget, and re-encodes canonically.
//! The harness is `meshkv::fuzzing::message`; `tests/fuzz_corpus_replays.rs` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: meshkv::fuzzing::alloc::Counting = meshkv::fuzzing::alloc::Counting;

fuzz_target!(|data: &[u8]| meshkv::fuzzing::message::message(data));
