//! Decoders of bytes read from disk never panic: log keys, log entries, index records.
//! The harness is `meshkv::fuzzing::storage::storage_decode`; `tests/fuzz_corpus_replays.rs`
//! replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| meshkv::fuzzing::storage::storage_decode(data));
