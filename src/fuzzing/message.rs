//! Harness `message`: decoding every message type from arbitrary payload bytes.
//!
//! The input is one frame payload. The first bytes are the bincode enum tag, so the fuzzer
//! reaches each type (the seed corpus holds one valid payload per type). Whatever decodes must
//! encode back to exactly the input (the encoding is canonical: no two payloads mean the same
//! message), and a decode of a payload no larger than a frame must stay within a fixed heap
//! budget whatever lengths it claims ([`HEAP_BUDGET`], checked when [`super::alloc::Counting`]
//! is installed).

use crate::replication::message::{self, Hello};

/// Heap a decode may use beyond four times its input: serde preallocates at most 1 MiB per
/// claimed collection, and a message nests two (a batch of entries, each with a key and value).
pub const HEAP_BUDGET: usize = 4 << 20;

/// Runs one input; panics if a decoded message does not re-encode to the input, or if the
/// decode used more heap than [`HEAP_BUDGET`] plus four times the input.
pub fn message(data: &[u8]) {
    let (decoded, growth) = super::alloc::peak_growth(|| message::decode(data));
    assert!(
        growth <= HEAP_BUDGET + 4 * data.len(),
        "decoding {} bytes took {growth} bytes of heap",
        data.len()
    );
    if let Ok(m) = decoded {
        assert_eq!(
            message::encode(&m),
            data,
            "non-canonical encoding of a {}",
            m.kind()
        );
    }
    // A hello alone, as the handshake's first message is judged.
    if let Ok((hello, used)) =
        bincode::serde::decode_from_slice::<Hello, _>(data, message::config())
    {
        let again = bincode::serde::encode_to_vec(&hello, message::config()).unwrap_or_default();
        assert_eq!(again, data[..used], "non-canonical hello");
    }
}
