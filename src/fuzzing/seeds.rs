//! The seed corpus: valid inputs of every kind for each target, built from the real encoders so
//! they follow the formats as they change. `tests/fuzz_corpus_replays.rs` checks that every seed
//! is in `fuzz/corpus/<target>/` (and writes them with `MESHKV_WRITE_SEEDS=1`).

use bytes::BytesMut;
use tokio_util::codec::Encoder;

use crate::discovery::announcement::{derive_key, Announcement};
use crate::replication::frame::FrameCodec;
use crate::replication::message::{self, Hello, Message, MAGIC, PROTOCOL_VERSION};
use crate::storage::keys::{IndexRecord, LogEntry, SeqKey};
use crate::{Entry, NodeId, Op, Version};

/// Every fuzz target, named as under `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &[
    "frame_stream",
    "message",
    "handshake",
    "announcement",
    "apply",
    "storage_decode",
    #[cfg(feature = "server")]
    "resp",
];

/// One seed file.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The target it feeds.
    pub target: &'static str,
    /// Its file name.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

fn hello(cluster: &str) -> Message {
    Message::Hello(Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        cluster: cluster.into(),
        node_id: super::handshake::peer_id(),
        nonce: [3; 16],
        advertise: Some("127.0.0.1:7071".into()),
        limits: crate::replication::message::Limits::default(),
    })
}

/// One of each message type (the hello of the fuzzing cluster).
fn messages() -> Vec<Message> {
    let entry = Entry {
        key: b"k".to_vec(),
        value: Some(b"v".to_vec()),
        version: Version {
            clock: 1,
            timestamp: 5 << 16,
            origin: NodeId([2; 16]),
        },
        expires_at: Some(1_900_000_000_000),
    };
    vec![
        hello(super::handshake::CLUSTER),
        Message::Refuse {
            reason: "no".into(),
        },
        Message::Pull {
            cursor: Some(3),
            skip_own_after: Some(7),
            cursor_incarnation: Some(5),
            cursor_proof: Some([9; 32]),
        },
        Message::Batch {
            entries: vec![
                (2, entry.clone()),
                (
                    1,
                    Entry {
                        value: None,
                        ..entry.clone()
                    },
                ),
            ],
        },
        Message::End {
            high_seq: 2,
            incarnation: 5,
            proof: [9; 32],
            clock: 1 << 40,
        },
        Message::Heartbeat {
            last_seq: 2,
            clock_ms: 1_700_000_000_000,
        },
        Message::AskRanges,
        Message::Ranges {
            digests: vec![7; 256],
        },
        Message::AskSegments { ranges: vec![0, 9] },
        Message::Segments {
            range: 9,
            digests: vec![1; 256],
        },
        Message::AskDigests {
            segments: vec![9 * 256 + 4],
        },
        Message::Digests { digests: vec![1] },
        Message::AskVersions {
            segments: vec![9 * 256 + 4],
        },
        Message::Versions {
            versions: vec![(entry.key.clone(), entry.version)],
            last: true,
        },
        Message::AskEntries {
            keys: vec![entry.key.clone()],
        },
        Message::Entries {
            entries: vec![entry.clone()],
            through: 1,
        },
        Message::Push {
            entries: vec![entry],
        },
        Message::Pushed {
            applied: 1,
            refused: 0,
        },
        Message::Members {
            through: 2,
            applied: vec![(NodeId([1; 16]), 1 << 40)],
            members: vec![crate::replication::MemberRow {
                node_id: NodeId([1; 16]),
                address: Some("127.0.0.1:7070".into()),
                decommissioned: false,
                last_heard_ms: 1_700_000_000_000,
            }],
        },
    ]
}

fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for p in payloads {
        // Seeds are small: always encodable.
        let _ = FrameCodec::new(1 << 20).encode(p, &mut out);
    }
    out.to_vec()
}

/// A handshake input: mode, then the peer's part.
fn handshake_seed(mode: u8, messages: &[Message]) -> Vec<u8> {
    let mut out = vec![mode];
    if mode == 2 || mode == 5 {
        for m in messages {
            let mut plain = vec![0u8];
            plain.extend(message::encode(m));
            out.extend((plain.len() as u16).to_be_bytes());
            out.extend(plain);
        }
    } else {
        out.extend(framed(
            &messages.iter().map(message::encode).collect::<Vec<_>>(),
        ));
    }
    out
}

fn announcement_datagram(signed: bool, cluster: &str, ts: u64) -> Vec<u8> {
    let key = derive_key(super::announcement::KEY);
    Announcement {
        cluster: cluster.into(),
        node_id: NodeId([2; 16]),
        advertise: "127.0.0.1:7071".into(),
        timestamp_ms: ts,
    }
    .encode(signed.then_some(&key))
}

/// Every seed of every target.
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push(Seed {
            target,
            name: name.to_string(),
            bytes,
        })
    };
    let messages = messages();
    let payloads: Vec<Vec<u8>> = messages.iter().map(message::encode).collect();
    for (m, p) in messages.iter().zip(&payloads) {
        add("message", &format!("{}.bin", m.kind()), p.clone());
        let mut stream = vec![3, 7];
        stream.extend(framed(std::slice::from_ref(p)));
        add("frame_stream", &format!("{}.bin", m.kind()), stream);
    }
    let mut all = vec![3, 1];
    all.extend(framed(&payloads));
    add("frame_stream", "session.bin", all);
    let mut huge = vec![3, 1];
    huge.extend([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    add("frame_stream", "four-gib-prefix.bin", huge);

    let pull = Message::Pull {
        cursor: None,
        skip_own_after: None,
        cursor_incarnation: None,
        cursor_proof: None,
    };
    let ours = hello(super::handshake::CLUSTER);
    for mode in 0..super::handshake::MODES {
        add(
            "handshake",
            &format!("mode{mode}-hello.bin"),
            handshake_seed(mode, &[ours.clone(), pull.clone()]),
        );
    }
    add(
        "handshake",
        "mode0-other-cluster.bin",
        handshake_seed(0, &[hello("other")]),
    );
    add(
        "handshake",
        "mode2-pull-first.bin",
        handshake_seed(2, &[pull]),
    );
    add(
        "handshake",
        "mode5-refuse.bin",
        handshake_seed(
            5,
            &[Message::Refuse {
                reason: "no".into(),
            }],
        ),
    );

    let ts = 1_800_000_000_000;
    for (keyed, signed, name) in [(1u8, true, "signed"), (0, false, "unsigned")] {
        let mut input = vec![keyed];
        for (i, cluster) in [super::announcement::CLUSTER, "other"].iter().enumerate() {
            let d = announcement_datagram(signed, cluster, ts + i as u64);
            input.extend((d.len() as u16).to_be_bytes());
            input.extend(&d);
            input.push(1);
        }
        add("announcement", &format!("{name}.bin"), input);
    }

    // apply: a remote batch of two entries (op 1, n 2: key, value, clock, timestamp, origin),
    // a local put (op 0x10, key), a remote batch with a nil origin, a local delete.
    add(
        "apply",
        "remote-local-mix.bin",
        vec![
            1, 2, 0, 7, 1, 1, 2, 1, 0, 2, 2, 3, 0x10, 0, 1, 1, 0, 5, 1, 0, 0, 0,
        ],
    );
    add(
        "apply",
        "conflicts.bin",
        vec![1, 3, 0, 7, 1, 1, 2, 0, 8, 1, 2, 3, 0, 9, 1, 1, 4],
    );

    let version = Version {
        clock: 3,
        timestamp: 7 << 16,
        origin: NodeId([2; 16]),
    };
    let log = LogEntry {
        op: Op::Put,
        version,
        value_len: Some(300),
        expires_at: None,
        key: b"key".to_vec(),
    };
    add("storage_decode", "log-entry.bin", log.encode());
    let expiring = LogEntry {
        expires_at: Some(1_900_000_000_000),
        ..log.clone()
    };
    add(
        "storage_decode",
        "log-entry-expiring.bin",
        expiring.encode(),
    );
    // A put as format 1 wrote it: no value length (op 0).
    let old = LogEntry {
        value_len: None,
        ..log.clone()
    };
    add("storage_decode", "log-entry-format-1.bin", old.encode());
    let index = IndexRecord {
        seq: 9,
        op: Op::Delete,
        version,
        expires_at: None,
        swept: false,
    };
    add(
        "storage_decode",
        "index-record.bin",
        index.encode().as_ref().to_vec(),
    );
    let expiring_index = IndexRecord {
        op: Op::Put,
        expires_at: Some(1_900_000_000_000),
        ..index
    };
    add(
        "storage_decode",
        "index-record-expiring.bin",
        expiring_index.encode_inline(b"a value with a deadline", <[u8]>::to_vec),
    );
    add(
        "storage_decode",
        "seq-key.bin",
        SeqKey(42).encode().to_vec(),
    );
    #[cfg(feature = "server")]
    for (name, limits, stream) in resp_seeds() {
        let mut input = vec![limits, 5];
        input.extend_from_slice(stream);
        add("resp", name, input);
    }
    seeds
}

/// RESP seeds: file name, limits choice (see `fuzzing::resp`), request stream.
#[cfg(feature = "server")]
fn resp_seeds() -> [(&'static str, u8, &'static [u8]); 7] {
    [
        (
            "set-get.bin",
            2,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        ),
        (
            "set-options.bin",
            2,
            b"*5\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nNX\r\n$3\r\nGET\r\n\
              *5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$2\r\n10\r\n",
        ),
        (
            "scan-match.bin",
            2,
            b"*6\r\n$4\r\nSCAN\r\n$1\r\n0\r\n$5\r\nMATCH\r\n$4\r\nu[a-c]*\r\n\
              $5\r\nCOUNT\r\n$2\r\n10\r\n",
        ),
        (
            "inline-pipeline.bin",
            1,
            b"PING\r\nECHO hi\r\nMSET a 1 b 2\nMGET a b\r\nDEL a b\r\nEXISTS a\r\nDBSIZE\r\n\
              INFO replication\r\nCOMMAND DOCS\r\nHELLO 2\r\nCLIENT SETNAME x\r\nQUIT\r\n",
        ),
        (
            "unknown.bin",
            1,
            b"*3\r\n$3\r\nfoo\r\n$1\r\na\r\n$1\r\nb\r\n",
        ),
        (
            "oversize-bulk.bin",
            0,
            b"*2\r\n$3\r\nGET\r\n$999999999999\r\n",
        ),
        ("too-many-args.bin", 0, b"*5\r\n$4\r\nMGET\r\n$1\r\na\r\n"),
    ]
}
