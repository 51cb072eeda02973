//! Harness `storage_decode`: decoders of bytes read from disk (log keys, log entries, index
//! records) never panic, and what decodes encodes back (the same bytes for an index record,
//! with the value it may hold, the same entry for a log entry).

use crate::storage::keys::{IndexRecord, LogEntry, SeqKey};

/// Runs one input; panics if a decoded record does not round-trip.
pub fn storage_decode(data: &[u8]) {
    let _ = SeqKey::decode(data);
    if let Ok(entry) = LogEntry::decode(1, data) {
        assert_eq!(LogEntry::decode(1, &entry.encode()).ok(), Some(entry));
    }
    if let Ok((rec, held)) = IndexRecord::decode_inline(b"k", data) {
        assert_eq!(held.is_some(), rec.holds_value());
        rec.encode_inline(held.unwrap_or_default(), |bytes| assert_eq!(bytes, data));
    }
}
