//! Harness `handshake`: the real [`accept`](crate::replication::handshake) and `dial` over an
//! in-memory pipe, with the other side's bytes chosen by the fuzzer.
//!
//! The first byte picks a scenario ([`MODES`]); the rest is the peer's part:
//!
//! | mode | our side | the fuzzer is |
//! |---|---|---|
//! | 0 | plaintext listener | a dialer: raw bytes |
//! | 1 | keyed listener | a dialer without the key: raw bytes |
//! | 2 | keyed listener | a dialer holding the key: Noise done by the harness, then chosen plaintexts |
//! | 3 | plaintext dialer | a listener: raw bytes |
//! | 4 | keyed dialer | a listener without the key: raw bytes |
//! | 5 | keyed dialer | a listener holding the key: Noise done by the harness, then chosen plaintexts |
//!
//! In modes 2 and 5 the rest is a list of Noise transport plaintexts, each a `u16` length and
//! that many bytes (a chunk flag and a piece of an encoded message, see `channel`). Invariants:
//! the handshake ends (the peer's bytes end, so it must); a side without the peer's key never
//! accepts (modes 1 and 4); whatever is accepted passes `check_hello`. Either way the verdict
//! comes from the same `judge_hello` / `judge_reply` / `noise_respond` the node uses.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::{Encoder, FramedRead};

use super::Input;
use crate::replication::channel::NOISE_MAX;
use crate::replication::frame::FrameCodec;
use crate::replication::handshake::{self, HandshakeConfig};
use crate::storage::identity::NodeKey;
use crate::{NodeId, Result};

/// The number of scenarios.
pub const MODES: u8 = 6;
/// The cluster key of the keyed scenarios.
pub const KEY: &[u8] = b"fuzzing-cluster-key-0123456789ab";
/// Our side's cluster.
pub const CLUSTER: &str = "fuzz";
/// Our side's static private key; our node id is derived from it.
const OWN_KEY: [u8; 32] = [1; 32];
/// The fuzzer's static private key (the seeds' hello claims the id derived from it).
const PEER_KEY: [u8; 32] = [2; 32];

/// Our side's node id.
pub fn own_id() -> NodeId {
    NodeKey::from_private(OWN_KEY).node_id()
}

/// The node id the seeds' peer claims: the one its key proves.
pub fn peer_id() -> NodeId {
    NodeKey::from_private(PEER_KEY).node_id()
}

fn config(keyed: bool) -> HandshakeConfig {
    HandshakeConfig {
        cluster: CLUSTER.into(),
        node_id: own_id(),
        static_key: OWN_KEY,
        psks: if keyed {
            vec![handshake::derive_psk(KEY)]
        } else {
            Vec::new()
        },
        advertise: Some("127.0.0.1:7070".into()),
        max_message: 1 << 20,
        limits: crate::replication::message::Limits::default(),
        refused_ids: Default::default(),
    }
}

fn frame(payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    // Payloads here are at most a Noise message: always encodable.
    let _ = FrameCodec::new(NOISE_MAX).encode(payload, &mut out);
    out
}

/// Splits the rest of the input into plaintexts: `u16` length, bytes.
fn plaintexts(input: &mut Input<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let len = usize::from(u16::from_be_bytes([input.byte(), input.byte()]));
        out.push(input.bytes(len.min(NOISE_MAX - 16)).to_vec());
    }
    out
}

/// The fuzzer's side: raw bytes, or (with `noise`) Noise with the key, then plaintexts.
async fn peer(stream: DuplexStream, initiator: bool, noise: bool, mut input: Input<'_>) {
    let (read, mut write) = tokio::io::split(stream);
    let mut frames = FramedRead::new(read, FrameCodec::new(NOISE_MAX));
    if !noise {
        let _ = write.write_all(input.rest()).await;
    } else {
        let psk = handshake::derive_psk(KEY);
        let mut buf = vec![0u8; NOISE_MAX];
        let transport = if initiator {
            let Ok(mut hs) = handshake::noise_initiator(&psk, &PEER_KEY) else {
                return;
            };
            let Ok(n) = hs.write_message(&[], &mut buf) else {
                return;
            };
            let _ = write.write_all(&frame(&buf[..n])).await;
            let Some(Ok(reply)) = frames.next().await else {
                return;
            };
            if hs.read_message(&reply, &mut buf).is_err() {
                return;
            }
            let Ok(n) = hs.write_message(&[], &mut buf) else {
                return;
            };
            let _ = write.write_all(&frame(&buf[..n])).await;
            hs.into_transport_mode()
        } else {
            let Some(Ok(first)) = frames.next().await else {
                return;
            };
            let Some(mut hs) = handshake::noise_respond(&[psk], &PEER_KEY, &first) else {
                return;
            };
            let Ok(n) = hs.write_message(&[], &mut buf) else {
                return;
            };
            let _ = write.write_all(&frame(&buf[..n])).await;
            let Some(Ok(third)) = frames.next().await else {
                return;
            };
            if hs.read_message(&third, &mut buf).is_err() {
                return;
            }
            hs.into_transport_mode()
        };
        let Ok(mut transport) = transport else { return };
        for plain in plaintexts(&mut input) {
            if let Ok(n) = transport.write_message(&plain, &mut buf) {
                let _ = write.write_all(&frame(&buf[..n])).await;
            }
        }
    }
    let _ = write.shutdown().await;
    // Take whatever our side sends until it closes, so it never blocks on a full pipe.
    let mut read = frames.into_inner();
    let mut sink = Vec::new();
    let _ = read.read_to_end(&mut sink).await;
}

/// Runs one input; panics if the handshake hangs, accepts a peer without the key, or accepts a
/// hello that `check_hello` refuses.
pub fn handshake(data: &[u8]) {
    run(data);
}

/// Runs one input; true if our side accepted the peer.
pub fn run(data: &[u8]) -> bool {
    let mut input = Input::new(data);
    let mode = input.byte() % MODES;
    let (listening, keyed, noise) = match mode {
        0 => (true, false, false),
        1 => (true, true, false),
        2 => (true, true, true),
        3 => (false, false, false),
        4 => (false, true, false),
        _ => (false, true, true),
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return false;
    };
    let cfg = config(keyed);
    let result: Result<_> = runtime.block_on(async {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let run = async {
            if listening {
                handshake::accept(ours, "fuzz-peer".into(), &cfg).await
            } else {
                handshake::dial(ours, "fuzz-peer".into(), &cfg, 0).await
            }
            // Our end closes here, so the peer's read ends.
            .map(|(_channel, hello)| hello)
        };
        let both = async { tokio::join!(run, peer(theirs, listening, noise, input)).0 };
        tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .expect("the handshake hung although the peer's bytes ended")
    });
    if let Ok(hello) = result {
        assert!(
            !keyed || noise,
            "mode {mode}: accepted a peer that does not hold the key"
        );
        assert_eq!(handshake::check_hello(CLUSTER, own_id(), &hello), Ok(()));
        if keyed {
            // The only key a keyed peer here can prove is the fuzzer's.
            assert_eq!(
                hello.node_id,
                peer_id(),
                "accepted an id its key does not prove"
            );
        }
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_reach_every_verdict() {
        for seed in crate::fuzzing::seeds() {
            if seed.target != "handshake" {
                continue;
            }
            let accepted = run(&seed.bytes);
            let expected = matches!(
                seed.name.as_str(),
                "mode0-hello.bin" | "mode2-hello.bin" | "mode3-hello.bin" | "mode5-hello.bin"
            );
            assert_eq!(accepted, expected, "{}", seed.name);
        }
    }
}
