//! Discovery's datagram parser and membership state machine: nothing unsigned or malformed accepted, every datagram counted.
//! The harness is `meshkv::fuzzing::announcement`; `tests/fuzz_corpus_replays.rs` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| meshkv::fuzzing::announcement::announcement(data));
