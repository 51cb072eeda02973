//! Decoders of bytes read from disk never panic: log keys, log entries, index records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshkv::storage::keys::{IndexRecord, LogEntry, SeqKey};

fuzz_target!(|data: &[u8]| {
    let _ = SeqKey::decode(data);
    if let Ok(entry) = LogEntry::decode(1, data) {
        assert_eq!(LogEntry::decode(1, &entry.encode()).ok(), Some(entry));
    }
    if let Ok(rec) = IndexRecord::decode(b"k", data) {
        assert_eq!(&rec.encode()[..], data);
    }
});
