//! The `meta` column family's records other than the leases: per-peer cursors, the
//! rolled-back mark, and the node-id renewal that repairs a restored copy (byte layouts in
//! [`keys::meta`](super::keys::meta)).

use super::keys::{cf, meta};
use super::rocks::Store;
use crate::{Error, NodeId, Result};

/// Where a puller stands in a peer's log: the last sequence committed here, and the peer's
/// [incarnation](crate::replica::Replica::incarnation) it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCursor {
    /// The last sequence of the peer's log committed here.
    pub seq: u64,
    /// The peer's incarnation when that sequence was read (0: unknown).
    pub incarnation: u64,
}

impl PeerCursor {
    pub(crate) fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8..].copy_from_slice(&self.incarnation.to_be_bytes());
        out
    }

    pub(crate) fn decode(key: &[u8], bytes: &[u8]) -> Result<PeerCursor> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        match (bytes.len(), u64_at(0), u64_at(8)) {
            (8, Some(seq), _) => Ok(PeerCursor {
                seq,
                incarnation: 0,
            }),
            (16, Some(seq), Some(incarnation)) => Ok(PeerCursor { seq, incarnation }),
            _ => Err(Error::corrupt(
                format!("meta record {}", crate::storage::printable(key)),
                format!("a cursor of {} bytes (expected 16)", bytes.len()),
            )),
        }
    }
}

impl Store {
    /// The stored cursor for `peer`, if any.
    pub(crate) fn peer_cursor(&self, peer: NodeId) -> Result<Option<PeerCursor>> {
        let key = meta::cursor_key(&peer);
        match self.db.get_cf(self.cf(cf::META), &key)? {
            Some(bytes) => PeerCursor::decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `peer`'s cursor (unsynced, like a buffered write).
    pub(crate) fn set_peer_cursor(&self, peer: NodeId, cursor: PeerCursor) -> Result<()> {
        let key = meta::cursor_key(&peer);
        self.db
            .put_cf_opt(self.cf(cf::META), key, cursor.encode(), &self.write_opts)?;
        Ok(())
    }

    /// Writes the rolled-back mark, with fsync.
    pub(crate) fn mark_rolled_back(&self, why: &str) -> Result<()> {
        self.db.put_cf_opt(
            self.cf(cf::META),
            meta::ROLLED_BACK,
            why.as_bytes(),
            &self.sync_opts,
        )?;
        Ok(())
    }

    /// The rolled-back mark's explanation, if the folder has one.
    pub(crate) fn rolled_back(&self) -> Result<Option<String>> {
        let got = self.db.get_cf(self.cf(cf::META), meta::ROLLED_BACK)?;
        Ok(got.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Stores `id` as the node id, clears the rolled-back mark and every peer cursor, in one
    /// synced batch.
    pub(crate) fn renew_node_id(&self, id: NodeId) -> Result<()> {
        let meta_cf = self.cf(cf::META);
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(meta_cf, meta::NODE_ID, id.as_bytes());
        batch.delete_cf(meta_cf, meta::ROLLED_BACK);
        // Pull everything again from every peer: what the old copy pulled while it still
        // believed its own later writes were here skipped those writes.
        let prefix = meta::CURSOR_PREFIX;
        let mut it = self.db.raw_iterator_cf(meta_cf);
        it.seek(prefix);
        while let Some(key) = it.key().filter(|k| k.starts_with(prefix)) {
            batch.delete_cf(meta_cf, key);
            it.next();
        }
        it.status()?;
        drop(it);
        self.db.write_opt(batch, &self.sync_opts)?;
        Ok(())
    }
}
