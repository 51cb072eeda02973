//! Frame decoding from an arbitrary byte stream fed in random chunks agrees with a one-shot reference; buffers stay within the limit.
//! The harness is `meshkv::fuzzing::frame::frame_stream`; `tests/fuzz_corpus_replays.rs` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| meshkv::fuzzing::frame::frame_stream(data));
