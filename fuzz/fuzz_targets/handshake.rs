//! The real accept/dial handshake against arbitrary peer bytes, with and without the key: never hangs, never accepts a peer without the key.
//! The harness is `meshkv::fuzzing::handshake`; `tests/fuzz_corpus_replays.rs` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| meshkv::fuzzing::handshake::handshake(data));
