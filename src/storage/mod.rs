//! The storage layer: RocksDB, its four column families and the atomic commit.
//!
//! - [`keys`]: typed keys and values of each column family and their byte layouts.
//! - `rocks`: opening (creating, checking the format, the node id), the RocksDB tuning, reads.
//! - `lease`: durable leases that keep the sequence and the clock from going back.
//! - `commit`: the one writer: local writes and remote applies, each one `WriteBatch` under the
//!   commit lock, with group commit so concurrent writers share one fsync.
//!
//! Invariants kept here (docs/design.md): 1 atomic commit, 2 one live log entry per key, 3 ordered
//! visibility, 4 the sequence never goes back, 5 deterministic resolution, 6 relay without echo,
//! 7 consistent sync reads, 9 tombstones stay.

pub(crate) mod commit;
pub mod keys;
pub(crate) mod lease;
pub(crate) mod rocks;

pub use rocks::rocksdb_options;

/// A key for error messages: UTF-8 text when it is printable, hex otherwise; cut at 64 bytes.
pub(crate) fn printable(key: &[u8]) -> String {
    let cut = &key[..key.len().min(64)];
    let more = if key.len() > 64 { "..." } else { "" };
    match std::str::from_utf8(cut) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}{more}"),
        _ => {
            let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
            format!("0x{hex}{more}")
        }
    }
}
