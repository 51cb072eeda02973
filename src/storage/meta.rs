//! The `meta` column family's records other than the leases: per-peer cursors, the
//! rolled-back mark, and the node-id renewal that repairs a restored copy (byte layouts in
//! [`keys::meta`](super::keys::meta)).

use super::keys::{cf, meta};
use super::rocks::Store;
use crate::replica::Proof;
use crate::{Error, NodeId, Result};

/// Where a puller stands in a peer's log: the last sequence committed here, the peer's
/// [incarnation](crate::replica::Replica::incarnation) it was read from, and the peer's proof
/// of the two ([`CursorProver`](crate::replica::CursorProver)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCursor {
    /// The last sequence of the peer's log committed here.
    pub seq: u64,
    /// The peer's incarnation when that sequence was read (0: unknown).
    pub incarnation: u64,
    /// The peer's proof that it handed out this cursor (`None`: stored by an older version).
    pub proof: Option<Proof>,
}

impl PeerCursor {
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.incarnation.to_be_bytes());
        if let Some(proof) = &self.proof {
            out.extend_from_slice(proof);
        }
        out
    }

    pub(crate) fn decode(key: &[u8], bytes: &[u8]) -> Result<PeerCursor> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let proof = bytes.get(16..48).and_then(|p| Proof::try_from(p).ok());
        match (bytes.len(), u64_at(0), u64_at(8)) {
            (8, Some(seq), _) => Ok(PeerCursor {
                seq,
                incarnation: 0,
                proof: None,
            }),
            (16, Some(seq), Some(incarnation)) => Ok(PeerCursor {
                seq,
                incarnation,
                proof: None,
            }),
            (48, Some(seq), Some(incarnation)) if proof.is_some() => Ok(PeerCursor {
                seq,
                incarnation,
                proof,
            }),
            _ => Err(Error::corrupt(
                format!("meta record {}", crate::storage::printable(key)),
                format!("a cursor of {} bytes (expected 48)", bytes.len()),
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

    /// Writes the decommissioned mark, with fsync.
    pub(crate) fn mark_decommissioned(&self, why: &str) -> Result<()> {
        self.db.put_cf_opt(
            self.cf(cf::META),
            meta::DECOMMISSIONED,
            why.as_bytes(),
            &self.sync_opts,
        )?;
        Ok(())
    }

    /// The decommissioned mark's explanation, if the folder has one.
    pub(crate) fn decommissioned(&self) -> Result<Option<String>> {
        let got = self.db.get_cf(self.cf(cf::META), meta::DECOMMISSIONED)?;
        Ok(got.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The rolled-back mark's explanation, if the folder has one.
    pub(crate) fn rolled_back(&self) -> Result<Option<String>> {
        let got = self.db.get_cf(self.cf(cf::META), meta::ROLLED_BACK)?;
        Ok(got.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Gives the folder a new key pair and the node id derived from it, with a new node secret;
    /// clears the rolled-back mark and every peer cursor. The key file is replaced first: a
    /// crash before the synced batch leaves the old id with a key it is not bound to, which
    /// keyed replication refuses until `renew-id` runs again; nothing else changes.
    pub(crate) fn renew_node_id(&self) -> Result<NodeId> {
        let key = super::identity::NodeKey::generate();
        key.store(&self.path)?;
        let id = key.node_id();
        let meta_cf = self.cf(cf::META);
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(meta_cf, meta::NODE_ID, id.as_bytes());
        batch.put_cf(meta_cf, meta::NODE_SECRET, rand::random::<[u8; 32]>());
        batch.delete_cf(meta_cf, meta::ROLLED_BACK);
        // A new id is a new node: it may join the cluster that decommissioned the old one.
        batch.delete_cf(meta_cf, meta::DECOMMISSIONED);
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
        Ok(id)
    }
}
