//! Anti-entropy comparison: which keys two nodes hold at different versions, found from their
//! digests (docs/design.md, "Digests") in three exchanges, as a state machine without sockets or
//! clocks. The comparing side drives it; the other side only answers from its
//! [`Replica`](crate::replica::Replica) (`digests`, `versions_in_segments`, `entries_of`).
//!
//! 1. [`Step::AskRanges`]: the peer's 256 range digests (4 KiB). Equal everywhere: done.
//! 2. [`Step::AskSegments`]: the 256 segment digests of each range that differs.
//! 3. [`Step::AskDigests`], as many times as the comparison was started with (`rechecks`, the
//!    driver waits a moment before each): the digests of the segments that differed (at most
//!    [`MAX_SEGMENTS_PER_ROUND`], a window that moves with the round number so that no segment
//!    waits forever behind others that keep differing), compared with this node's digests of
//!    the moment. A segment that differed only because a write was still on its way agrees by
//!    then and is dropped: between nodes under steady writes the digests nearly always differ
//!    somewhere, and listing versions is a pass over the whole index on both sides.
//! 4. [`Step::AskVersions`]: the `(key, version)` of every record in the segments that still
//!    differ, compared with this node's own records of those segments.
//!
//! The result ([`Differences`]) names the keys to fetch from the peer (it holds a version this
//! node lacks or holds an older clock of) and those the peer lacks or holds older (equal clocks
//! with different versions are in both: the resolver decides). Fetched entries go through
//! `Replica::apply` like any other, so the resolver settles which version wins and a fetch
//! never overrides a newer local write; the peer's own comparison fetches what it lacks.
//!
//! What a broken or hostile peer can do: replies that do not fit what was asked (wrong lengths,
//! ranges or segments not asked, keys outside the asked segments, a key listed twice) end the
//! comparison with a [`ComparisonError`] and fetch nothing; a peer that claims every segment
//! differs gets at most [`MAX_SEGMENTS_PER_ROUND`] segments compared per round, and whatever it
//! then sends is applied under the same checks as a pull.

use std::collections::{BTreeMap, BTreeSet};

use crate::replica::{differing, segment_of, DigestTree, DIGEST_RANGES, SEGMENTS_PER_RANGE};
use crate::Version;

/// Segments compared at most per round: 1,024 of 65,536, about 15,000 keys' versions at a
/// million keys, a few hundred KiB (the most a node lists for one ask,
/// [`MAX_SEGMENTS_PER_ASK`](crate::replica::MAX_SEGMENTS_PER_ASK)).
pub const MAX_SEGMENTS_PER_ROUND: usize = crate::storage::MAX_SEGMENTS_PER_ASK;

/// What the comparing side asks of the peer next, or what it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Ask for the peer's range digests ([`DigestTree::ranges`]).
    AskRanges,
    /// Ask for the segment digests of these ranges ([`DigestTree::segments`]).
    AskSegments(Vec<u8>),
    /// Wait a moment, then ask again for the digests of these segments.
    AskDigests(Vec<u16>),
    /// Ask for the `(key, version)` of every record in these segments.
    AskVersions(Vec<u16>),
    /// The comparison is over.
    Done(Differences),
}

/// What a comparison found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Differences {
    /// Keys the peer holds at a version this node lacks, or at a clock at or above this
    /// node's: fetch their entries.
    pub fetch: Vec<Vec<u8>>,
    /// Keys this node holds at a version the peer lacks, or at a clock at or above the peer's.
    pub lacking: Vec<Vec<u8>>,
    /// Segments whose digests differed and were compared key by key.
    pub segments: usize,
    /// Segments that differed beyond [`MAX_SEGMENTS_PER_ROUND`], left for a later round.
    pub deferred: usize,
    /// Segments that differed at first and agreed when asked again (writes in flight).
    pub transient: usize,
}

impl Differences {
    /// True when the two nodes were found to hold the same versions.
    pub fn is_empty(&self) -> bool {
        self.fetch.is_empty() && self.lacking.is_empty() && self.deferred == 0
    }
}

/// A reply that does not fit the comparison: the peer is broken or hostile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComparisonError {
    /// A reply came that was not asked for at this step.
    #[error("unexpected {0} in an anti-entropy comparison")]
    Unexpected(&'static str),
    /// A list of digests had the wrong length.
    #[error("{what}: {got} digests, expected {expected}")]
    WrongLength {
        /// Which list.
        what: &'static str,
        /// How many came.
        got: usize,
        /// How many were due.
        expected: usize,
    },
    /// Segment digests of a range that was not asked for (or came twice).
    #[error("segment digests of range {0}, which was not asked for")]
    RangeNotAsked(u8),
    /// A key outside the segments asked for, or listed twice.
    #[error("the peer listed a key outside the segments asked for, or twice")]
    StrayKey,
}

#[derive(Clone, Debug)]
enum State {
    Ranges,
    Segments {
        pending: BTreeSet<u8>,
        found: Vec<u16>,
    },
    Recheck {
        asked: Vec<u16>,
    },
    Versions {
        asked: Vec<u16>,
    },
    Done,
}

/// One comparison (one round) of this node's digests with a peer's.
#[derive(Clone, Debug)]
pub struct Comparison {
    local: DigestTree,
    state: State,
    deferred: usize,
    transient: usize,
    rechecks: u32,
    round: u64,
}

impl Comparison {
    /// Starts round number `round` (any counter the caller keeps: it moves the window of
    /// segments compared when more differ than a round compares) of a comparison of `local`
    /// (this node's [`DigestTree`], taken now) with a peer's, asking `rechecks` times whether
    /// differing segments still differ before listing their versions; the first step is always
    /// [`Step::AskRanges`].
    pub fn start(local: DigestTree, round: u64, rechecks: u32) -> (Self, Step) {
        let c = Comparison {
            local,
            state: State::Ranges,
            deferred: 0,
            transient: 0,
            rechecks,
            round,
        };
        (c, Step::AskRanges)
    }

    /// The peer's range digests arrived.
    pub fn on_ranges(&mut self, remote: &[u128]) -> Result<Step, ComparisonError> {
        if !matches!(self.state, State::Ranges) {
            return Err(self.fail(ComparisonError::Unexpected("range digests")));
        }
        if remote.len() != DIGEST_RANGES {
            return Err(self.fail(ComparisonError::WrongLength {
                what: "range digests",
                got: remote.len(),
                expected: DIGEST_RANGES,
            }));
        }
        let ranges: Vec<u8> = differing(&self.local.ranges(), remote)
            .into_iter()
            .map(|r| r as u8)
            .collect();
        if ranges.is_empty() {
            return Ok(self.finish(Differences::default()));
        }
        self.state = State::Segments {
            pending: ranges.iter().copied().collect(),
            found: Vec::new(),
        };
        Ok(Step::AskSegments(ranges))
    }

    /// The segment digests of one asked range arrived. `None` while other asked ranges are
    /// still due.
    pub fn on_segments(
        &mut self,
        range: u8,
        remote: &[u128],
    ) -> Result<Option<Step>, ComparisonError> {
        let State::Segments { pending, found } = &mut self.state else {
            return Err(self.fail(ComparisonError::Unexpected("segment digests")));
        };
        if !pending.remove(&range) {
            return Err(self.fail(ComparisonError::RangeNotAsked(range)));
        }
        if remote.len() != SEGMENTS_PER_RANGE {
            return Err(self.fail(ComparisonError::WrongLength {
                what: "segment digests",
                got: remote.len(),
                expected: SEGMENTS_PER_RANGE,
            }));
        }
        let local = self.local.segments(usize::from(range)).unwrap_or_default();
        found.extend(
            differing(local, remote)
                .into_iter()
                .map(|i| (usize::from(range) * SEGMENTS_PER_RANGE + i) as u16),
        );
        if !pending.is_empty() {
            return Ok(None);
        }
        let mut found = std::mem::take(found);
        found.sort_unstable();
        if found.len() > MAX_SEGMENTS_PER_ROUND {
            // A window that starts further on each round, wrapping around.
            self.deferred = found.len() - MAX_SEGMENTS_PER_ROUND;
            let from = (self.round as usize).wrapping_mul(MAX_SEGMENTS_PER_ROUND) % found.len();
            found.rotate_left(from);
            found.truncate(MAX_SEGMENTS_PER_ROUND);
            found.sort_unstable();
        }
        if found.is_empty() {
            // The ranges differed but no segment does: the range sums moved between the
            // two reads (concurrent writes). The next round compares again.
            return Ok(Some(self.finish(Differences::default())));
        }
        Ok(Some(self.next_check(found)))
    }

    /// Asks again while rechecks are left, else lists the versions of `segments`.
    fn next_check(&mut self, segments: Vec<u16>) -> Step {
        if self.rechecks > 0 {
            self.rechecks -= 1;
            self.state = State::Recheck {
                asked: segments.clone(),
            };
            return Step::AskDigests(segments);
        }
        self.state = State::Versions {
            asked: segments.clone(),
        };
        Step::AskVersions(segments)
    }

    /// The peer's digests of the segments asked again arrived; `local` is this node's digests
    /// of the same segments taken now
    /// ([`Replica::segment_digests`](crate::replica::Replica::segment_digests)).
    pub fn on_digests(&mut self, local: &[u128], remote: &[u128]) -> Result<Step, ComparisonError> {
        let State::Recheck { asked } = &mut self.state else {
            return Err(self.fail(ComparisonError::Unexpected("digests")));
        };
        if remote.len() != asked.len() || local.len() != asked.len() {
            let (got, expected) = (remote.len(), asked.len());
            return Err(self.fail(ComparisonError::WrongLength {
                what: "digests",
                got,
                expected,
            }));
        }
        let asked = std::mem::take(asked);
        let before = asked.len();
        let still: Vec<u16> = asked
            .into_iter()
            .zip(local.iter().zip(remote))
            .filter(|(_, (l, r))| l != r)
            .map(|(s, _)| s)
            .collect();
        self.transient += before - still.len();
        if still.is_empty() {
            return Ok(self.finish(Differences::default()));
        }
        Ok(self.next_check(still))
    }

    /// The peer's `(key, version)` list of the asked segments arrived; `local` is this node's
    /// own list of the same segments (`Replica::versions_in_segments`).
    pub fn on_versions(
        &mut self,
        local: &[(Vec<u8>, Version)],
        remote: &[(Vec<u8>, Version)],
    ) -> Result<Step, ComparisonError> {
        let State::Versions { asked } = &self.state else {
            return Err(self.fail(ComparisonError::Unexpected("versions")));
        };
        let asked: BTreeSet<u16> = asked.iter().copied().collect();
        let mut theirs: BTreeMap<&[u8], &Version> = BTreeMap::new();
        for (key, version) in remote {
            if !asked.contains(&segment_of(key)) || theirs.insert(key, version).is_some() {
                return Err(self.fail(ComparisonError::StrayKey));
            }
        }
        let ours: BTreeMap<&[u8], &Version> = local
            .iter()
            .filter(|(k, _)| asked.contains(&segment_of(k)))
            .map(|(k, v)| (k.as_slice(), v))
            .collect();
        let found = Differences {
            fetch: newer_or_missing(&theirs, &ours),
            lacking: newer_or_missing(&ours, &theirs),
            segments: asked.len(),
            ..Differences::default()
        };
        Ok(self.finish(found))
    }

    fn finish(&mut self, mut found: Differences) -> Step {
        found.deferred = self.deferred;
        found.transient = self.transient;
        self.state = State::Done;
        Step::Done(found)
    }

    fn fail(&mut self, e: ComparisonError) -> ComparisonError {
        self.state = State::Done;
        e
    }
}

/// The keys `from` lists at a version `other` lacks: missing there, or at another version whose
/// clock is not above `from`'s. A key newer on the other side is only the other side's to send;
/// equal clocks go both ways (the resolver decides).
fn newer_or_missing(
    from: &BTreeMap<&[u8], &Version>,
    other: &BTreeMap<&[u8], &Version>,
) -> Vec<Vec<u8>> {
    from.iter()
        .filter(|(key, version)| match other.get(*key) {
            None => true,
            Some(v) => v != *version && version.clock >= v.clock,
        })
        .map(|(key, _)| key.to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::Replica;
    use crate::replica::DIGEST_SEGMENTS;
    use crate::{Db, LastWriteWins, NodeId, Options};

    /// Runs a whole comparison of `local` against `peer`, answering from `peer` directly.
    fn compare(local: Replica<'_>, peer: Replica<'_>) -> Differences {
        let theirs = peer.digests();
        let (mut c, mut step) = Comparison::start(local.digests(), 0, 1);
        loop {
            step = match step {
                Step::AskDigests(segments) => {
                    let remote: Vec<u128> = segments.iter().map(|s| theirs.segment(*s)).collect();
                    c.on_digests(&local.segment_digests(&segments), &remote)
                        .unwrap()
                }
                Step::AskRanges => c.on_ranges(&theirs.ranges()).unwrap(),
                Step::AskSegments(ranges) => {
                    let mut next = None;
                    for r in ranges {
                        next = c
                            .on_segments(r, theirs.segments(usize::from(r)).unwrap())
                            .unwrap();
                    }
                    next.expect("the last range answered")
                }
                Step::AskVersions(segments) => {
                    let mine = local.versions_in_segments(&segments).unwrap();
                    let remote = peer.versions_in_segments(&segments).unwrap();
                    c.on_versions(&mine, &remote).unwrap()
                }
                Step::Done(found) => return found,
            }
        }
    }

    fn open(dir: &tempfile::TempDir, id: u8) -> Db {
        Db::open(dir.path(), Options::default().node_id(NodeId([id; 16]))).unwrap()
    }

    #[test]
    fn differing_keys_are_found_fetched_and_then_nothing_differs() {
        let (da, db_) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (open(&da, 1), open(&db_, 2));
        for i in 0..3_000u32 {
            a.put(format!("k{i:05}"), i.to_be_bytes()).unwrap();
        }
        let all: Vec<_> = a.replica().changes_since(0).map(|r| r.unwrap().1).collect();
        b.replica().apply(&all, &LastWriteWins).unwrap();
        assert!(compare(a.replica(), b.replica()).is_empty());

        // B misses a delete and a new key of A's, and has a write of its own.
        a.delete(b"k00017").unwrap();
        a.put(b"only-a", b"1").unwrap();
        b.put(b"k02000", b"b's").unwrap();
        let found = compare(b.replica(), a.replica());
        let mut fetch = found.fetch.clone();
        fetch.sort();
        // Not k02000: B's own write is newer (its clock is above A's).
        assert_eq!(fetch, vec![b"k00017".to_vec(), b"only-a".to_vec()]);
        assert_eq!(found.lacking, vec![b"k02000".to_vec()], "{found:?}");
        assert!(found.segments >= 1 && found.deferred == 0);

        // B fetches and applies; A does the same the other way: equal, and nothing differs.
        let (entries, done) = a.replica().entries_of(&found.fetch, 1 << 20).unwrap();
        assert_eq!(done, found.fetch.len());
        b.replica().apply(&entries, &LastWriteWins).unwrap();
        let back = compare(a.replica(), b.replica());
        assert_eq!(back.fetch, vec![b"k02000".to_vec()]);
        let (entries, _) = b.replica().entries_of(&back.fetch, 1 << 20).unwrap();
        a.replica().apply(&entries, &LastWriteWins).unwrap();
        assert_eq!(a.replica().digests(), b.replica().digests());
        assert!(compare(a.replica(), b.replica()).is_empty());
        assert!(a.get(b"k00017").unwrap().is_none() && b.get(b"k00017").unwrap().is_none());
        assert_eq!(a.get(b"k02000").unwrap(), b.get(b"k02000").unwrap());
    }

    #[test]
    fn replies_that_do_not_fit_end_the_comparison() {
        let local = DigestTree::default();
        let (mut c, _) = Comparison::start(local.clone(), 0, 0);
        assert!(matches!(
            c.on_segments(0, &[0; 256]),
            Err(ComparisonError::Unexpected(_))
        ));
        let (mut c, _) = Comparison::start(local.clone(), 0, 0);
        assert!(matches!(
            c.on_ranges(&[0; 3]),
            Err(ComparisonError::WrongLength { .. })
        ));
        // A peer that differs in range 5 only: a reply for range 6 is refused, and so is a key
        // outside the asked segment.
        let mut remote = DigestTree::default();
        remote.apply(5 * 256 + 9, 77);
        let (mut c, _) = Comparison::start(local.clone(), 0, 0);
        assert_eq!(
            c.on_ranges(&remote.ranges()),
            Ok(Step::AskSegments(vec![5]))
        );
        assert_eq!(
            c.on_segments(6, remote.segments(6).unwrap()),
            Err(ComparisonError::RangeNotAsked(6))
        );
        let (mut c, _) = Comparison::start(local, 0, 0);
        c.on_ranges(&remote.ranges()).unwrap();
        let step = c.on_segments(5, remote.segments(5).unwrap()).unwrap();
        assert_eq!(step, Some(Step::AskVersions(vec![5 * 256 + 9])));
        let stray = (0u32..)
            .map(|i| format!("x{i}").into_bytes())
            .find(|k| segment_of(k) != 5 * 256 + 9)
            .unwrap();
        assert_eq!(
            c.on_versions(&[], &[(stray, Version::NONE)]),
            Err(ComparisonError::StrayKey)
        );
    }

    #[test]
    fn segments_that_agree_when_asked_again_are_not_listed() {
        // Segments 3 and 700 differ at first; by the recheck 3 agrees (a write arrived), 700
        // still differs, and only 700's versions are asked.
        let local = DigestTree::default();
        let mut remote = DigestTree::default();
        remote.apply(3, 5);
        remote.apply(700, 9);
        let (mut c, _) = Comparison::start(local.clone(), 0, 2);
        let Step::AskSegments(ranges) = c.on_ranges(&remote.ranges()).unwrap() else {
            panic!("ranges differ");
        };
        let mut next = None;
        for r in ranges {
            next = c
                .on_segments(r, remote.segments(usize::from(r)).unwrap())
                .unwrap();
        }
        assert_eq!(next, Some(Step::AskDigests(vec![3, 700])));
        let mut now = local.clone();
        now.apply(3, 5);
        // The wrong number of digests is refused.
        let mut bad = c.clone();
        assert!(matches!(
            bad.on_digests(&[now.segment(3), now.segment(700)], &[5]),
            Err(ComparisonError::WrongLength { .. })
        ));
        assert_eq!(
            c.on_digests(&[now.segment(3), now.segment(700)], &[5, 9])
                .unwrap(),
            Step::AskDigests(vec![700])
        );
        assert_eq!(
            c.on_digests(&[now.segment(700)], &[9]).unwrap(),
            Step::AskVersions(vec![700])
        );
        let Step::Done(found) = c.on_versions(&[], &[]).unwrap() else {
            panic!("done");
        };
        assert_eq!((found.segments, found.transient), (1, 1));
        // When every segment agrees on the recheck, the round ends with nothing to list.
        let (mut c, _) = Comparison::start(local.clone(), 0, 1);
        let ranges = match c.on_ranges(&remote.ranges()).unwrap() {
            Step::AskSegments(r) => r,
            other => panic!("{other:?}"),
        };
        let mut next = None;
        for r in ranges {
            next = c
                .on_segments(r, remote.segments(usize::from(r)).unwrap())
                .unwrap();
        }
        assert!(matches!(next, Some(Step::AskDigests(_))));
        let Step::Done(found) = c.on_digests(&[5, 9], &[5, 9]).unwrap() else {
            panic!("done");
        };
        assert!(found.is_empty() && found.transient == 2, "{found:?}");
        // Digests are refused at any other step.
        let (mut c, _) = Comparison::start(local, 0, 1);
        assert!(matches!(
            c.on_digests(&[], &[]),
            Err(ComparisonError::Unexpected(_))
        ));
    }

    #[test]
    fn a_peer_claiming_everything_differs_gets_bounded_rounds_that_cover_every_segment() {
        let local = DigestTree::default();
        let mut remote = DigestTree::default();
        for s in 0..=u16::MAX {
            remote.apply(s, 1);
        }
        let mut covered = std::collections::BTreeSet::new();
        for round in 0..(DIGEST_SEGMENTS / MAX_SEGMENTS_PER_ROUND) as u64 {
            let (mut c, _) = Comparison::start(local.clone(), round, 0);
            let Step::AskSegments(ranges) = c.on_ranges(&remote.ranges()).unwrap() else {
                panic!("every range differs");
            };
            assert_eq!(ranges.len(), DIGEST_RANGES);
            let mut last = None;
            for r in ranges {
                last = c
                    .on_segments(r, remote.segments(usize::from(r)).unwrap())
                    .unwrap();
            }
            let Some(Step::AskVersions(segments)) = last else {
                panic!("versions asked");
            };
            assert_eq!(segments.len(), MAX_SEGMENTS_PER_ROUND);
            covered.extend(segments);
            let Step::Done(found) = c.on_versions(&[], &[]).unwrap() else {
                panic!("done");
            };
            assert_eq!(found.deferred, DIGEST_SEGMENTS - MAX_SEGMENTS_PER_ROUND);
            assert!(!found.is_empty());
        }
        assert_eq!(
            covered.len(),
            DIGEST_SEGMENTS,
            "the window moved over every segment"
        );
    }
}
