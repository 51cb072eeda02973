//! Harness `storage_decode`: decoders of bytes read from disk (log keys, log entries, index
//! records) never panic, and what decodes encodes back (the same bytes for the fixed-layout
//! index record, the same entry for a log entry).

use crate::storage::keys::{IndexRecord, LogEntry, SeqKey};

/// Runs one input; panics if a decoded record does not round-trip.
pub fn storage_decode(data: &[u8]) {
    let _ = SeqKey::decode(data);
    if let Ok(entry) = LogEntry::decode(1, data) {
        assert_eq!(LogEntry::decode(1, &entry.encode()).ok(), Some(entry));
    }
    if let Ok(rec) = IndexRecord::decode(b"k", data) {
        assert_eq!(rec.encode().as_ref(), data);
    }
}
