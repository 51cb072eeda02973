//! Typed keys and values of the four column families and their byte encodings.
//!
//! | CF | key | value |
//! |---|---|---|
//! | `data` | user key | user value (absent for deleted keys) |
//! | `log` | [`SeqKey`]: sequence number, `u64` big-endian (8 bytes) | [`LogEntry`] |
//! | `index` | user key | [`IndexRecord`] |
//! | `meta` | fixed ASCII names ([`meta`]) | per name, see there |
//!
//! Layouts (all integers big-endian; a version is `clock u64 | timestamp u64 | origin 16 B`):
//! - `LogEntry`: `op u8 (0 put, 1 delete) | version 32 B | user key (rest)`.
//! - `IndexRecord`: `seq u64 | op u8 | version 32 B` (41 bytes).
//!
//! Big-endian sequence keys sort in numeric order under RocksDB's bytewise comparator, so the
//! log iterates oldest to newest forwards and newest to oldest backwards. Decoders never panic:
//! malformed bytes are an [`Error::Corrupt`] naming the record.

use crate::{Error, Op, Result, Version};

/// Column family names.
pub mod cf {
    /// User key -> user value.
    pub const DATA: &str = "data";
    /// Sequence -> log entry.
    pub const LOG: &str = "log";
    /// User key -> index record.
    pub const INDEX: &str = "index";
    /// Fixed names -> node metadata.
    pub const META: &str = "meta";
    /// All four, in creation order.
    pub const ALL: [&str; 4] = [DATA, LOG, INDEX, META];
}

/// Names in the `meta` column family.
pub mod meta {
    /// On-disk format version, `u32` big-endian.
    pub const FORMAT: &[u8] = b"format";
    /// The node id, 16 bytes.
    pub const NODE_ID: &[u8] = b"node_id";
    /// Hybrid logical clock lease, `u64` big-endian: above every timestamp handed out.
    pub const HLC_LEASE: &[u8] = b"hlc_lease";
    /// Sequence lease, `u64` big-endian: above every sequence handed out.
    pub const SEQ_LEASE: &[u8] = b"seq_lease";
    /// This node's secret, 32 random bytes made with the folder (and by `renew-id`): the key of
    /// its cursor proofs (`replica::CursorProver`). Never sent, never logged.
    pub const NODE_SECRET: &[u8] = b"node_secret";
    /// Prefix of per-peer cursors: `cursor/` + the peer's 16-byte node id -> the last sequence
    /// of that peer's log committed here, `u64` big-endian, then the peer's incarnation that
    /// sequence was read from, `u64` big-endian, then the peer's 32-byte proof of the two
    /// (48 bytes; a 16-byte record has no proof, an 8-byte one incarnation 0 too).
    pub const CURSOR_PREFIX: &[u8] = b"cursor/";
    /// Present (a UTF-8 explanation) once a peer showed that this folder is an old copy of a
    /// node that has since handed out later sequences: replication refuses to start until the
    /// folder gets a new node id (`Db::renew_node_id`).
    pub const ROLLED_BACK: &[u8] = b"rolled_back";

    /// The meta key of a peer's cursor.
    pub fn cursor_key(peer: &crate::NodeId) -> Vec<u8> {
        let mut k = CURSOR_PREFIX.to_vec();
        k.extend_from_slice(peer.as_bytes());
        k
    }
}

/// The on-disk format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// A log key: the local sequence number, 8 bytes big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqKey(pub u64);

impl SeqKey {
    /// The 8-byte order-preserving encoding.
    pub fn encode(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Decodes a log key.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        <[u8; 8]>::try_from(bytes)
            .map(|b| SeqKey(u64::from_be_bytes(b)))
            .map_err(|_| Error::corrupt("log key", format!("{} bytes, expected 8", bytes.len())))
    }
}

fn op_byte(op: Op) -> u8 {
    match op {
        Op::Put => 0,
        Op::Delete => 1,
    }
}

fn op_from(byte: u8, what: impl Fn() -> String) -> Result<Op> {
    match byte {
        0 => Ok(Op::Put),
        1 => Ok(Op::Delete),
        b => Err(Error::corrupt(what(), format!("unknown op byte {b}"))),
    }
}

/// A log entry: which key a sequence number wrote, how, and with which version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Put or delete.
    pub op: Op,
    /// The write's version (original, for relayed entries).
    pub version: Version,
    /// The user key.
    pub key: Vec<u8>,
}

impl LogEntry {
    /// Encodes `op | version | key` without building a `LogEntry`.
    pub fn encode_parts(op: Op, version: &Version, key: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 1 + Version::ENCODED_LEN + key.len()];
        Self::encode_parts_to_slice(&mut out, op, version, key);
        out
    }

    /// Writes the encoding of `op | version | key` into `out`, which must be exactly
    /// `1 + 32 + key.len()` bytes long.
    pub fn encode_parts_to_slice(out: &mut [u8], op: Op, version: &Version, key: &[u8]) {
        out[0] = op_byte(op);
        out[1..33].copy_from_slice(&version.encode());
        out[33..].copy_from_slice(key);
    }

    /// The byte encoding.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn encode(&self) -> Vec<u8> {
        Self::encode_parts(self.op, &self.version, &self.key)
    }

    /// Decodes the entry stored at `seq` (the sequence only names it in errors).
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Self> {
        let what = || format!("log entry {seq}");
        let head = 1 + Version::ENCODED_LEN;
        if bytes.len() <= head {
            return Err(Error::corrupt(
                what(),
                format!("{} bytes, expected more than {head}", bytes.len()),
            ));
        }
        let op = op_from(bytes[0], what)?;
        let version = Version::decode(&bytes[1..head])
            .ok_or_else(|| Error::corrupt(what(), "bad version"))?;
        Ok(LogEntry {
            op,
            version,
            key: bytes[head..].to_vec(),
        })
    }
}

/// A key's index record: where its one live log entry is, and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexRecord {
    /// The sequence of the key's live log entry.
    pub seq: u64,
    /// Put or delete.
    pub op: Op,
    /// The key's current version.
    pub version: Version,
}

impl IndexRecord {
    /// Encoded length: 41 bytes.
    pub const ENCODED_LEN: usize = 8 + 1 + Version::ENCODED_LEN;

    /// The byte encoding.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8] = op_byte(self.op);
        out[9..].copy_from_slice(&self.version.encode());
        out
    }

    /// Decodes the index record of `key` (the key only names it in errors).
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        let what = || format!("index record of key {}", crate::storage::printable(key));
        if bytes.len() != Self::ENCODED_LEN {
            return Err(Error::corrupt(
                what(),
                format!("{} bytes, expected {}", bytes.len(), Self::ENCODED_LEN),
            ));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[..8]);
        let op = op_from(bytes[8], what)?;
        let version =
            Version::decode(&bytes[9..]).ok_or_else(|| Error::corrupt(what(), "bad version"))?;
        Ok(IndexRecord {
            seq: u64::from_be_bytes(seq),
            op,
            version,
        })
    }
}

/// Decodes a `u64` big-endian meta value.
pub fn decode_u64(name: &[u8], bytes: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| {
            Error::corrupt(
                format!("meta record {:?}", String::from_utf8_lossy(name)),
                format!("{} bytes, expected 8", bytes.len()),
            )
        })
}

/// Decodes a `u32` big-endian meta value.
pub fn decode_u32(name: &[u8], bytes: &[u8]) -> Result<u32> {
    <[u8; 4]>::try_from(bytes)
        .map(u32::from_be_bytes)
        .map_err(|_| {
            Error::corrupt(
                format!("meta record {:?}", String::from_utf8_lossy(name)),
                format!("{} bytes, expected 4", bytes.len()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;
    use proptest::prelude::*;

    fn version(clock: u64) -> Version {
        Version {
            clock,
            timestamp: 99,
            origin: NodeId([3; 16]),
        }
    }

    proptest! {
        #[test]
        fn seq_keys_round_trip_and_keep_order(a: u64, b: u64) {
            prop_assert_eq!(SeqKey::decode(&SeqKey(a).encode()).unwrap(), SeqKey(a));
            prop_assert_eq!(a.cmp(&b), SeqKey(a).encode().cmp(&SeqKey(b).encode()));
        }

        #[test]
        fn log_entries_round_trip(key in proptest::collection::vec(any::<u8>(), 1..64), clock: u64, del: bool) {
            let e = LogEntry { op: if del { Op::Delete } else { Op::Put }, version: version(clock), key };
            prop_assert_eq!(LogEntry::decode(1, &e.encode()).unwrap(), e);
        }

        #[test]
        fn index_records_round_trip(seq: u64, clock: u64, del: bool) {
            let r = IndexRecord { seq, op: if del { Op::Delete } else { Op::Put }, version: version(clock) };
            prop_assert_eq!(IndexRecord::decode(b"k", &r.encode()).unwrap(), r);
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = SeqKey::decode(&bytes);
            let _ = LogEntry::decode(0, &bytes);
            let _ = IndexRecord::decode(b"k", &bytes);
            let _ = decode_u64(b"x", &bytes);
            let _ = decode_u32(b"x", &bytes);
        }
    }

    #[test]
    fn corrupt_bytes_are_typed_errors() {
        assert!(matches!(SeqKey::decode(b"abc"), Err(Error::Corrupt { .. })));
        let mut bytes = LogEntry::encode_parts(Op::Put, &version(1), b"k");
        bytes[0] = 7;
        let err = LogEntry::decode(5, &bytes).unwrap_err();
        assert!(err.to_string().contains("log entry 5"), "{err}");
        assert!(matches!(
            IndexRecord::decode(b"k", &[0; 3]),
            Err(Error::Corrupt { .. })
        ));
    }
}
