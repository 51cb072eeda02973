//! The RESP request parser fed in random chunks agrees with one pass over the input, stays within its limits, and command decoding never panics.
//! The harness is `meshkv::fuzzing::resp::resp`; `tests/fuzz_corpus_replays.rs` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| meshkv::fuzzing::resp::resp(data));
