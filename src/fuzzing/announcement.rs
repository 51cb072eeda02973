//! Harness `announcement`: discovery's datagram parser and the membership state machine.
//!
//! Input: a byte choosing whether the receiver holds a key, then datagrams, each a `u16` length
//! (below 1024), that many bytes, and a byte of time passing. Checked: decoding never panics;
//! a datagram that decodes, unsigned or validly signed, encodes back to itself; a keyed
//! receiver never accepts a datagram without a valid HMAC (the fuzzer does not know the key, so
//! it only has one by copying a seed); the membership never accepts what the parser rejects;
//! every datagram is counted once, accepted or under one reason; the peer set stays bounded.

use std::time::{Duration, Instant};

use super::Input;
use crate::discovery::announcement::{self, Rejection};
use crate::discovery::membership::Heard;
use crate::discovery::{Membership, MulticastConfig};
use crate::NodeId;

/// The key seeds are signed with (see [`super::seeds`]).
pub const KEY: &[u8] = b"fuzzing-cluster-key-0123456789ab";
/// The cluster name the receiver belongs to.
pub const CLUSTER: &str = "fuzz";
/// The receiver's peer bound.
const MAX_PEERS: usize = 4;

/// Runs one input; panics on a broken invariant.
pub fn announcement(data: &[u8]) {
    let mut input = Input::new(data);
    let keyed = input.byte() & 1 == 1;
    let keys = if keyed {
        vec![announcement::derive_key(KEY)]
    } else {
        Vec::new()
    };
    let mut membership = Membership::new(
        &MulticastConfig::default(),
        CLUSTER.into(),
        NodeId([0xee; 16]),
        keys.clone(),
        "127.0.0.1:1".into(),
        MAX_PEERS,
    );
    let start = Instant::now();
    let mut received = 0u64;
    while !input.is_empty() {
        let len = usize::from(u16::from_be_bytes([input.byte(), input.byte()]) % 1024);
        let datagram = input.bytes(len);
        let advance = u64::from(input.byte()) * 100;
        let now = start + Duration::from_millis(advance * received);
        let wall_ms = 1_800_000_000_000 + advance * received;

        if let Ok(decoded) = announcement::decode(datagram) {
            let key = announcement::derive_key(KEY);
            if decoded.authenticated(&[]) {
                let again = decoded.announcement.encode(None);
                assert_eq!(
                    again, datagram,
                    "an unsigned announcement does not re-encode"
                );
            } else if decoded.authenticated(&[key]) {
                let again = decoded.announcement.encode(Some(&key));
                assert_eq!(again, datagram, "a signed announcement does not re-encode");
            }
        }
        let verdict = announcement::check(datagram, CLUSTER, &keys);
        let heard = membership.receive(datagram, wall_ms, now);
        received += 1;
        if let (Heard::New { .. } | Heard::Moved { .. } | Heard::Refreshed, Err(r)) =
            (&heard, &verdict)
        {
            panic!("membership accepted what the parser rejected ({r:?})");
        }
        if keyed && !matches!(heard, Heard::Rejected(_)) {
            let decoded = announcement::decode(datagram).expect("accepted, so it decodes");
            assert!(
                decoded.authenticated(&keys),
                "accepted an unsigned datagram"
            );
        }
        if let Heard::Rejected(r) = heard {
            assert!(
                verdict.is_err()
                    || matches!(
                        r,
                        Rejection::Own | Rejection::Replayed | Rejection::OverLimit
                    ),
                "rejected {r:?} what the parser accepts"
            );
        }
        let status = membership.status();
        assert_eq!(
            status.accepted + status.rejected(),
            received,
            "a datagram went uncounted"
        );
        assert!(membership.expire(now).len() <= MAX_PEERS);
    }
}
