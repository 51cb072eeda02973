//! Fuzz harnesses: one plain function per fuzz target, shared by the cargo-fuzz targets under
//! `fuzz/` and by the stable test that replays the committed corpus
//! (`tests/fuzz_corpus_replays.rs`), so every CI run checks every corpus file without
//! cargo-fuzz.
//!
//! Each harness takes arbitrary bytes and panics only when an invariant breaks (a decoder
//! disagreeing with a reference, a round trip that does not return the input, an unkeyed peer
//! accepted by a keyed node, a database diverging from its model): a panic is a finding.
//! Decoding itself must never panic on any input.
//!
//! | target | harness | what it drives |
//! |---|---|---|
//! | `frame_stream` | [`frame::frame_stream`] | `FrameCodec` fed a byte stream in random chunks, against a one-shot reference parser |
//! | `message` | [`message::message`] | `message::decode` of every message type; canonical round trip |
//! | `handshake` | [`handshake::handshake`] | the real `accept`/`dial` over an in-memory pipe, peer bytes from the fuzzer, with and without the key |
//! | `announcement` | [`announcement::announcement`] | discovery's datagram parser and the membership state machine |
//! | `apply` | [`apply::apply`] | `Replica::apply` of arbitrary remote entries (and local writes) against a `BTreeMap` model |
//! | `storage_decode` | [`storage::storage_decode`] | decoders of bytes read from disk |
//! | `resp` | `resp::resp` (feature `server`) | the RESP request parser fed in random chunks against one pass, its limits, command decoding, `SCAN MATCH` globs |
//!
//! [`seeds`] builds the seed corpus (valid inputs of every kind); [`alloc::Counting`] is an
//! allocator that records the peak heap use, so a harness run can prove its memory bound.

pub mod alloc;
pub mod announcement;
pub mod apply;
pub mod frame;
pub mod handshake;
mod input;
pub mod message;
#[cfg(feature = "server")]
pub mod resp;
mod seeds;
pub mod storage;

pub use input::Input;
pub use seeds::{seeds, Seed, TARGETS};
