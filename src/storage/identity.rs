//! The node's static key pair: what proves its node id to keyed peers.
//!
//! Each database folder holds one X25519 key pair in the file `node.key`, made with the folder
//! (and again by `renew-id`), readable by its owner only (mode 0600). A folder that creates its
//! own node id derives it from the public key ([`NodeId::of_public_key`]); under cluster keys the
//! Noise handshake proves the key and peers refuse a hello whose node id is not the one derived
//! from it, so a key holder cannot speak as another node (docs/design.md, "Identity").
//!
//! A folder may be provisioned with its key before its creation: a directory holding only
//! `node.key` is taken as empty, and the database created in it uses that key.
//!
//! Byte layout of `node.key`: 40 bytes, `magic "MKVKEY01" | private key: 32 bytes`. The public
//! key is computed from the private one, so the two cannot disagree.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use curve25519_dalek::montgomery::MontgomeryPoint;

use crate::{Error, NodeId, Result};

/// The key file's name inside the database folder.
pub const KEY_FILE: &str = "node.key";
const MAGIC: &[u8; 8] = b"MKVKEY01";
const LEN: usize = MAGIC.len() + 32;

/// An X25519 static key pair.
#[derive(Clone)]
pub struct NodeKey {
    /// The private key (Noise's local static key).
    pub private: [u8; 32],
    /// The public key derived from it.
    pub public: [u8; 32],
}

impl NodeKey {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> NodeKey {
        NodeKey::from_private(rand::random())
    }

    /// The key pair of a private key (clamped as X25519 does).
    pub fn from_private(private: [u8; 32]) -> NodeKey {
        let public = MontgomeryPoint::mul_base_clamped(private).to_bytes();
        NodeKey { private, public }
    }

    /// The node id a folder creating its own id takes with this key.
    pub fn node_id(&self) -> NodeId {
        NodeId::of_public_key(&self.public)
    }

    /// Reads the key file of the folder `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<NodeKey>> {
        let path = dir.join(KEY_FILE);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::with_capacity(LEN);
        // One byte more than a valid file, to tell "too long" from "exact".
        Read::by_ref(&mut file)
            .take(LEN as u64 + 1)
            .read_to_end(&mut bytes)?;
        let corrupt =
            |detail: String| Error::corrupt(format!("key file {}", path.display()), detail);
        if bytes.len() != LEN {
            return Err(corrupt(format!("{} bytes, expected {LEN}", bytes.len())));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("not a meshkv node key (bad magic)".into()));
        }
        let mut private = [0u8; 32];
        private.copy_from_slice(&bytes[MAGIC.len()..]);
        Ok(Some(NodeKey::from_private(private)))
    }

    /// Writes this key as the folder's key file, replacing any: owner-only permissions, synced,
    /// and atomic (a temporary file renamed over the old one), so a crash leaves the old key or
    /// the new one, never a torn file.
    pub fn store(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(format!("{KEY_FILE}.tmp"));
        let mut open = OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut file = open.open(&tmp)?;
        // The mode above only applies to a file this call created: force it on a leftover.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(MAGIC)?;
        file.write_all(&self.private)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, dir.join(KEY_FILE))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_reads_back_with_its_public_key_and_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        assert!(NodeKey::load(dir.path()).unwrap().is_none());
        let key = NodeKey::generate();
        key.store(dir.path()).unwrap();
        let back = NodeKey::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.private, key.private);
        assert_eq!(back.public, key.public);
        assert_eq!(back.node_id(), key.node_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second key replaces the first.
        let other = NodeKey::generate();
        other.store(dir.path()).unwrap();
        assert_eq!(
            NodeKey::load(dir.path()).unwrap().unwrap().public,
            other.public
        );
    }

    #[test]
    fn a_damaged_key_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        for bytes in [&b"short"[..], &[0u8; LEN][..], &[0u8; LEN + 1][..]] {
            std::fs::write(&path, bytes).unwrap();
            assert!(matches!(
                NodeKey::load(dir.path()),
                Err(Error::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn the_public_key_matches_what_noise_computes() {
        // snow derives the public key from the private one on its own; ours must agree, or
        // the id a node derives would not be the one its peers derive.
        let params: snow::params::NoiseParams =
            "Noise_XX_25519_ChaChaPoly_BLAKE2s".parse().unwrap();
        let pair = snow::Builder::new(params).generate_keypair().unwrap();
        let private: [u8; 32] = pair.private.as_slice().try_into().unwrap();
        assert_eq!(
            NodeKey::from_private(private).public.as_slice(),
            pair.public
        );
    }
}
