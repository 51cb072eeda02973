//! The messages of the replication protocol and their one bincode configuration.
//!
//! Every message travels as one frame payload (see [`frame`](super::frame)): the bincode
//! encoding of [`Message`] with [`config`]: big-endian, fixed-width integers, and a decode limit
//! of 1 GiB (the largest frame allowed).
//!
//! Allocation while decoding is bounded by what arrived, not by what a length claims: byte
//! strings and lists decode through serde's sequence path, which preallocates at most 1 MiB
//! whatever the claim and grows only with bytes actually read. Text fields (cluster names,
//! refusal reasons, addresses) are decoded the same way ([`bounded`]): bincode's own `String`
//! decoding would allocate the claimed length up front, so a 14-byte payload claiming a 1 GiB
//! string made the decoder allocate 1 GiB, before authentication (found by the `message` fuzz
//! target; `fuzz/corpus/message/regression-*` keep it fixed).
//!
//! Flow on one connection (the dialer pulls, the listener serves):
//!
//! ```text
//! dialer                                   listener
//!   |-- [Noise XXpsk0: psk, e] ----------->|   only with cluster keys
//!   |<-------- [e, ee, s, es] -------------|
//!   |-- [s, se] -------------------------->|
//!   |-- Hello ---------------------------->|   checked: magic, version, cluster, node id
//!   |<------------------- Hello | Refuse --|
//!   |-- Pull { cursor, skip_own_after } -->|
//!   |<------------ Batch, Batch, ..., End -|   one snapshot, newest first, byte-bounded,
//!   |                                      |   without the dialer's own recent writes
//!   |<------------ Batch, ..., End --------|   again whenever new writes commit
//!   |<-------------- Heartbeat ----------->|   both ways, every heartbeat interval
//! ```
//!
//! An anti-entropy connection (`replication/repair_session.rs`) has the same handshake, then the
//! dialer compares digests instead of pulling; each ask has its answer before the next ask:
//!
//! ```text
//!   |-- AskRanges ------------------------>|
//!   |<------------------------------ Ranges|   256 range digests
//!   |-- AskSegments { ranges } ----------->|
//!   |<-------------- Segments, Segments, ..|   one per range asked
//!   |-- AskDigests { segments } ---------->|   0 to 4 times (2 from meshkv): still different?
//!   |<----------------------------- Digests|
//!   |-- AskVersions { segments } --------->|
//!   |<------------- Versions, ..., Versions|   byte-bounded chunks; the last has `last`
//!   |-- AskEntries { keys } -------------->|   the keys the peer holds newer
//!   |<------------------------------ Entries|
//!   |-- Push { entries } ----------------->|   what the peer lacks
//!   |<------------------------------ Pushed|
//! ```

use serde::{Deserialize, Serialize};

use crate::replica::Proof;
use crate::{Entry, NodeId, Version};

/// Bytes every hello starts with.
pub const MAGIC: [u8; 8] = *b"meshkv\0\x01";

/// The protocol version this build speaks (3: keyed peers prove a static key, `XXpsk0`, and the
/// hello's node id must be the one derived from it; 4: entries carry their deadline,
/// `Entry::expires_at`, so a batch of version 3 no longer decodes; 5: anti-entropy connections,
/// whose first message is [`Message::AskRanges`] instead of `Pull`).
pub const PROTOCOL_VERSION: u32 = 6;

/// A node's introduction, the first message each way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`MAGIC`].
    pub magic: [u8; 8],
    /// The sender's [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The cluster name the sender belongs to.
    #[serde(deserialize_with = "bounded::string")]
    pub cluster: String,
    /// The sender's node id.
    pub node_id: NodeId,
    /// A fresh random value per connection.
    pub nonce: [u8; 16],
    /// The address peers should dial to reach the sender, if it listens.
    #[serde(deserialize_with = "bounded::opt_string")]
    pub advertise: Option<String>,
    /// The sizes the sender accepts and sends.
    pub limits: Limits,
}

/// The sizes a node accepts and sends, exchanged in the hello so that a node never serves a
/// puller what it would refuse (see `handshake::check_pull`). `Default`: the limits of the
/// default `Options` and `NodeConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Its `Options::max_key_size`.
    pub max_key_size: u64,
    /// Its `Options::max_value_size`.
    pub max_value_size: u64,
    /// Its `NodeConfig::max_frame_size`: the largest message it accepts.
    pub max_frame_size: u64,
    /// Its `NodeConfig::sync_batch_bytes`: the size of the batches it sends.
    pub sync_batch_bytes: u64,
    /// Its `NodeConfig::max_clock_drift` in milliseconds: it refuses entries whose timestamp is
    /// further ahead of its wall clock than this.
    pub max_clock_drift_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::of(&crate::Options::default(), &super::NodeConfig::default())
    }
}

/// Room for what a batch adds to its entries' keys and values (sequences, versions, lengths,
/// the message tag), per message: far above the bytes bincode adds to one entry.
pub const ENTRY_OVERHEAD: u64 = 1 << 10;

impl Limits {
    /// The limits of a node opened with `options` and started with `config`.
    pub fn of(options: &crate::Options, config: &super::NodeConfig) -> Limits {
        Limits {
            max_key_size: options.max_key_size as u64,
            max_value_size: options.max_value_size as u64,
            max_frame_size: config.max_frame_size as u64,
            sync_batch_bytes: config.sync_batch_bytes as u64,
            max_clock_drift_ms: config.max_clock_drift.as_millis().min(u64::MAX as u128) as u64,
        }
    }

    /// The largest message a node with these limits sends in a round: a batch of about
    /// `sync_batch_bytes`, or one entry of the largest key and value alone.
    pub fn largest_message(&self) -> u64 {
        self.sync_batch_bytes
            .max(self.max_key_size.saturating_add(self.max_value_size))
            .saturating_add(ENTRY_OVERHEAD)
    }
}

/// One message of the replication protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Introduction; see [`Hello`].
    Hello(Hello),
    /// The hello was not accepted; the sender closes the connection after this.
    Refuse {
        /// Why, for the other side's logs and status.
        #[serde(deserialize_with = "bounded::string")]
        reason: String,
    },
    /// The dialer asks for every entry above `cursor` (`None`: everything).
    Pull {
        /// The last sequence of the listener's log the dialer has committed.
        cursor: Option<u64>,
        /// The dialer's
        /// [`Replica::holds_own_writes_after`](crate::replica::Replica::holds_own_writes_after):
        /// the listener leaves out the dialer's own writes with a timestamp above it, which the
        /// dialer holds (no echo). `None`: send everything.
        skip_own_after: Option<u64>,
        /// The listener's incarnation `cursor` was read from (from its `End`): a cursor at or
        /// above the listener's sequence floor from another incarnation, with a valid
        /// `cursor_proof`, shows the listener is an old copy of its folder.
        cursor_incarnation: Option<u64>,
        /// The listener's proof of `cursor` and `cursor_incarnation` (from its `End`); without
        /// it a cursor is never evidence of anything.
        cursor_proof: Option<Proof>,
    },
    /// Log entries with their local sequence on the sender, newest first within a round.
    Batch {
        /// `(sequence, entry)` pairs.
        entries: Vec<(u64, Entry)>,
    },
    /// The end of a round: every entry up to `high_seq` has been sent.
    End {
        /// The high sequence of the round's snapshot: the dialer's next cursor.
        high_seq: u64,
        /// The sender's incarnation
        /// ([`Replica::incarnation`](crate::replica::Replica::incarnation)), stored with the
        /// cursor.
        incarnation: u64,
        /// The sender's proof of `high_seq` and `incarnation`
        /// ([`CursorProver`](crate::replica::CursorProver)), stored with the cursor.
        proof: Proof,
        /// The sender's hybrid clock reading taken with its last sequence just before the
        /// round's snapshot: every write the sender made with a timestamp at or below it is in
        /// the round or below the dialer's cursor, so once the round is committed (no entry
        /// refused) the dialer holds the sender's own writes up to it (its applied frontier).
        clock: u64,
    },
    /// Liveness, both ways; carries the sender's last committed sequence and its wall clock.
    Heartbeat {
        /// The sender's last committed sequence.
        last_seq: u64,
        /// The sender's wall clock (`Options::clock`, milliseconds since the Unix epoch) when it
        /// sent this: with its `max_clock_drift`, what the receiver needs to know which of its
        /// own timestamps the sender accepts (docs/design.md, "Clocks").
        clock_ms: u64,
    },
    /// Anti-entropy, the dialer's first message on a connection of its own: asks for the
    /// listener's 256 range digests.
    AskRanges,
    /// The listener's range digests ([`DigestTree::ranges`](crate::replica::DigestTree::ranges)).
    Ranges {
        /// 256 digests, range 0 first.
        digests: Vec<u128>,
    },
    /// Asks for the segment digests of these ranges.
    AskSegments {
        /// Range numbers, each at most once.
        ranges: Vec<u8>,
    },
    /// The 256 segment digests of one asked range; one message per range, in the order asked.
    Segments {
        /// The range.
        range: u8,
        /// Its 256 segment digests.
        digests: Vec<u128>,
    },
    /// Asks again for the digests of these segments (a difference that lasts, not a write in
    /// flight).
    AskDigests {
        /// Segment numbers, each at most once.
        segments: Vec<u16>,
    },
    /// The digests of the asked segments, in the order asked.
    Digests {
        /// One per segment.
        digests: Vec<u128>,
    },
    /// Asks for the `(key, version)` of every record in these segments.
    AskVersions {
        /// Segment numbers, each at most once.
        segments: Vec<u16>,
    },
    /// A chunk of the asked list, bounded in bytes.
    Versions {
        /// `(key, version)` pairs.
        versions: Vec<(Vec<u8>, Version)>,
        /// True on the last chunk.
        last: bool,
    },
    /// Asks for the entries of these keys (ones the listener listed at a version the dialer
    /// lacks).
    AskEntries {
        /// The keys, in the order wanted.
        keys: Vec<Vec<u8>>,
    },
    /// Entries of the asked keys, in the order asked, bounded in bytes: the keys after
    /// `through` are left for another ask.
    Entries {
        /// The entries (a key without a record is left out).
        entries: Vec<Entry>,
        /// How many of the asked keys this answer went through (at least one).
        through: u64,
    },
    /// Entries the dialer holds that the listener listed older or not at all.
    Push {
        /// The entries.
        entries: Vec<Entry>,
    },
    /// The listener's applied frontier and member rows (docs/design.md, **Membership**), sent
    /// after a heartbeat when they changed: the dialer merges `applied` once its cursor is at or
    /// above `through`, and takes the rows at once.
    Members {
        /// The listener's last committed sequence when `applied` was captured.
        through: u64,
        /// The listener's applied frontier: `(origin, hybrid-clock reading)`, at most
        /// [`MAX_MEMBERS`](super::members::MAX_MEMBERS).
        applied: Vec<(NodeId, u64)>,
        /// The members the listener knows, itself included, at most
        /// [`MAX_MEMBERS`](super::members::MAX_MEMBERS).
        members: Vec<super::members::MemberRow>,
    },
    /// What the listener made of a `Push`.
    Pushed {
        /// Entries that won and were committed.
        applied: u64,
        /// Entries refused (implausible versions, over its size limits).
        refused: u64,
    },
}

impl Message {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Refuse { .. } => "refuse",
            Message::Pull { .. } => "pull",
            Message::Batch { .. } => "batch",
            Message::End { .. } => "end",
            Message::Heartbeat { .. } => "heartbeat",
            Message::AskRanges => "ask-ranges",
            Message::Ranges { .. } => "ranges",
            Message::AskSegments { .. } => "ask-segments",
            Message::Segments { .. } => "segments",
            Message::AskDigests { .. } => "ask-digests",
            Message::Digests { .. } => "digests",
            Message::AskVersions { .. } => "ask-versions",
            Message::Versions { .. } => "versions",
            Message::AskEntries { .. } => "ask-entries",
            Message::Entries { .. } => "entries",
            Message::Push { .. } => "push",
            Message::Pushed { .. } => "pushed",
            Message::Members { .. } => "members",
        }
    }
}

/// Text fields decoded as byte sequences: the same bytes on the wire as a `String` (a `u64`
/// length, then UTF-8), but no allocation beyond the bytes actually present (plus serde's 1 MiB
/// cautious preallocation at most).
pub mod bounded {
    use serde::{Deserialize, Deserializer};

    /// A UTF-8 string, allocated as its bytes arrive.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        String::from_utf8(Vec::<u8>::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    /// An optional UTF-8 string, allocated as its bytes arrive.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<Vec<u8>>::deserialize(d)?
            .map(String::from_utf8)
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

/// Why a payload is not a message.
#[derive(Debug, thiserror::Error)]
#[error("undecodable message: {0}")]
pub struct DecodeError(String);

/// The decode limit: no message may claim more bytes than the largest frame allowed.
pub const DECODE_LIMIT: usize = 1 << 30;

/// The one bincode configuration of the protocol.
pub fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

/// Encodes a message as a frame payload.
pub fn encode(message: &Message) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail.
    bincode::serde::encode_to_vec(message, config()).unwrap_or_default()
}

/// Decodes a frame payload; the whole payload must be one message.
pub fn decode(payload: &[u8]) -> Result<Message, DecodeError> {
    // With a limit set, bincode checks each claimed collection length against it before it
    // allocates, and serde preallocates cautiously; the frame bounds the payload itself.
    let (message, used): (Message, usize) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|e| DecodeError(e.to_string()))?;
    if used != payload.len() {
        return Err(DecodeError(format!(
            "{} trailing bytes after a {}",
            payload.len() - used,
            message.kind()
        )));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;
    use proptest::prelude::*;

    fn samples() -> Vec<Message> {
        let entry = Entry {
            key: b"k".to_vec(),
            value: Some(b"v".to_vec()),
            version: Version {
                clock: 3,
                timestamp: 99,
                origin: NodeId([7; 16]),
            },
            expires_at: None,
        };
        vec![
            Message::Hello(Hello {
                magic: MAGIC,
                version: PROTOCOL_VERSION,
                cluster: "prod".into(),
                node_id: NodeId([1; 16]),
                nonce: [2; 16],
                advertise: Some("10.0.0.1:7070".into()),
                limits: Limits::default(),
            }),
            Message::Refuse {
                reason: "no".into(),
            },
            Message::Pull {
                cursor: Some(5),
                skip_own_after: Some(7),
                cursor_incarnation: Some(11),
                cursor_proof: Some([4; 32]),
            },
            Message::Pull {
                cursor: None,
                skip_own_after: None,
                cursor_incarnation: None,
                cursor_proof: None,
            },
            Message::Batch {
                entries: vec![
                    (4, entry.clone()),
                    (
                        2,
                        Entry {
                            value: None,
                            ..entry.clone()
                        },
                    ),
                ],
            },
            Message::End {
                high_seq: 9,
                incarnation: 3,
                proof: [5; 32],
                clock: 77,
            },
            Message::Heartbeat {
                last_seq: 9,
                clock_ms: 1_700_000_000_000,
            },
            Message::AskRanges,
            Message::Ranges {
                digests: vec![u128::MAX, 0, 1 << 100],
            },
            Message::AskSegments {
                ranges: vec![0, 255],
            },
            Message::Segments {
                range: 7,
                digests: vec![3; 256],
            },
            Message::AskDigests {
                segments: vec![0, 65535],
            },
            Message::Digests {
                digests: vec![9, 8],
            },
            Message::AskVersions {
                segments: vec![1, 2],
            },
            Message::Versions {
                versions: vec![(b"k".to_vec(), entry.version)],
                last: true,
            },
            Message::AskEntries {
                keys: vec![b"k".to_vec(), Vec::new()],
            },
            Message::Entries {
                entries: vec![entry.clone()],
                through: 2,
            },
            Message::Push {
                entries: vec![entry.clone()],
            },
            Message::Pushed {
                applied: 1,
                refused: 0,
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            assert_eq!(decode(&encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn trailing_bytes_and_truncation_are_errors() {
        for m in samples() {
            let mut bytes = encode(&m);
            bytes.push(0);
            assert!(decode(&bytes).is_err());
            bytes.truncate(bytes.len() - 2);
            assert!(decode(&bytes).is_err());
        }
    }

    #[test]
    fn a_huge_claimed_length_does_not_allocate() {
        // Batch variant tag, then a vector length of 2^60.
        let mut bytes = 3u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&(1u64 << 60).to_be_bytes());
        assert!(decode(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
