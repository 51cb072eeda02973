//! The announcement datagram: what a node multicasts every interval, and the pure checks a
//! receiver applies to one (no sockets, no clocks: timestamps are arguments).
//!
//! Byte layout (all integers big-endian), [`MAX_DATAGRAM`] bytes at most:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic [`MAGIC`] = `"meshkvmc"` |
//! | 8 | 2 | format version, `u16` = [`VERSION`] |
//! | 10 | 1 | flags: bit 0 set = an HMAC ends the datagram; other bits must be 0 |
//! | 11 | 1 | cluster name length `c`, 1..=255 |
//! | 12 | `c` | cluster name, UTF-8 |
//! | 12+c | 16 | node id |
//! | 28+c | 1 | advertised address length `a`, 1..=255 |
//! | 29+c | `a` | advertised address `host:port`, UTF-8: the TCP address peers should dial |
//! | 29+c+a | 8 | timestamp: sender's wall clock, milliseconds since the Unix epoch, `u64` |
//! | 37+c+a | 32 | HMAC-SHA256 of every byte before it (only with flag bit 0) |
//!
//! Anything else — a short or long datagram, trailing bytes, an unknown version or flag, a
//! length out of range, text that is not UTF-8, an address that is not `host:port` — is
//! [`Rejection::Malformed`]; decoding never panics and never allocates more than the datagram.
//!
//! Authentication: with cluster keys, the sender signs with the first key and a receiver accepts
//! a signature under any of its keys (rotation), checked in constant time. The HMAC key is
//! SHA-256 of `"meshkv-discovery-v1" || cluster key` ([`derive_key`]), so it differs from the
//! Noise pre-shared key derived from the same cluster key. A keyed receiver refuses unsigned
//! announcements; a receiver without keys refuses signed ones (their senders speak Noise, which
//! it cannot). Both are [`Rejection::Unauthenticated`].

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::NodeId;

/// Bytes every announcement starts with.
pub const MAGIC: [u8; 8] = *b"meshkvmc";

/// The announcement format this build writes and reads.
pub const VERSION: u16 = 1;

/// Length of the HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;

/// The largest well-formed announcement: 255-byte cluster name and address, and an HMAC.
pub const MAX_DATAGRAM: usize = 8 + 2 + 1 + 1 + 255 + NodeId::LEN + 1 + 255 + 8 + MAC_LEN;

const FLAG_MAC: u8 = 1;

type HmacSha256 = Hmac<Sha256>;

/// What a node says about itself on the multicast group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The sender's cluster name.
    pub cluster: String,
    /// The sender's node id.
    pub node_id: NodeId,
    /// The TCP address (`host:port`) peers should dial to reach the sender.
    pub advertise: String,
    /// The sender's wall clock when it sent this, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Why a receiver dropped a datagram; each reason has its own counter in
/// [`DiscoveryStatus`](super::DiscoveryStatus).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Over [`MAX_DATAGRAM`] bytes.
    #[error("datagram over {MAX_DATAGRAM} bytes")]
    TooLarge,
    /// Not a well-formed announcement; says which part is wrong.
    #[error("malformed announcement: {0}")]
    Malformed(&'static str),
    /// A well-formed announcement of another cluster.
    #[error("announcement from another cluster")]
    ForeignCluster,
    /// No valid HMAC under any of our keys (or an HMAC where we have no key).
    #[error("unauthenticated announcement")]
    Unauthenticated,
    /// A timestamp outside the replay window, or not newer than the sender's last one.
    #[error("replayed announcement (timestamp outside the window or not newer than the last)")]
    Replayed,
    /// Our own announcement, looped back.
    #[error("our own announcement")]
    Own,
    /// A new sender while the discovered set is full.
    #[error("too many discovered peers")]
    OverLimit,
}

/// The HMAC key for a cluster key: SHA-256 of `"meshkv-discovery-v1" || key`.
pub fn derive_key(cluster_key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"meshkv-discovery-v1");
    h.update(cluster_key);
    h.finalize().into()
}

fn hmac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC pads a key shorter than the hash's 64-byte block with zeros (RFC 2104); padding it
    // here makes construction infallible.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

impl Announcement {
    /// The datagram for this announcement, signed with `key` (a [`derive_key`] output) if given.
    ///
    /// The cluster name and address must hold 1 to 255 bytes (`NodeConfig::validate` and the
    /// node's address checks ensure it); longer ones are cut to 255 bytes, which receivers would
    /// then see as another cluster or a malformed address.
    pub fn encode(&self, key: Option<&[u8; 32]>) -> Vec<u8> {
        let cluster = &self.cluster.as_bytes()[..self.cluster.len().min(255)];
        let advertise = &self.advertise.as_bytes()[..self.advertise.len().min(255)];
        let mut out = Vec::with_capacity(MAX_DATAGRAM);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.push(if key.is_some() { FLAG_MAC } else { 0 });
        out.push(cluster.len() as u8);
        out.extend_from_slice(cluster);
        out.extend_from_slice(&self.node_id.0);
        out.push(advertise.len() as u8);
        out.extend_from_slice(advertise);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        if let Some(key) = key {
            let mut mac = hmac(key);
            mac.update(&out);
            out.extend_from_slice(&mac.finalize().into_bytes());
        }
        out
    }
}

/// A well-formed datagram, before its cluster and HMAC are checked.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The announcement it carries.
    pub announcement: Announcement,
    /// The bytes the HMAC covers.
    signed: &'a [u8],
    /// The HMAC, if the sender signed.
    mac: Option<&'a [u8]>,
}

impl Decoded<'_> {
    /// True if the datagram is acceptable under `keys` (outputs of [`derive_key`]): signed under
    /// any of them, or, with no keys, unsigned. Constant-time comparison.
    pub fn authenticated(&self, keys: &[[u8; 32]]) -> bool {
        match self.mac {
            None => keys.is_empty(),
            Some(tag) => keys.iter().any(|key| {
                let mut mac = hmac(key);
                mac.update(self.signed);
                mac.verify_slice(tag).is_ok()
            }),
        }
    }
}

/// Reads bytes off the front of a datagram; every read is bounds-checked.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Rejection> {
        if self.rest.len() < n {
            return Err(Rejection::Malformed(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, Rejection> {
        Ok(self.take(1, what)?[0])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Rejection> {
        self.take(N, what)?
            .try_into()
            .map_err(|_| Rejection::Malformed(what))
    }

    /// A `u8` length (1..=255), then that many bytes of UTF-8.
    fn text(&mut self, what: &'static str) -> Result<&'a str, Rejection> {
        let len = self.byte(what)? as usize;
        if len == 0 {
            return Err(Rejection::Malformed(what));
        }
        std::str::from_utf8(self.take(len, what)?).map_err(|_| Rejection::Malformed(what))
    }
}

/// Parses a datagram: size, magic, version, flags, fields, nothing left over. Checks neither
/// the cluster nor the HMAC (see [`check`]).
pub fn decode(datagram: &[u8]) -> Result<Decoded<'_>, Rejection> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Rejection::TooLarge);
    }
    let mut r = Reader { rest: datagram };
    if r.array::<8>("magic")? != MAGIC {
        return Err(Rejection::Malformed("magic"));
    }
    if u16::from_be_bytes(r.array("version")?) != VERSION {
        return Err(Rejection::Malformed("version"));
    }
    let flags = r.byte("flags")?;
    if flags & !FLAG_MAC != 0 {
        return Err(Rejection::Malformed("flags"));
    }
    let cluster = r.text("cluster")?.to_string();
    let node_id = NodeId(r.array("node id")?);
    if node_id.is_nil() {
        return Err(Rejection::Malformed("node id"));
    }
    let advertise = r.text("address")?;
    let well_formed = advertise
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !well_formed {
        return Err(Rejection::Malformed("address"));
    }
    let advertise = advertise.to_string();
    let timestamp_ms = u64::from_be_bytes(r.array("timestamp")?);
    let signed_len = datagram.len() - r.rest.len();
    let mac = if flags & FLAG_MAC != 0 {
        Some(r.take(MAC_LEN, "hmac")?)
    } else {
        None
    };
    if !r.rest.is_empty() {
        return Err(Rejection::Malformed("trailing bytes"));
    }
    Ok(Decoded {
        announcement: Announcement {
            cluster,
            node_id,
            advertise,
            timestamp_ms,
        },
        signed: &datagram[..signed_len],
        mac,
    })
}

/// Decodes a datagram and checks that it belongs to `cluster` and is authenticated under
/// `keys`: everything a receiver can decide without state. Replays and own announcements are
/// the [`Membership`](super::membership::Membership)'s business.
pub fn check(datagram: &[u8], cluster: &str, keys: &[[u8; 32]]) -> Result<Announcement, Rejection> {
    let decoded = decode(datagram)?;
    if decoded.announcement.cluster != cluster {
        return Err(Rejection::ForeignCluster);
    }
    if !decoded.authenticated(keys) {
        return Err(Rejection::Unauthenticated);
    }
    Ok(decoded.announcement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Announcement {
        Announcement {
            cluster: "prod".into(),
            node_id: NodeId([7; 16]),
            advertise: "10.0.0.5:7070".into(),
            timestamp_ms: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn golden_unsigned_layout() {
        let bytes = sample().encode(None);
        let mut expected = b"meshkvmc\x00\x01\x00\x04prod".to_vec();
        expected.extend_from_slice(&[7; 16]);
        expected.push(13);
        expected.extend_from_slice(b"10.0.0.5:7070");
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bytes, expected);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.announcement, sample());
        assert!(decoded.authenticated(&[]));
        assert!(!decoded.authenticated(&[derive_key(b"k")]));
    }

    #[test]
    fn signed_round_trip_and_rotation() {
        let (k1, k2) = (derive_key(b"key one"), derive_key(b"key two"));
        let bytes = sample().encode(Some(&k1));
        assert_eq!(bytes.len(), sample().encode(None).len() + MAC_LEN);
        assert_eq!(bytes[10], 1);
        assert_eq!(check(&bytes, "prod", &[k1]).unwrap(), sample());
        assert_eq!(check(&bytes, "prod", &[k2, k1]).unwrap(), sample());
        assert_eq!(
            check(&bytes, "prod", &[k2]),
            Err(Rejection::Unauthenticated)
        );
        assert_eq!(check(&bytes, "prod", &[]), Err(Rejection::Unauthenticated));
        assert_eq!(
            check(&sample().encode(None), "prod", &[k1]),
            Err(Rejection::Unauthenticated)
        );
        assert_eq!(
            check(&bytes, "other", &[k1]),
            Err(Rejection::ForeignCluster)
        );
    }

    #[test]
    fn infallible_hmac_matches_the_library_constructor() {
        let key = derive_key(b"some key");
        let mut ours = hmac(&key);
        let mut theirs = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
        ours.update(b"message");
        theirs.update(b"message");
        assert_eq!(ours.finalize().into_bytes(), theirs.finalize().into_bytes());
    }

    #[test]
    fn the_hmac_key_is_not_the_noise_psk() {
        let key = b"0123456789abcdef0123456789abcdef";
        assert_ne!(
            derive_key(key),
            crate::replication::handshake::derive_psk(key)
        );
    }

    #[test]
    fn every_flipped_bit_of_a_signed_datagram_is_rejected() {
        let key = derive_key(b"key");
        let bytes = sample().encode(Some(&key));
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(check(&bad, "prod", &[key]).is_err(), "bit {i}");
        }
    }

    #[test]
    fn every_truncation_and_extension_is_malformed() {
        let key = derive_key(b"key");
        for bytes in [sample().encode(None), sample().encode(Some(&key))] {
            for n in 0..bytes.len() {
                assert!(
                    matches!(decode(&bytes[..n]), Err(Rejection::Malformed(_))),
                    "prefix of {n} bytes"
                );
            }
            let mut long = bytes.clone();
            long.push(0);
            assert_eq!(
                decode(&long).unwrap_err(),
                Rejection::Malformed("trailing bytes")
            );
        }
        assert_eq!(
            decode(&[0; MAX_DATAGRAM + 1]).unwrap_err(),
            Rejection::TooLarge
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let good = sample().encode(None);
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            decode(&v).map(|d| d.announcement)
        };
        assert_eq!(with(0, b'X'), Err(Rejection::Malformed("magic")));
        assert_eq!(with(9, 2), Err(Rejection::Malformed("version")));
        assert_eq!(with(10, 2), Err(Rejection::Malformed("flags")));
        assert_eq!(with(11, 0), Err(Rejection::Malformed("cluster")));
        assert_eq!(with(12, 0xff), Err(Rejection::Malformed("cluster")));
        let bad_address = Announcement {
            advertise: "no-port".into(),
            ..sample()
        };
        assert_eq!(
            decode(&bad_address.encode(None)).unwrap_err(),
            Rejection::Malformed("address")
        );
    }

    #[test]
    fn largest_announcement_fits_the_limit() {
        let big = Announcement {
            cluster: "c".repeat(255),
            advertise: format!("{}:65535", "h".repeat(249)),
            ..sample()
        };
        let bytes = big.encode(Some(&derive_key(b"k")));
        assert_eq!(bytes.len(), MAX_DATAGRAM);
        assert_eq!(decode(&bytes).unwrap().announcement, big);
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, RngCore};
        let mut rng = rand::rng();
        let good = sample().encode(Some(&derive_key(b"k")));
        for _ in 0..20_000 {
            let mut bytes = if rng.random_bool(0.5) {
                good.clone()
            } else {
                let mut v = vec![0; rng.random_range(0..700)];
                rng.fill_bytes(&mut v);
                v
            };
            if !bytes.is_empty() {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
                bytes.truncate(rng.random_range(0..=bytes.len()));
            }
            let _ = check(&bytes, "prod", &[derive_key(b"k")]);
        }
    }
}
