//! Node ids and write versions.
//!
//! A [`Version`] is what every write carries from the node that made it to every node that
//! applies it: `(clock, timestamp, origin)`.
//!
//! - `clock`: the key's logical clock. The previous version's clock + 1, or 1 for a key never
//!   seen. Deletes increment it too. A higher clock always wins (docs/design.md invariant 5).
//! - `timestamp`: a hybrid logical clock reading (see [`crate::hlc`]): physical milliseconds in
//!   the high 48 bits and a logical counter in the low 16 bits.
//! - `origin`: the [`NodeId`] of the node that made the write.
//!
//! Byte layout (inside log entries and index records, see `storage::keys`): 32 bytes,
//! `clock: u64 BE | timestamp: u64 BE | origin: 16 bytes`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The 128-bit id of a node, created at random with its database and kept in it.
///
/// It belongs to the database, never to the installation: two databases never share one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub [u8; 16]);

impl NodeId {
    /// Length of the id in bytes.
    pub const LEN: usize = 16;

    /// A fresh id from the operating system's random source.
    pub fn random() -> Self {
        NodeId(rand::random())
    }

    /// The id a folder that makes its own id takes for the static public key `public`: the
    /// first 16 bytes of SHA-256(`"meshkv-node-id-v1" || public`). Under cluster keys a peer
    /// accepts a hello's node id only if it is this function of the key the handshake proved.
    pub fn of_public_key(public: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"meshkv-node-id-v1");
        h.update(public);
        let digest = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        NodeId(id)
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Reads an id from exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(NodeId)
    }

    /// True for the all-zero id, which is never a valid node id.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for NodeId {
    /// 32 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = Error;

    /// Parses 32 hex digits.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidOptions {
            field: "node_id",
            reason: format!("{s:?} is not a node id: {reason}"),
        };
        if s.len() != 32 {
            return Err(bad("expected 32 hex digits"));
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = s.get(2 * i..2 * i + 2).ok_or_else(|| bad("not ASCII"))?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad("not hex"))?;
        }
        Ok(NodeId(out))
    }
}

/// The version of one write: the key's logical clock, a hybrid logical clock timestamp and the
/// id of the node that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version {
    /// The key's logical clock: previous clock + 1, 1 for a key never seen. Deletes count too.
    pub clock: u64,
    /// Hybrid logical clock reading: physical ms << 16 | logical counter.
    pub timestamp: u64,
    /// The node that made the write.
    pub origin: NodeId,
}

impl Version {
    /// The version of no write (clock 0, which no write has): what [`Db::write`](crate::Db::write)
    /// returns for an expire or persist of a key that held no live value, which writes nothing.
    pub const NONE: Version = Version {
        clock: 0,
        timestamp: 0,
        origin: NodeId([0; 16]),
    };

    /// True for [`Version::NONE`].
    pub fn is_none(&self) -> bool {
        self.clock == 0
    }

    /// Encoded length in bytes.
    pub(crate) const ENCODED_LEN: usize = 8 + 8 + NodeId::LEN;

    /// The 32-byte encoding.
    pub(crate) fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.clock.to_be_bytes());
        out[8..16].copy_from_slice(&self.timestamp.to_be_bytes());
        out[16..].copy_from_slice(&self.origin.0);
        out
    }

    /// Decodes the 32-byte encoding; `None` when `bytes` is not exactly that long.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let clock = u64::from_be_bytes(bytes[0..8].try_into().ok()?);
        let timestamp = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
        let origin = NodeId::from_slice(&bytes[16..32])?;
        Some(Version {
            clock,
            timestamp,
            origin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_hex_round_trip() {
        let id = NodeId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
    }

    #[test]
    fn node_id_rejects_bad_text() {
        assert!("xyz".parse::<NodeId>().is_err());
        assert!("zz".repeat(16).parse::<NodeId>().is_err());
        assert!("é".repeat(16).parse::<NodeId>().is_err());
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(NodeId::random(), NodeId::random());
    }

    #[test]
    fn version_round_trip() {
        let v = Version {
            clock: 7,
            timestamp: u64::MAX - 3,
            origin: NodeId([9; 16]),
        };
        let buf = v.encode();
        assert_eq!(buf.len(), Version::ENCODED_LEN);
        assert_eq!(Version::decode(&buf), Some(v));
        assert_eq!(Version::decode(&buf[1..]), None);
    }
}
