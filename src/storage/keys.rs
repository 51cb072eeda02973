//! Typed keys and values of the five column families and their byte encodings.
//!
//! | CF | key | value |
//! |---|---|---|
//! | `data` | user key | user value without a deadline (absent for deleted keys) |
//! | `log` | [`SeqKey`]: sequence number, `u64` big-endian (8 bytes) | [`LogEntry`] |
//! | `index` | user key | [`IndexRecord`], and a value with a deadline |
//! | `meta` | fixed ASCII names ([`meta`]) | per name, see there |
//! | `deadlines` | [`DeadlineKey`]: `expires_at u64 \| user key` | empty: the sweeper's order |
//!
//! A put's value is in `data` when it has no deadline and inside its index record when it has
//! one (format 4), never in both; a put past its deadline may have neither (the sweeper
//! removed its value). Keeping a deadline's value in the record it needs anyway makes a put
//! with a deadline three RocksDB entries (index, log, deadline), as a plain put is three
//! (data, log, index). Deadlines (`expires_at`) are milliseconds since the Unix epoch, at most
//! [`MAX_EXPIRES_AT_MS`].
//!
//! Layouts (all integers big-endian; a version is `clock u64 | timestamp u64 | origin 16 B`):
//! - `LogEntry`: `op u8 | version 32 B | [value length u32] | [expires_at u64] | user key
//!   (rest)`. Op 3 is a put with a deadline (its value's length, then the deadline; format 3),
//!   op 2 a put with its value's length (every put without a deadline written since format 2),
//!   op 1 a delete, op 0 a put written by format 1 (no length: its size is known only once its
//!   value is read).
//! - `IndexRecord`: `seq u64 | op u8 | version 32 B | [expires_at u64] | [value]`. Op 0 is a
//!   put without a deadline and op 1 a delete (41 bytes); op 3 a put with a deadline and its
//!   value (49 bytes and the value); op 2 a put past its deadline whose value is gone (the
//!   sweeper removed it, or it was applied already expired; 49 bytes). Format 3 kept the values
//!   of op-0 records of 49 bytes in an `expiring` column family ([`cf::LEGACY_EXPIRING`]);
//!   opening such a folder moves them into their records (`storage::migrate`).
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
    /// User key -> index record (with the value of a put with a deadline).
    pub const INDEX: &str = "index";
    /// Fixed names -> node metadata.
    pub const META: &str = "meta";
    /// `expires_at u64 | user key` -> empty: deadlines in order, for the sweeper (format 3).
    pub const DEADLINES: &str = "deadlines";
    /// All five, in creation order.
    pub const ALL: [&str; 5] = [DATA, LOG, INDEX, META, DEADLINES];
    /// The four every format has: a folder of format 2 or older lacks `deadlines`, which its
    /// first open creates (empty: it has no deadlines).
    pub const BASE: [&str; 4] = [DATA, LOG, INDEX, META];
    /// Format 3's user key -> `expires_at u64 | value` of puts with a deadline: a folder that
    /// still has it is migrated at open (`storage::migrate`), and it is dropped.
    pub const LEGACY_EXPIRING: &str = "expiring";
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
    /// Present (a UTF-8 explanation) once a peer told this node it was decommissioned from its
    /// cluster: replication refuses to start until the folder gets a new node id.
    pub const DECOMMISSIONED: &[u8] = b"decommissioned";
    /// Prefix of member records: `member/` + the member's 16-byte node id -> `state u8 |
    /// last_heard_ms u64 | address length u8 | address` (`storage::members`).
    pub const MEMBER_PREFIX: &[u8] = b"member/";

    /// The meta key of a member's record.
    pub fn member_key(member: &crate::NodeId) -> Vec<u8> {
        let mut k = MEMBER_PREFIX.to_vec();
        k.extend_from_slice(member.as_bytes());
        k
    }

    /// The meta key of a peer's cursor.
    pub fn cursor_key(peer: &crate::NodeId) -> Vec<u8> {
        let mut k = CURSOR_PREFIX.to_vec();
        k.extend_from_slice(peer.as_bytes());
        k
    }
}

/// The on-disk format this build writes and the newest it reads.
///
/// - 1: log entries of puts hold no value length (op 0).
/// - 2: log entries of puts record their value's length (op 2), so that a reader can plan its
///   value reads in bytes before it reads them. A format-1 folder opens as it is (its op-0
///   entries stay readable, no migration) and is marked format 2 by its first writable open, so
///   that a format-1 build, which would read op 2 as corruption, refuses it instead.
/// - 3: keys may expire: the `expiring` and `deadlines` column families, log op 3 and 49-byte
///   index records. A format-2 folder holds none of them, so it opens as it is (`deadlines` is
///   created empty) and is marked current by its first writable open.
/// - 4: a value with a deadline lives in its index record (op 3) instead of `expiring`. A
///   format-3 folder is migrated at open (`storage::migrate`).
pub const FORMAT_VERSION: u32 = 4;

/// The latest deadline a key may have, in milliseconds since the Unix epoch: the hybrid
/// clock's physical range (2^48 - 1 ms, the year 10889), so every deadline converts to a
/// `SystemTime` and compares with a clock reading.
pub const MAX_EXPIRES_AT_MS: u64 = (1 << 48) - 1;

/// A key of the `deadlines` column family: `expires_at u64 | user key`, so the family iterates
/// in deadline order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineKey;

impl DeadlineKey {
    /// The encoding of `key`'s deadline `expires_at`.
    pub fn encode(expires_at: u64, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + key.len());
        out.extend_from_slice(&expires_at.to_be_bytes());
        out.extend_from_slice(key);
        out
    }

    /// Decodes a `deadlines` key into its deadline and user key.
    pub fn decode(bytes: &[u8]) -> Result<(u64, &[u8])> {
        if bytes.len() <= 8 {
            return Err(Error::corrupt(
                "deadlines key",
                format!("{} bytes, expected more than 8", bytes.len()),
            ));
        }
        let mut at = [0u8; 8];
        at.copy_from_slice(&bytes[..8]);
        Ok((u64::from_be_bytes(at), &bytes[8..]))
    }
}

/// Decodes a format-3 `expiring` value of `key` (named in errors) into its deadline and value.
pub fn decode_expiring<'a>(key: &[u8], bytes: &'a [u8]) -> Result<(u64, &'a [u8])> {
    if bytes.len() < 8 {
        return Err(Error::corrupt(
            format!("expiring value of key {}", crate::storage::printable(key)),
            format!("{} bytes, expected at least 8", bytes.len()),
        ));
    }
    let mut at = [0u8; 8];
    at.copy_from_slice(&bytes[..8]);
    Ok((u64::from_be_bytes(at), &bytes[8..]))
}

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

/// Log op byte of a put that records its value's length (format 2). Index records keep the
/// two-valued op of [`op_byte`]: only the log needs the length.
const LOG_PUT_WITH_LEN: u8 = 2;

/// Log op byte of a put with a deadline: its value's length, then the deadline (format 3).
const LOG_PUT_EXPIRING: u8 = 3;

/// A log entry: which key a sequence number wrote, how, and with which version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Put or delete.
    pub op: Op,
    /// The write's version (original, for relayed entries).
    pub version: Version,
    /// The length of a put's value, recorded so that readers can bound their reads in bytes
    /// before reading values. `None` for deletes (ignored there by the encoders) and for puts
    /// written by format 1.
    pub value_len: Option<u32>,
    /// A put's deadline (ms since the Unix epoch), if it has one; `None` for deletes.
    pub expires_at: Option<u64>,
    /// The user key.
    pub key: Vec<u8>,
}

impl LogEntry {
    /// The encoded length of an entry of `key` with or without a value length and a deadline.
    pub fn encoded_len(
        op: Op,
        value_len: Option<u32>,
        expires_at: Option<u64>,
        key: &[u8],
    ) -> usize {
        let fields = match (op, value_len, expires_at) {
            (Op::Put, _, Some(_)) => 12,
            (Op::Put, Some(_), None) => 4,
            _ => 0,
        };
        1 + Version::ENCODED_LEN + fields + key.len()
    }

    /// Encodes an entry from its parts without building a `LogEntry`.
    pub fn encode_parts(
        op: Op,
        version: &Version,
        value_len: Option<u32>,
        expires_at: Option<u64>,
        key: &[u8],
    ) -> Vec<u8> {
        let mut out = vec![0u8; Self::encoded_len(op, value_len, expires_at, key)];
        Self::encode_parts_to_slice(&mut out, op, version, value_len, expires_at, key);
        out
    }

    /// Writes the encoding of an entry into `out`, which must be exactly
    /// [`LogEntry::encoded_len`] bytes long. A put with a deadline always records a length
    /// (0 when none is given: a put whose value was removed at its deadline).
    pub fn encode_parts_to_slice(
        out: &mut [u8],
        op: Op,
        version: &Version,
        value_len: Option<u32>,
        expires_at: Option<u64>,
        key: &[u8],
    ) {
        let head = 1 + Version::ENCODED_LEN;
        out[1..head].copy_from_slice(&version.encode());
        match (op, value_len, expires_at) {
            (Op::Put, len, Some(at)) => {
                out[0] = LOG_PUT_EXPIRING;
                out[head..head + 4].copy_from_slice(&len.unwrap_or(0).to_be_bytes());
                out[head + 4..head + 12].copy_from_slice(&at.to_be_bytes());
                out[head + 12..].copy_from_slice(key);
            }
            (Op::Put, Some(len), None) => {
                out[0] = LOG_PUT_WITH_LEN;
                out[head..head + 4].copy_from_slice(&len.to_be_bytes());
                out[head + 4..].copy_from_slice(key);
            }
            _ => {
                out[0] = op_byte(op);
                out[head..].copy_from_slice(key);
            }
        }
    }

    /// The byte encoding.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn encode(&self) -> Vec<u8> {
        Self::encode_parts(
            self.op,
            &self.version,
            self.value_len,
            self.expires_at,
            &self.key,
        )
    }

    /// Decodes the entry stored at `seq` (the sequence only names it in errors).
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Self> {
        let what = || format!("log entry {seq}");
        let Some(&byte) = bytes.first() else {
            return Err(Error::corrupt(what(), "0 bytes, expected an op byte"));
        };
        let (op, len_field) = match byte {
            LOG_PUT_EXPIRING => (Op::Put, 12),
            LOG_PUT_WITH_LEN => (Op::Put, 4),
            b => (op_from(b, what)?, 0),
        };
        let version_end = 1 + Version::ENCODED_LEN;
        let head = version_end + len_field;
        if bytes.len() <= head {
            return Err(Error::corrupt(
                what(),
                format!(
                    "{} bytes, expected more than {head} for op {byte}",
                    bytes.len()
                ),
            ));
        }
        let version = Version::decode(&bytes[1..version_end])
            .ok_or_else(|| Error::corrupt(what(), "bad version"))?;
        let value_len = (len_field >= 4).then(|| {
            let mut len = [0u8; 4];
            len.copy_from_slice(&bytes[version_end..version_end + 4]);
            u32::from_be_bytes(len)
        });
        let expires_at = (len_field == 12).then(|| {
            let mut at = [0u8; 8];
            at.copy_from_slice(&bytes[version_end + 4..head]);
            u64::from_be_bytes(at)
        });
        Ok(LogEntry {
            op,
            version,
            value_len,
            expires_at,
            key: bytes[head..].to_vec(),
        })
    }
}

/// A key's index record: where its one live log entry is, and its version. The value of a
/// put with a deadline follows it in the same bytes ([`IndexRecord::encode_inline`],
/// [`IndexRecord::decode_inline`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexRecord {
    /// The sequence of the key's live log entry.
    pub seq: u64,
    /// Put or delete.
    pub op: Op,
    /// The key's current version.
    pub version: Version,
    /// A put's deadline (ms since the Unix epoch), if it has one; `None` for deletes.
    pub expires_at: Option<u64>,
    /// True for a put past its deadline whose value is gone from its record (op byte 2): the
    /// sweeper removed it, or the put was applied after its deadline.
    pub swept: bool,
}

/// Index op byte of a put whose value is gone after its deadline.
const INDEX_SWEPT: u8 = IndexRecord::SWEPT_OP;

/// Index op byte of a put with a deadline, its value after the deadline (format 4).
const INDEX_INLINE: u8 = IndexRecord::INLINE_OP;

/// An encoded [`IndexRecord`] without a value: 41 or 49 bytes, on the stack.
#[derive(Clone, Copy, Debug)]
pub struct IndexBytes {
    buf: [u8; IndexRecord::MAX_ENCODED_LEN],
    len: usize,
}

impl AsRef<[u8]> for IndexBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl IndexRecord {
    /// Encoded length of a record without a deadline: 41 bytes.
    pub const ENCODED_LEN: usize = 8 + 1 + Version::ENCODED_LEN;
    /// Encoded length of a put's record with a deadline, before its value: 49 bytes.
    pub const MAX_ENCODED_LEN: usize = Self::ENCODED_LEN + 8;
    /// The op byte (at offset 8) of a record holding its put's value: 3.
    pub const INLINE_OP: u8 = 3;
    /// The op byte (at offset 8) of a put past its deadline whose value is gone: 2.
    pub const SWEPT_OP: u8 = 2;

    /// Whether the record holds its put's value: a put with a deadline not yet swept.
    pub fn holds_value(&self) -> bool {
        self.op == Op::Put && self.expires_at.is_some() && !self.swept
    }

    /// The byte encoding, without a value: a record that [holds one](Self::holds_value) is
    /// written with an empty value ([`IndexRecord::encode_inline`] writes it with its own).
    /// A deadline of a delete is not written.
    pub fn encode(&self) -> IndexBytes {
        let mut buf = [0u8; Self::MAX_ENCODED_LEN];
        buf[..8].copy_from_slice(&self.seq.to_be_bytes());
        buf[8] = op_byte(self.op);
        buf[9..Self::ENCODED_LEN].copy_from_slice(&self.version.encode());
        let len = match (self.op, self.expires_at) {
            (Op::Put, Some(at)) => {
                buf[8] = if self.swept {
                    INDEX_SWEPT
                } else {
                    INDEX_INLINE
                };
                buf[Self::ENCODED_LEN..].copy_from_slice(&at.to_be_bytes());
                Self::MAX_ENCODED_LEN
            }
            _ => Self::ENCODED_LEN,
        };
        IndexBytes { buf, len }
    }

    /// Calls `f` with the encoding of the record followed by `value` when it
    /// [holds one](Self::holds_value) (else `value` is ignored), built on the stack when short.
    pub fn encode_inline<R>(&self, value: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        let head = self.encode();
        if !self.holds_value() {
            return f(head.as_ref());
        }
        let len = head.len + value.len();
        let mut stack = [0u8; 320];
        if len <= stack.len() {
            stack[..head.len].copy_from_slice(head.as_ref());
            stack[head.len..len].copy_from_slice(value);
            f(&stack[..len])
        } else {
            let mut out = Vec::with_capacity(len);
            out.extend_from_slice(head.as_ref());
            out.extend_from_slice(value);
            f(&out)
        }
    }

    /// Decodes the index record of `key` (the key only names it in errors), ignoring the value
    /// it may hold.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        Self::decode_inline(key, bytes).map(|(rec, _)| rec)
    }

    /// Decodes the index record of `key` and the value it holds, if it
    /// [holds one](Self::holds_value).
    pub fn decode_inline<'a>(key: &[u8], bytes: &'a [u8]) -> Result<(Self, Option<&'a [u8]>)> {
        let what = || format!("index record of key {}", crate::storage::printable(key));
        let Some(&byte) = bytes.get(8) else {
            return Err(Error::corrupt(
                what(),
                format!("{} bytes, expected at least 41", bytes.len()),
            ));
        };
        let (op, expected) = match byte {
            INDEX_INLINE => (Op::Put, None),
            INDEX_SWEPT => (Op::Put, Some(Self::MAX_ENCODED_LEN)),
            b => (op_from(b, what)?, Some(Self::ENCODED_LEN)),
        };
        let fits = match expected {
            Some(len) => bytes.len() == len,
            None => bytes.len() >= Self::MAX_ENCODED_LEN,
        };
        if !fits {
            let expected = expected.unwrap_or(Self::MAX_ENCODED_LEN);
            return Err(Error::corrupt(
                what(),
                format!("{} bytes, expected {expected} for op {byte}", bytes.len()),
            ));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[..8]);
        let version = Version::decode(&bytes[9..Self::ENCODED_LEN])
            .ok_or_else(|| Error::corrupt(what(), "bad version"))?;
        let expires_at = bytes
            .get(Self::ENCODED_LEN..Self::MAX_ENCODED_LEN)
            .map(|at| {
                let mut b = [0u8; 8];
                b.copy_from_slice(at);
                u64::from_be_bytes(b)
            });
        let rec = IndexRecord {
            seq: u64::from_be_bytes(seq),
            op,
            version,
            expires_at,
            swept: byte == INDEX_SWEPT,
        };
        let value = (byte == INDEX_INLINE).then(|| &bytes[Self::MAX_ENCODED_LEN..]);
        Ok((rec, value))
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
        fn log_entries_round_trip(
            key in proptest::collection::vec(any::<u8>(), 1..64),
            clock: u64,
            del: bool,
            len: Option<u32>,
            at: Option<u64>,
        ) {
            let (op, value_len, expires_at) = match (del, at) {
                (true, _) => (Op::Delete, None, None),
                // A put with a deadline always records a length.
                (false, Some(at)) => (Op::Put, Some(len.unwrap_or(0)), Some(at)),
                (false, None) => (Op::Put, len, None),
            };
            let e = LogEntry { op, version: version(clock), value_len, expires_at, key };
            let bytes = e.encode();
            prop_assert_eq!(bytes.len(), LogEntry::encoded_len(op, value_len, expires_at, &e.key));
            prop_assert_eq!(LogEntry::decode(1, &bytes).unwrap(), e);
        }

        #[test]
        fn index_records_round_trip(
            seq: u64,
            clock: u64,
            del: bool,
            at: Option<u64>,
            swept: bool,
            value in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let op = if del { Op::Delete } else { Op::Put };
            let expires_at = at.filter(|_| !del);
            let swept = swept && expires_at.is_some();
            let r = IndexRecord { seq, op, version: version(clock), expires_at, swept };
            let bytes = r.encode();
            prop_assert_eq!(bytes.as_ref().len(), if expires_at.is_some() { 49 } else { 41 });
            prop_assert_eq!(IndexRecord::decode(b"k", bytes.as_ref()).unwrap(), r);
            let value = value.as_slice();
            let (back, held) = r.encode_inline(value, |b| {
                let (rec, held) = IndexRecord::decode_inline(b"k", b).unwrap();
                (rec, held.map(<[u8]>::to_vec))
            });
            prop_assert_eq!(back, r);
            prop_assert_eq!(held.as_deref(), r.holds_value().then_some(value));
        }

        #[test]
        fn deadline_keys_round_trip_and_sort_by_deadline(
            a: u64,
            b: u64,
            key in proptest::collection::vec(any::<u8>(), 1..32),
        ) {
            let ka = DeadlineKey::encode(a, &key);
            prop_assert_eq!(DeadlineKey::decode(&ka).unwrap(), (a, key.as_slice()));
            prop_assert_eq!(a.cmp(&b), ka.cmp(&DeadlineKey::encode(b, &key)));
            prop_assert_eq!(decode_expiring(b"k", &ka).unwrap(), (a, key.as_slice()));
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = SeqKey::decode(&bytes);
            let _ = LogEntry::decode(0, &bytes);
            let _ = IndexRecord::decode(b"k", &bytes);
            let _ = DeadlineKey::decode(&bytes);
            let _ = decode_expiring(b"k", &bytes);
            let _ = decode_u64(b"x", &bytes);
            let _ = decode_u32(b"x", &bytes);
        }
    }

    #[test]
    fn log_entry_layouts_are_the_documented_bytes() {
        let v = version(5);
        let mut put = vec![2];
        put.extend_from_slice(&v.encode());
        put.extend_from_slice(&70_000u32.to_be_bytes());
        put.extend_from_slice(b"key");
        assert_eq!(
            LogEntry::encode_parts(Op::Put, &v, Some(70_000), None, b"key"),
            put
        );
        let mut expiring = vec![3];
        expiring.extend_from_slice(&v.encode());
        expiring.extend_from_slice(&70_000u32.to_be_bytes());
        expiring.extend_from_slice(&1_900_000_000_000u64.to_be_bytes());
        expiring.extend_from_slice(b"key");
        assert_eq!(
            LogEntry::encode_parts(Op::Put, &v, Some(70_000), Some(1_900_000_000_000), b"key"),
            expiring
        );
        let mut delete = vec![1];
        delete.extend_from_slice(&v.encode());
        delete.extend_from_slice(b"key");
        assert_eq!(
            LogEntry::encode_parts(Op::Delete, &v, None, None, b"key"),
            delete
        );
        // A delete has no length or deadline to record, whatever the caller passes.
        assert_eq!(
            LogEntry::encode_parts(Op::Delete, &v, Some(9), Some(5), b"key"),
            delete
        );
    }

    #[test]
    fn format_1_entries_still_decode_without_a_length() {
        // Format 1 wrote puts as `0 | version | key`, deletes as `1 | version | key`.
        let v = version(8);
        for (byte, op) in [(0u8, Op::Put), (1, Op::Delete)] {
            let mut old = vec![byte];
            old.extend_from_slice(&v.encode());
            old.extend_from_slice(b"old key");
            let e = LogEntry::decode(3, &old).unwrap();
            assert_eq!(
                e,
                LogEntry {
                    op,
                    version: v,
                    value_len: None,
                    expires_at: None,
                    key: b"old key".to_vec()
                }
            );
            // Re-encoding keeps the old layout: nothing invents a length.
            assert_eq!(e.encode(), old);
        }
    }

    #[test]
    fn corrupt_bytes_are_typed_errors() {
        assert!(matches!(SeqKey::decode(b"abc"), Err(Error::Corrupt { .. })));
        // Empty, a head with no key, a length-carrying put cut inside its length or with no key.
        let full = LogEntry::encode_parts(Op::Put, &version(1), Some(3), None, b"k");
        for cut in [0, 33, 35, 37] {
            let err = LogEntry::decode(6, &full[..cut]).unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt { what, .. } if what == "log entry 6"),
                "{cut}: {err}"
            );
        }
        let mut bytes = LogEntry::encode_parts(Op::Put, &version(1), None, None, b"k");
        bytes[0] = 7;
        let err = LogEntry::decode(5, &bytes).unwrap_err();
        assert!(err.to_string().contains("log entry 5"), "{err}");
        assert!(matches!(
            IndexRecord::decode(b"k", &[0; 3]),
            Err(Error::Corrupt { .. })
        ));
        // A delete cannot have a deadline.
        let mut del = IndexRecord {
            seq: 1,
            op: Op::Put,
            version: version(1),
            expires_at: Some(7),
            swept: false,
        }
        .encode()
        .as_ref()
        .to_vec();
        del[8] = 1;
        assert!(matches!(
            IndexRecord::decode(b"k", &del),
            Err(Error::Corrupt { .. })
        ));
        // A swept put must have its deadline.
        del[8] = 2;
        assert!(IndexRecord::decode(b"k", &del).unwrap().swept);
        assert!(matches!(
            IndexRecord::decode(b"k", &del[..41]),
            Err(Error::Corrupt { .. })
        ));
        // A put holding its value must have its deadline; a plain put has neither (format 3's
        // 49-byte op-0 records exist only until the migration at open rewrites them).
        del[8] = 3;
        assert_eq!(
            IndexRecord::decode_inline(b"k", &del).unwrap().1,
            Some(&[][..])
        );
        assert!(IndexRecord::decode(b"k", &del[..48]).is_err());
        del[8] = 0;
        assert!(matches!(
            IndexRecord::decode(b"k", &del),
            Err(Error::Corrupt { .. })
        ));
        // An expiring put cut inside its deadline.
        let full = LogEntry::encode_parts(Op::Put, &version(1), Some(3), Some(9), b"k");
        assert!(LogEntry::decode(6, &full[..40]).is_err());
    }
}
