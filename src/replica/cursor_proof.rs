//! [`CursorProver`]: proofs that a cursor was handed out by this node's own lineage.
//!
//! Every `End` a node sends carries `HMAC-SHA256(node secret, "meshkv/cursor/v1" | node id |
//! incarnation u64 BE | high_seq u64 BE)`; the puller stores it with its cursor and sends it
//! back in its next `Pull`. The node secret (32 random bytes, `meta` record `node_secret`) is
//! made with the folder, never leaves it, and is replaced by `renew-id`. A restored copy of the
//! folder holds the same secret, so a proof from its lost future verifies; nobody else can make
//! one. That is what lets a cursor count as evidence that this folder is an old copy
//! (docs/design.md, "Restored copies"): without a valid proof the claim is ignored.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::NodeId;

/// Length of a cursor proof in bytes.
pub const PROOF_LEN: usize = 32;

/// A cursor proof.
pub type Proof = [u8; PROOF_LEN];

/// Makes and checks this node's cursor proofs. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct CursorProver {
    secret: [u8; 32],
    node: NodeId,
}

impl fmt::Debug for CursorProver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CursorProver")
            .field("node", &self.node)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl CursorProver {
    /// The prover of node `node` with its secret.
    pub fn new(secret: [u8; 32], node: NodeId) -> CursorProver {
        CursorProver { secret, node }
    }

    fn mac(&self, incarnation: u64, seq: u64) -> Hmac<Sha256> {
        // An HMAC takes a key of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"meshkv/cursor/v1");
        mac.update(self.node.as_bytes());
        mac.update(&incarnation.to_be_bytes());
        mac.update(&seq.to_be_bytes());
        mac
    }

    /// The proof for sequence `seq` handed out by incarnation `incarnation` of this node.
    pub fn prove(&self, incarnation: u64, seq: u64) -> Proof {
        self.mac(incarnation, seq).finalize().into_bytes().into()
    }

    /// Whether `proof` is this node's proof for (`incarnation`, `seq`), in constant time.
    pub fn verify(&self, incarnation: u64, seq: u64, proof: &Proof) -> bool {
        self.mac(incarnation, seq).verify_slice(proof).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_node_incarnation_and_sequence_verify() {
        let node = NodeId([3; 16]);
        let p = CursorProver::new([7; 32], node);
        let proof = p.prove(5, 100);
        assert!(p.verify(5, 100, &proof));
        assert!(!p.verify(5, 101, &proof));
        assert!(!p.verify(6, 100, &proof));
        assert!(!CursorProver::new([8; 32], node).verify(5, 100, &proof));
        assert!(!CursorProver::new([7; 32], NodeId([4; 16])).verify(5, 100, &proof));
        let mut flipped = proof;
        flipped[31] ^= 1;
        assert!(!p.verify(5, 100, &flipped));
        assert!(!format!("{p:?}").contains("7, 7"), "the secret is redacted");
    }
}
