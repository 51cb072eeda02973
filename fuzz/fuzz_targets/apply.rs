//! Db::apply of arbitrary remote entries and local writes against a BTreeMap model.
//! The harness is `meshkv::fuzzing::apply`; `tests/fuzz_corpus_replays.rs` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| meshkv::fuzzing::apply::apply(data));
