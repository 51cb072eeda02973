//! Conflict resolution between two writes of one key with equal clocks.
//!
//! docs/design.md invariant 5: a remote entry against the local version of the same key — the
//! higher `clock` wins; on equal clocks an identical `(timestamp, origin)` is the same write and is
//! skipped; otherwise the [`Resolver`] chooses. It is handed the two candidates in *canonical
//! order* (by origin, then timestamp), never "local first", so a pure function picks the same
//! winner on every node whatever the order of delivery.
//!
//! **A resolver must be a pure function of its two candidates**, and for three or more writes
//! with one clock to converge it must also be a total order (if it prefers b over a and c over
//! b, it prefers c over a). No I/O, no randomness, no wall clock, no node-local state.

use crate::Version;

/// One side of a conflict: a key's value (or tombstone) with its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The key both candidates write.
    pub key: &'a [u8],
    /// The value, or `None` for a delete (tombstone).
    pub value: Option<&'a [u8]>,
    /// The write's version; both candidates have the same `clock`.
    pub version: &'a Version,
}

/// Which of the two candidates wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Choice {
    /// The first candidate (lower origin, then lower timestamp).
    First,
    /// The second candidate.
    Second,
}

/// Chooses between two writes of one key with equal clocks. Must be a pure function.
///
/// Implemented for closures `Fn(&Candidate, &Candidate) -> Choice`.
pub trait Resolver: Send + Sync {
    /// Picks the winner of `first` and `second`, given in canonical order: `first.version.origin
    /// < second.version.origin`, or equal origins and `first.version.timestamp <
    /// second.version.timestamp`.
    fn resolve(&self, first: &Candidate<'_>, second: &Candidate<'_>) -> Choice;
}

impl<F> Resolver for F
where
    F: Fn(&Candidate<'_>, &Candidate<'_>) -> Choice + Send + Sync,
{
    fn resolve(&self, first: &Candidate<'_>, second: &Candidate<'_>) -> Choice {
        self(first, second)
    }
}

/// The default resolver: the higher timestamp wins, then the higher origin id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastWriteWins;

impl Resolver for LastWriteWins {
    fn resolve(&self, first: &Candidate<'_>, second: &Candidate<'_>) -> Choice {
        let a = (first.version.timestamp, first.version.origin);
        let b = (second.version.timestamp, second.version.origin);
        if b > a {
            Choice::Second
        } else {
            Choice::First
        }
    }
}

/// The outcome of comparing an incoming remote version with the local one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The remote write wins: commit it.
    Remote,
    /// The local write stays.
    Local,
    /// Both are the same write: nothing to do.
    Same,
}

/// Canonical order of two candidates: by origin, then timestamp.
fn canonical_key(v: &Version) -> (crate::NodeId, u64) {
    (v.origin, v.timestamp)
}

/// Decides invariant 5 for `remote` against `local`: clock first, then identity, then the
/// resolver over the canonical order.
pub(crate) fn decide(
    resolver: &dyn Resolver,
    local: &Candidate<'_>,
    remote: &Candidate<'_>,
) -> Outcome {
    use std::cmp::Ordering::*;
    match remote.version.clock.cmp(&local.version.clock) {
        Greater => Outcome::Remote,
        Less => Outcome::Local,
        Equal if remote.version == local.version => Outcome::Same,
        Equal if crate::sabotage::active(crate::sabotage::Sabotage::ArrivalOrderTieBreak) => {
            Outcome::Remote
        }
        Equal => {
            let remote_first = canonical_key(remote.version) < canonical_key(local.version);
            let (first, second) = if remote_first {
                (remote, local)
            } else {
                (local, remote)
            };
            match (resolver.resolve(first, second), remote_first) {
                (Choice::First, true) | (Choice::Second, false) => Outcome::Remote,
                _ => Outcome::Local,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;

    fn v(clock: u64, timestamp: u64, origin: u8) -> Version {
        Version {
            clock,
            timestamp,
            origin: NodeId([origin; 16]),
        }
    }

    fn cand<'a>(version: &'a Version, value: &'a [u8]) -> Candidate<'a> {
        Candidate {
            key: b"k",
            value: Some(value),
            version,
        }
    }

    #[test]
    fn higher_clock_wins_whatever_the_timestamp() {
        let (l, r) = (v(2, 1, 1), v(3, 0, 0));
        assert_eq!(
            decide(&LastWriteWins, &cand(&l, b"l"), &cand(&r, b"r")),
            Outcome::Remote
        );
        assert_eq!(
            decide(&LastWriteWins, &cand(&r, b"r"), &cand(&l, b"l")),
            Outcome::Local
        );
    }

    #[test]
    fn identical_version_is_the_same_write() {
        let a = v(4, 9, 9);
        assert_eq!(
            decide(&LastWriteWins, &cand(&a, b"x"), &cand(&a, b"x")),
            Outcome::Same
        );
    }

    #[test]
    fn lww_prefers_timestamp_then_origin() {
        let (older, newer) = (v(1, 10, 9), v(1, 11, 1));
        assert_eq!(
            decide(&LastWriteWins, &cand(&older, b""), &cand(&newer, b"")),
            Outcome::Remote
        );
        assert_eq!(
            decide(&LastWriteWins, &cand(&newer, b""), &cand(&older, b"")),
            Outcome::Local
        );
        let (low, high) = (v(1, 10, 1), v(1, 10, 2));
        assert_eq!(
            decide(&LastWriteWins, &cand(&low, b""), &cand(&high, b"")),
            Outcome::Remote
        );
        assert_eq!(
            decide(&LastWriteWins, &cand(&high, b""), &cand(&low, b"")),
            Outcome::Local
        );
    }

    #[test]
    fn resolver_sees_canonical_order_from_both_sides() {
        // A resolver that always picks "first": the lower origin must win on both nodes.
        let first = |_: &Candidate<'_>, _: &Candidate<'_>| Choice::First;
        let (a, b) = (v(1, 50, 1), v(1, 10, 2));
        assert_eq!(
            decide(&first, &cand(&a, b""), &cand(&b, b"")),
            Outcome::Local
        );
        assert_eq!(
            decide(&first, &cand(&b, b""), &cand(&a, b"")),
            Outcome::Remote
        );
    }

    #[test]
    fn closure_resolver_can_use_values() {
        let bigger = |a: &Candidate<'_>, b: &Candidate<'_>| {
            if b.value > a.value {
                Choice::Second
            } else {
                Choice::First
            }
        };
        let (a, b) = (v(1, 1, 1), v(1, 2, 2));
        assert_eq!(
            decide(&bigger, &cand(&a, b"zzz"), &cand(&b, b"aaa")),
            Outcome::Local
        );
        assert_eq!(
            decide(&bigger, &cand(&b, b"aaa"), &cand(&a, b"zzz")),
            Outcome::Remote
        );
    }
}
