//! The cluster's members as this folder remembers them (`meta`, `member/` + node id), and the
//! point a node's applied frontier is taken at.
//!
//! A member record is `state u8 | last_heard_ms u64 | address length u8 | address` (10 bytes
//! and the address): state 0 a member, 1 decommissioned (refused from then on); the address is
//! the last one it was heard at (empty: none known). The records are small and few (bounded by
//! the node's member cap), and written only when something an operator would see changed (a new
//! member, a new address, a decommission) or when the node flushes its last-heard times, so
//! they cost nothing on the write path.

use super::keys::{cf, meta};
use super::rocks::Store;
use crate::{Error, NodeId, Result};

/// What a folder keeps of one member of its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    /// The last address it was heard at, if any (`host:port`, at most 255 bytes).
    pub address: Option<String>,
    /// Removed for good (`Node::decommission`): its connections are refused.
    pub decommissioned: bool,
    /// When it was last heard, directly or through one of its writes, in ms since the epoch.
    pub last_heard_ms: u64,
}

impl MemberRecord {
    /// A member just heard of: no address, never heard directly.
    pub fn unheard() -> MemberRecord {
        MemberRecord {
            address: None,
            decommissioned: false,
            last_heard_ms: 0,
        }
    }

    /// The stored bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Callers keep only well-formed addresses (at most 255 bytes); anything longer is stored
        // as none rather than cut (a cut could split a UTF-8 character).
        let address = self
            .address
            .as_deref()
            .filter(|a| a.len() <= 255)
            .unwrap_or("")
            .as_bytes();
        let len = address.len();
        let mut out = Vec::with_capacity(10 + len);
        out.push(u8::from(self.decommissioned));
        out.extend_from_slice(&self.last_heard_ms.to_be_bytes());
        out.push(len as u8);
        out.extend_from_slice(address);
        out
    }

    /// Decodes a stored record; malformed bytes are `Error::Corrupt` naming it.
    pub(crate) fn decode(key: &[u8], bytes: &[u8]) -> Result<MemberRecord> {
        let corrupt = |why: String| {
            Error::corrupt(
                format!("meta record {}", crate::storage::printable(key)),
                why,
            )
        };
        let (Some(&state), Some(heard), Some(&len)) =
            (bytes.first(), bytes.get(1..9), bytes.get(9))
        else {
            return Err(corrupt(format!(
                "a member record of {} bytes (at least 10)",
                bytes.len()
            )));
        };
        let decommissioned = match state {
            0 => false,
            1 => true,
            other => return Err(corrupt(format!("member state {other}"))),
        };
        let address = bytes
            .get(10..)
            .filter(|a| a.len() == usize::from(len))
            .ok_or_else(|| {
                corrupt(format!(
                    "an address of {} bytes, not {len}",
                    bytes.len() - 10
                ))
            })?;
        let address = std::str::from_utf8(address)
            .map_err(|_| corrupt("an address that is not UTF-8".into()))?;
        let mut at = [0u8; 8];
        at.copy_from_slice(heard);
        Ok(MemberRecord {
            address: (!address.is_empty()).then(|| address.to_string()),
            decommissioned,
            last_heard_ms: u64::from_be_bytes(at),
        })
    }
}

impl Store {
    /// Every member record, in node-id order.
    pub(crate) fn members(&self) -> Result<Vec<(NodeId, MemberRecord)>> {
        let meta_cf = self.cf(cf::META);
        let prefix = meta::MEMBER_PREFIX;
        let mut it = self.db.raw_iterator_cf(meta_cf);
        it.seek(prefix);
        let mut out = Vec::new();
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            let Some(id) = key.strip_prefix(prefix) else {
                break;
            };
            let id: [u8; 16] = id.try_into().map_err(|_| {
                Error::corrupt(
                    format!("meta record {}", crate::storage::printable(key)),
                    format!("a member key of {} bytes (expected 23)", key.len()),
                )
            })?;
            out.push((NodeId(id), MemberRecord::decode(key, value)?));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Writes member records in one batch (unsynced, like a buffered write), and deletes the
    /// cursors of the ones `forget` names: a decommissioned member's bookkeeping goes with it.
    pub(crate) fn put_members(
        &self,
        records: &[(NodeId, MemberRecord)],
        forget: &[NodeId],
    ) -> Result<()> {
        let meta_cf = self.cf(cf::META);
        let mut batch = rocksdb::WriteBatch::default();
        for (id, record) in records {
            batch.put_cf(meta_cf, meta::member_key(id), record.encode());
        }
        for id in forget {
            batch.delete_cf(meta_cf, meta::cursor_key(id));
        }
        // A decommission must survive a crash: it is synced (the caller batches the rest).
        let opts = if forget.is_empty() {
            &self.write_opts
        } else {
            &self.sync_opts
        };
        self.db.write_opt(batch, opts)?;
        Ok(())
    }

    /// The point this node's own applied frontier is taken at: its last committed sequence and
    /// its hybrid clock's last reading, stored together by each commit under the commit lock,
    /// so that every write this node made with a timestamp at or below the reading has a
    /// sequence at or below the sequence (both are handed out in order under that lock).
    pub(crate) fn applied_point(&self) -> (u64, u64) {
        *self.applied_point.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_typed() {
        let key = meta::member_key(&NodeId([7; 16]));
        for record in [
            MemberRecord {
                address: Some("10.0.0.1:7379".into()),
                decommissioned: false,
                last_heard_ms: 1_767_225_600_000,
            },
            MemberRecord {
                address: None,
                decommissioned: true,
                last_heard_ms: 0,
            },
        ] {
            let bytes = record.encode();
            assert_eq!(MemberRecord::decode(&key, &bytes).unwrap(), record);
            for cut in 0..bytes.len() {
                assert!(
                    MemberRecord::decode(&key, &bytes[..cut]).is_err(),
                    "cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(b'x');
            assert!(MemberRecord::decode(&key, &longer).is_err());
        }
        let mut bad_state = MemberRecord {
            address: None,
            decommissioned: false,
            last_heard_ms: 1,
        }
        .encode();
        bad_state[0] = 9;
        assert!(matches!(
            MemberRecord::decode(&key, &bad_state),
            Err(Error::Corrupt { .. })
        ));
    }
}
