//! The checker: from the history and every node's final contents, what was lost.
//!
//! Per key, each acknowledged write carries the version the product gave it. After the faults
//! heal every node must hold, for every key, the same record (else the key is *divergent*), and
//! that record must be at least as strong as every acknowledged write of the key under the
//! product's order (higher clock; equal clocks: the resolver, handed both candidates in canonical
//! order — the same rule `Replica::apply` follows). An acknowledged put that beats the final record is
//! *lost*; an acknowledged delete that beats a final value is a *resurrection*. A final record no
//! acknowledged or unanswered write explains (a value never written, or one whose write failed)
//! is *unexpected*.

use std::collections::{BTreeMap, BTreeSet};

use meshkv::replica::{Candidate, Choice};
use meshkv::{Resolver, Version};

use super::history::{Event, Outcome};
use super::workload::Op;

/// A key's final record on one node: its value (or tombstone) and version.
pub type Final = (Option<Vec<u8>>, Version);

/// One node's final contents: every key's record.
pub type Contents = BTreeMap<Vec<u8>, Final>;

/// What the checker found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub acknowledged: u64,
    pub unknown: u64,
    /// Writes the product refused (they must not take effect).
    pub failed: u64,
    pub lost: u64,
    pub unexpected: u64,
    pub divergent_keys: u64,
    pub resurrected: u64,
}

impl Report {
    /// True when nothing was lost, resurrected, unexplained or divergent.
    pub fn valid(&self) -> bool {
        self.lost == 0 && self.unexpected == 0 && self.divergent_keys == 0 && self.resurrected == 0
    }

    /// Writes attempted: acknowledged, unanswered or refused.
    pub fn attempted(&self) -> u64 {
        self.acknowledged + self.unknown + self.failed
    }

    /// The share of attempted writes that were acknowledged (0 when none was attempted).
    pub fn acked_share(&self) -> f64 {
        self.acknowledged as f64 / self.attempted().max(1) as f64
    }

    /// True when at least `share` of the attempted writes (and at least one) were acknowledged:
    /// a valid report of a run whose writes failed proves nothing, so every suite asks this.
    pub fn acked_at_least(&self, share: f64) -> bool {
        self.acknowledged > 0 && self.acked_share() >= share
    }
}

/// True when `a` beats `b` (two records of `key`) under the product's order.
pub fn beats(
    resolver: &dyn Resolver,
    key: &[u8],
    a: (Option<&[u8]>, &Version),
    b: (Option<&[u8]>, &Version),
) -> bool {
    use std::cmp::Ordering::*;
    match a.1.clock.cmp(&b.1.clock) {
        Greater => true,
        Less => false,
        Equal if a.1 == b.1 => false,
        Equal => {
            let ca = Candidate {
                key,
                value: a.0,
                version: a.1,
            };
            let cb = Candidate {
                key,
                value: b.0,
                version: b.1,
            };
            let a_first = (a.1.origin, a.1.timestamp) < (b.1.origin, b.1.timestamp);
            let (first, second) = if a_first { (&ca, &cb) } else { (&cb, &ca) };
            matches!(
                (resolver.resolve(first, second), a_first),
                (Choice::First, true) | (Choice::Second, false)
            )
        }
    }
}

/// Checks `history` against the final contents of every node.
pub fn check(resolver: &dyn Resolver, history: &[Event], nodes: &[Contents]) -> Report {
    let mut report = Report {
        acknowledged: history
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Ok(_)))
            .count() as u64,
        unknown: history
            .iter()
            .filter(|e| e.outcome == Outcome::Unknown)
            .count() as u64,
        failed: history
            .iter()
            .filter(|e| e.outcome == Outcome::Fail)
            .count() as u64,
        ..Report::default()
    };
    let mut by_key: BTreeMap<&[u8], Vec<&Event>> = BTreeMap::new();
    for e in history {
        by_key.entry(e.op.key()).or_default().push(e);
    }
    let keys: BTreeSet<&[u8]> = nodes
        .iter()
        .flat_map(|n| n.keys().map(Vec::as_slice))
        .chain(by_key.keys().copied())
        .collect();
    for key in keys {
        let states: Vec<Option<&Final>> = nodes.iter().map(|n| n.get(key)).collect();
        if states.windows(2).any(|w| w[0] != w[1]) {
            report.divergent_keys += 1;
        }
        let writes = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
        // Every node's record is judged; a key counts once per kind of violation (a lost write
        // counts once however many nodes lack it).
        let (mut lost, mut unexpected, mut resurrected) = (0u64, false, false);
        for state in &states {
            let (l, u, r) = judge(resolver, key, writes, *state);
            lost = lost.max(l);
            unexpected |= u;
            resurrected |= r;
        }
        report.lost += lost;
        report.unexpected += u64::from(unexpected);
        report.resurrected += u64::from(resurrected);
    }
    report
}

/// One node's record of `key` against the key's writes: (acknowledged writes lost, record
/// unexplained, deleted key resurrected).
fn judge(
    resolver: &dyn Resolver,
    key: &[u8],
    writes: &[&Event],
    state: Option<&Final>,
) -> (u64, bool, bool) {
    let acked = || {
        writes
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Ok(_)))
    };
    let Some((value, version)) = state else {
        // Nothing at all, not even a tombstone: every acknowledged write of the key is lost.
        return (acked().count() as u64, false, false);
    };
    let explained = writes.iter().any(|e| {
        let possible = match &e.outcome {
            Outcome::Ok(v) => v == version,
            Outcome::Unknown => true,
            Outcome::Fail => false,
        };
        possible
            && match &e.op {
                Op::Put { value: v, .. } => value.as_deref() == Some(v.as_slice()),
                Op::Delete { .. } => value.is_none(),
            }
    });
    let (mut lost, mut resurrected) = (0u64, false);
    for e in acked() {
        let Outcome::Ok(acked) = &e.outcome else {
            continue;
        };
        let acked_value = match &e.op {
            Op::Put { value, .. } => Some(value.as_slice()),
            Op::Delete { .. } => None,
        };
        if !beats(
            resolver,
            key,
            (acked_value, acked),
            (value.as_deref(), version),
        ) {
            continue;
        }
        match (&e.op, value) {
            (Op::Put { .. }, _) => lost += 1,
            (Op::Delete { .. }, Some(_)) => resurrected = true,
            // A delete beaten by an older tombstone: the key is absent all the same.
            (Op::Delete { .. }, None) => {}
        }
    }
    (lost, !explained, resurrected)
}
