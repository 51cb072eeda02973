//! [`DigestTree`]: an order-independent hash of every key's `(key, version)`, per segment of
//! the key space, kept up to date by every commit, so two nodes compare a million keys by
//! exchanging a few kilobytes (anti-entropy, docs/design.md "Digests").
//!
//! Layout and rules (the same on every node, so the figures compare across nodes and builds):
//! - A key's **segment** is the top 16 bits of a 64-bit FNV-1a hash of the key, finished with
//!   SplitMix64's mixer ([`segment_of`]): 65,536 segments ([`DIGEST_SEGMENTS`]), grouped into
//!   256 **ranges** of 256 consecutive segments ([`DIGEST_RANGES`]). A key stays in its segment
//!   whatever its versions, so a write changes one segment.
//! - A record's **element** is the first 16 bytes of SHA-256 over `key length u32 | key |
//!   version (32 B)`, read as a big-endian `u128` ([`element_of`]). Every index record counts,
//!   tombstones and puts past their deadline included: they are state a peer must hold too.
//! - A segment's digest is the wrapping sum of its records' elements; a range's, the wrapping
//!   sum of its segments'. Sums commute, so the digest does not depend on the order writes
//!   arrived in, and a write moves it by `element(new) - element(old)`: constant work.
//!
//! Two nodes holding the same `(key, version)` set have equal digests everywhere; a single
//! difference changes its segment's digest unless two SHA-256-derived 128-bit elements
//! collide, which a peer cannot arrange for another node's writes.
//!
//! Maintenance: the digests are made at open by the one pass over the index that also makes
//! the key counts, and moved by each batch after it is written, under the commit lock, like
//! the counts (`storage::counts`); nothing extra is written to disk. `Db::verify` recomputes
//! them from its snapshot and reports a difference.

use sha2::{Digest, Sha256};

use crate::storage::keys::{cf, IndexRecord};
use crate::storage::rocks::Store;
use crate::{Result, Version};

/// Segments of the key space.
pub const DIGEST_SEGMENTS: usize = 1 << 16;

/// Ranges, each the sum of [`SEGMENTS_PER_RANGE`] consecutive segments.
pub const DIGEST_RANGES: usize = 256;

/// Segments per range.
pub const SEGMENTS_PER_RANGE: usize = DIGEST_SEGMENTS / DIGEST_RANGES;

/// Segments listed at most by one [`versions_in_segments`](crate::replica::Replica::versions_in_segments)
/// call (the rest of a longer request are ignored): 1,024 of 65,536, about 15,000 keys'
/// versions at a million keys, so a peer asking for everything gets a bounded answer.
pub const MAX_SEGMENTS_PER_ASK: usize = 1024;

/// The segment of `key`: the top 16 bits of FNV-1a 64 of the key, mixed by SplitMix64's
/// finalizer (so that keys differing only in their last byte spread over all segments).
pub fn segment_of(key: &[u8]) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 48) as u16
}

/// The element of a record: the first 16 bytes of SHA-256 over `key length u32 | key |
/// version`, big-endian.
pub fn element_of(key: &[u8], version: &Version) -> u128 {
    let mut sha = Sha256::new();
    // Keys are at most `Options::max_key_size`, far below 4 GiB; the length makes the
    // concatenation unambiguous.
    sha.update((key.len() as u32).to_be_bytes());
    sha.update(key);
    sha.update(version.encode());
    let out = sha.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&out[..16]);
    u128::from_be_bytes(first)
}

/// The digests of every segment. Cheap to compare at two levels: [`DigestTree::ranges`] (256
/// sums, 4 KiB), then [`DigestTree::segments`] of the ranges that differ (256 sums each).
#[derive(Clone, PartialEq, Eq)]
pub struct DigestTree {
    segments: Vec<u128>,
    /// Each range's sum, kept with the segments (an answer to a peer reads 256, not 65,536).
    ranges: Vec<u128>,
}

impl Default for DigestTree {
    fn default() -> Self {
        DigestTree {
            segments: vec![0; DIGEST_SEGMENTS],
            ranges: vec![0; DIGEST_RANGES],
        }
    }
}

impl std::fmt::Debug for DigestTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let used = self.segments.iter().filter(|&&s| s != 0).count();
        f.debug_struct("DigestTree")
            .field("nonzero_segments", &used)
            .finish()
    }
}

impl DigestTree {
    /// Counts a record of `key` at `version`.
    pub fn add(&mut self, key: &[u8], version: &Version) {
        self.apply(segment_of(key), element_of(key, version));
    }

    /// Takes a record of `key` at `version` out (it was counted before).
    pub fn remove(&mut self, key: &[u8], version: &Version) {
        self.apply(segment_of(key), element_of(key, version).wrapping_neg());
    }

    /// Adds `delta` to `segment`'s digest (a removal adds the element's negation).
    pub fn apply(&mut self, segment: u16, delta: u128) {
        let s = &mut self.segments[usize::from(segment)];
        *s = s.wrapping_add(delta);
        let r = &mut self.ranges[usize::from(segment) / SEGMENTS_PER_RANGE];
        *r = r.wrapping_add(delta);
    }

    /// The digest of each range, in order ([`DIGEST_RANGES`] of them).
    pub fn ranges(&self) -> Vec<u128> {
        self.ranges.clone()
    }

    /// The digests of the segments of `range`, in order; `None` when `range` is not below
    /// [`DIGEST_RANGES`].
    pub fn segments(&self, range: usize) -> Option<&[u128]> {
        (range < DIGEST_RANGES)
            .then(|| &self.segments[range * SEGMENTS_PER_RANGE..(range + 1) * SEGMENTS_PER_RANGE])
    }

    /// The digest of one segment.
    pub fn segment(&self, segment: u16) -> u128 {
        self.segments[usize::from(segment)]
    }
}

/// The positions at which two digest lists differ (a list missing entries differs there).
pub fn differing(a: &[u128], b: &[u128]) -> Vec<usize> {
    (0..a.len().max(b.len()))
        .filter(|&i| a.get(i) != b.get(i))
        .collect()
}

/// The segments that differ between two trees, found as a peer would: the ranges first, then
/// the segments of the ranges that differ.
pub fn differing_segments(a: &DigestTree, b: &DigestTree) -> Vec<u16> {
    let mut out = Vec::new();
    for range in differing(&a.ranges(), &b.ranges()) {
        let (Some(sa), Some(sb)) = (a.segments(range), b.segments(range)) else {
            continue;
        };
        for i in differing(sa, sb) {
            out.push((range * SEGMENTS_PER_RANGE + i) as u16);
        }
    }
    out
}

impl Store {
    /// A copy of the digests as of the last commit.
    pub(crate) fn digest_tree(&self) -> DigestTree {
        self.digests.lock().clone()
    }

    /// The range digests as of the last commit (without copying the tree).
    pub(crate) fn range_digests(&self) -> Vec<u128> {
        self.digests.lock().ranges()
    }

    /// The segment digests of `range` as of the last commit (without copying the tree).
    pub(crate) fn range_segments(&self, range: u8) -> Vec<u128> {
        let tree = self.digests.lock();
        tree.segments(usize::from(range))
            .unwrap_or_default()
            .to_vec()
    }

    /// The digests of `segments` as of the last commit, in order (without copying the tree).
    pub(crate) fn segment_digests(&self, segments: &[u16]) -> Vec<u128> {
        let tree = self.digests.lock();
        segments.iter().map(|&s| tree.segment(s)).collect()
    }

    /// The `(key, version)` of every index record whose key is in one of `segments` (the first
    /// [`MAX_SEGMENTS_PER_ASK`] of them), in key order, from one snapshot: what a peer compares
    /// once the digests told it where to look. One pass over the index, whatever the number of
    /// segments. A record that does not decode is left out, as the digests leave it out
    /// (`Db::verify` reports it), so that one bad record never stops a comparison.
    pub(crate) fn versions_in_segments(&self, segments: &[u16]) -> Result<Vec<(Vec<u8>, Version)>> {
        let mut wanted = vec![false; DIGEST_SEGMENTS];
        for &s in segments.iter().take(MAX_SEGMENTS_PER_ASK) {
            wanted[usize::from(s)] = true;
        }
        let snapshot = self.db.snapshot();
        let mut iter = snapshot.raw_iterator_cf(self.cf(cf::INDEX));
        iter.seek_to_first();
        let mut out = Vec::new();
        while let Some((key, raw)) = iter.item() {
            if wanted[usize::from(segment_of(key))] {
                if let Ok(rec) = IndexRecord::decode(key, raw) {
                    out.push((key.to_vec(), rec.version));
                }
            }
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;
    use proptest::prelude::*;

    fn version(clock: u64, origin: u8) -> Version {
        Version {
            clock,
            timestamp: clock * 10,
            origin: NodeId([origin; 16]),
        }
    }

    fn records() -> impl Strategy<Value = Vec<(Vec<u8>, u64, u8)>> {
        // Distinct keys: a node holds one record per key.
        proptest::collection::btree_map(
            proptest::collection::vec(any::<u8>(), 1..24),
            (1..50u64, 1..4u8),
            0..60,
        )
        .prop_map(|m| m.into_iter().map(|(k, (c, o))| (k, c, o)).collect())
    }

    proptest! {
        #[test]
        fn equal_sets_give_equal_digests_in_any_order(
            recs in records(),
            seed in any::<u64>(),
            churn in proptest::collection::vec((0usize..60, 1..50u64), 0..20),
        ) {
            let mut a = DigestTree::default();
            for (k, c, o) in &recs {
                a.add(k, &version(*c, *o));
            }
            // Another order, and writes that were replaced on the way (added, then removed
            // when the final version arrived).
            let mut shuffled = recs.clone();
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let mut b = DigestTree::default();
            for (i, clock) in &churn {
                if let Some((k, _, o)) = shuffled.get(*i) {
                    b.add(k, &version(*clock + 100, *o));
                    b.remove(k, &version(*clock + 100, *o));
                }
            }
            for (k, c, o) in &shuffled {
                b.add(k, &version(*c, *o));
            }
            prop_assert_eq!(a.ranges(), b.ranges());
            prop_assert!(differing_segments(&a, &b).is_empty());
            prop_assert!(a == b);
        }

        #[test]
        fn any_single_difference_is_found_in_its_segment(
            recs in records(),
            pick in any::<prop::sample::Index>(),
            kind in 0..3u8,
        ) {
            prop_assume!(!recs.is_empty());
            let mut a = DigestTree::default();
            for (k, c, o) in &recs {
                a.add(k, &version(*c, *o));
            }
            let (k, c, o) = &recs[pick.index(recs.len())];
            let mut b = a.clone();
            match kind {
                // The other node lacks the record.
                0 => b.remove(k, &version(*c, *o)),
                // It holds another version of the key.
                1 => {
                    b.remove(k, &version(*c, *o));
                    b.add(k, &version(*c + 1, *o));
                }
                // Same clock, another origin: a conflict settled differently.
                _ => {
                    b.remove(k, &version(*c, *o));
                    b.add(k, &version(*c, *o + 10));
                }
            }
            prop_assert_eq!(differing_segments(&a, &b), vec![segment_of(k)]);
        }
    }

    #[test]
    fn layouts_are_the_documented_bytes() {
        // FNV-1a 64 of "" is its offset basis; the mixer is SplitMix64's finalizer.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        assert_eq!(segment_of(b""), (h >> 48) as u16);
        let v = version(7, 1);
        let mut input = 3u32.to_be_bytes().to_vec();
        input.extend_from_slice(b"key");
        input.extend_from_slice(&v.encode());
        let sha = Sha256::digest(&input);
        assert_eq!(
            element_of(b"key", &v).to_be_bytes(),
            <[u8; 16]>::try_from(&sha[..16]).unwrap()
        );
    }

    #[test]
    fn keys_spread_over_the_segments() {
        let mut used = vec![0u32; DIGEST_RANGES];
        for i in 0..100_000u32 {
            let k = format!("session:{i:08}");
            used[usize::from(segment_of(k.as_bytes())) / SEGMENTS_PER_RANGE] += 1;
        }
        // About 390 per range; no range empty or more than twice the mean.
        assert!(used.iter().all(|&n| (100..800).contains(&n)), "{used:?}");
    }

    #[test]
    fn out_of_range_requests_are_refused() {
        let t = DigestTree::default();
        assert!(t.segments(DIGEST_RANGES).is_none());
        assert_eq!(t.segments(DIGEST_RANGES - 1).map(<[u128]>::len), Some(256));
        assert_eq!(differing(&[1, 2], &[1]), vec![1]);
    }
}
