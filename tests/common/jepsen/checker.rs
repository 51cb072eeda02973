//! The checker: from the history and every node's final contents, what was lost.
//!
//! Per key, each acknowledged write carries the version the product gave it. After the faults
//! heal every node must hold, for every key, the same record (else the key is *divergent*), and
//! that record must be at least as strong as every acknowledged write of the key under the
//! product's order (higher clock; equal clocks: the resolver, handed both candidates in canonical
//! order — the same rule `Replica::apply` follows). An acknowledged write that beats the final
//! record is *lost*; an acknowledged delete (or an acknowledged write whose deadline has passed)
//! that beats a final value is a *resurrection*. A final record no acknowledged or unanswered
//! write explains (a value never written, or one whose write failed or had no effect) is
//! *unexpected*.
//!
//! **Deadlines.** A node's final record ([`Final`]) carries its deadline and whether the node
//! reads it as expired, and each node's contents carry its clock while they were read
//! ([`Contents::clock`]). The rules for them, each counted in [`Report`]:
//! - *expired visible*: a record whose deadline is at or before the node's clock must read as
//!   absent there (no value, expired), whatever the other nodes do;
//! - *expired early*: a record whose deadline is after the node's clock (or that has none) must
//!   not read as expired;
//! - *persist undone*: when the record is an acknowledged persist or plain put (its version
//!   names it), it must hold a value and no deadline;
//! - *wrong deadline*: when the record is an acknowledged put with a TTL or expire, its deadline
//!   must be one that write can have set: its TTL after a reading of the writing node's clock
//!   between the call and its answer ([`Event::deadline_window`]).
//!
//! An expire or a persist rewrites the key's live value, so a record such a write explains holds
//! a value some put of the key wrote (one not refused, and, when acknowledged, older than the
//! record); a record of a put past its deadline (a put with a TTL, or an expire) may have lost
//! its value. The harness reads the final contents once every short deadline has passed on every
//! node's clock by a margin, and no long one is near ([`pending_deadline`]): so every node judges
//! every deadline the same way, and the keys that expired in the run are seen expired. The
//! checker judges no deadline reached during a node's own read.

use std::collections::{BTreeMap, BTreeSet};

use meshkv::record::entry::deadline_ms;
use meshkv::replica::{Candidate, Choice};
use meshkv::{Db, Resolver, Version};

use super::history::{Event, Outcome};
use super::workload::{clock_ms, Op};

/// A key's final record on one node, as a client reads it (`Db::get_versioned`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Final {
    /// The value; `None` for a tombstone or a put past its deadline.
    pub value: Option<Vec<u8>>,
    pub version: Version,
    /// The put's deadline, ms since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Whether the node reads it as a put past its deadline.
    pub expired: bool,
}

impl Final {
    /// A live value without a deadline, or a tombstone (`None`).
    pub fn plain(value: Option<&[u8]>, version: Version) -> Final {
        Final {
            value: value.map(<[u8]>::to_vec),
            version,
            expires_at: None,
            expired: false,
        }
    }
}

/// One node's final contents: every key's record, and the node's clock (ms) just before and
/// just after they were read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contents {
    pub records: BTreeMap<Vec<u8>, Final>,
    pub clock: (u64, u64),
}

impl Contents {
    /// Every key the node's log lists, read as a client reads it, with the node's clock.
    pub fn read(db: &Db) -> Contents {
        let before = clock_ms(db);
        let keys: Vec<Vec<u8>> = db
            .replica()
            .changes_since(0)
            .map(|r| r.expect("the log reads").1.key)
            .collect();
        let records = keys
            .into_iter()
            .map(|key| {
                let r = db
                    .get_versioned(&key)
                    .expect("the key reads")
                    .expect("a key the log lists has a record");
                let f = Final {
                    value: r.value,
                    version: r.version,
                    expires_at: r.expires_at.map(deadline_ms),
                    expired: r.expired,
                };
                (key, f)
            })
            .collect();
        Contents {
            records,
            clock: (before, clock_ms(db)),
        }
    }
}

/// How far (ms) past a deadline every node's clock must be when the final contents are read:
/// closer, it could be judged either way between two reads.
pub const MARGIN_MS: u64 = 20;

/// Deadlines this close (ms) ahead of the nodes' clocks are short TTLs still running, which the
/// final read waits out; further ones are long TTLs (days), which no node reaches in a run. Ten
/// minutes: far above any short TTL plus the clock skews of a run, far below the long TTLs and
/// the hours-ahead clock of the simulation (a write it makes gets a deadline hours ahead).
pub const HORIZON_MS: u64 = 10 * 60 * 1000;

/// The latest deadline of any record that is not yet past every node's clock during its read
/// by [`MARGIN_MS`], and not further than [`HORIZON_MS`] ahead of the latest: a short TTL still
/// running (or just reached: what each node reads of it may still change, or differ between
/// nodes). The harness waits until every node's clock is past it by the margin and reads again;
/// `None`: every deadline is past on every node or far ahead, and the reads cannot flap.
pub fn pending_deadline(nodes: &[Contents]) -> Option<u64> {
    let from = nodes.iter().map(|n| n.clock.0).min()?;
    let to = nodes.iter().map(|n| n.clock.1).max()?;
    nodes
        .iter()
        .flat_map(|n| n.records.values())
        .filter_map(|f| f.expires_at)
        .filter(|&d| d.saturating_add(MARGIN_MS) >= from && d <= to.saturating_add(HORIZON_MS))
        .max()
}

/// What the checker found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub acknowledged: u64,
    pub unknown: u64,
    /// Writes the product refused (they must not take effect).
    pub failed: u64,
    /// Expires and persists answered without a write (the key held no live value on that
    /// node): not writes, so neither acknowledged nor attempted.
    pub no_effect: u64,
    pub lost: u64,
    pub unexpected: u64,
    pub divergent_keys: u64,
    pub resurrected: u64,
    /// Keys read with a value (or not as expired) on a node whose clock is past their deadline.
    pub expired_visible: u64,
    /// Keys read as expired on a node whose clock has not reached their deadline (or without
    /// one).
    pub expired_early: u64,
    /// Keys whose record is an acknowledged persist or plain put, read with a deadline or
    /// without a value.
    pub persist_undone: u64,
    /// Keys whose record is an acknowledged put with a TTL or expire, with a deadline that
    /// write cannot have set.
    pub wrong_deadline: u64,
    /// Not violations: keys every node read as expired at the end,
    pub expired_keys: u64,
    /// keys every node read live with a deadline still ahead,
    pub deadline_keys: u64,
    /// and keys whose record is an acknowledged persist.
    pub persisted_keys: u64,
}

impl Report {
    /// The violation counts and the end state's expiry counts, as the suites print them.
    pub fn outcomes(&self) -> String {
        format!(
            "no effect {}, lost {}, unexpected {}, divergent {}, resurrected {}, expired visible \
             {}, expired early {}, persist undone {}, wrong deadline {}; at the end {} keys \
             expired, {} live with a deadline, {} persisted",
            self.no_effect,
            self.lost,
            self.unexpected,
            self.divergent_keys,
            self.resurrected,
            self.expired_visible,
            self.expired_early,
            self.persist_undone,
            self.wrong_deadline,
            self.expired_keys,
            self.deadline_keys,
            self.persisted_keys,
        )
    }

    /// True when nothing was lost, resurrected, unexplained or divergent, and every deadline
    /// read as it must.
    pub fn valid(&self) -> bool {
        self.lost == 0
            && self.unexpected == 0
            && self.divergent_keys == 0
            && self.resurrected == 0
            && self.expired_visible == 0
            && self.expired_early == 0
            && self.persist_undone == 0
            && self.wrong_deadline == 0
    }

    /// Writes attempted: acknowledged, unanswered or refused (an expire or persist answered
    /// without a write is not one).
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

    /// Adds `other`'s counts to this one (a suite's total over its runs).
    pub fn add(&mut self, other: &Report) {
        self.acknowledged += other.acknowledged;
        self.unknown += other.unknown;
        self.failed += other.failed;
        self.no_effect += other.no_effect;
        self.lost += other.lost;
        self.unexpected += other.unexpected;
        self.divergent_keys += other.divergent_keys;
        self.resurrected += other.resurrected;
        self.expired_visible += other.expired_visible;
        self.expired_early += other.expired_early;
        self.persist_undone += other.persist_undone;
        self.wrong_deadline += other.wrong_deadline;
        self.expired_keys += other.expired_keys;
        self.deadline_keys += other.deadline_keys;
        self.persisted_keys += other.persisted_keys;
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
    let count = |f: fn(&Outcome) -> bool| history.iter().filter(|e| f(&e.outcome)).count() as u64;
    let mut report = Report {
        acknowledged: count(|o| matches!(o, Outcome::Ok(_))),
        unknown: count(|o| *o == Outcome::Unknown),
        failed: count(|o| *o == Outcome::Fail),
        no_effect: count(|o| *o == Outcome::NoEffect),
        ..Report::default()
    };
    let mut by_key: BTreeMap<&[u8], Vec<&Event>> = BTreeMap::new();
    for e in history {
        by_key.entry(e.op.key()).or_default().push(e);
    }
    let keys: BTreeSet<&[u8]> = nodes
        .iter()
        .flat_map(|n| n.records.keys().map(Vec::as_slice))
        .chain(by_key.keys().copied())
        .collect();
    for key in keys {
        let states: Vec<Option<&Final>> = nodes.iter().map(|n| n.records.get(key)).collect();
        let writes = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
        if states.windows(2).any(|w| w[0] != w[1]) {
            report.divergent_keys += 1;
        } else if let Some(Some(f)) = states.first() {
            report.expired_keys += u64::from(f.expired);
            report.deadline_keys += u64::from(f.value.is_some() && f.expires_at.is_some());
            report.persisted_keys += u64::from(writes.iter().any(|e| {
                matches!(e.op, Op::Persist { .. }) && e.outcome == Outcome::Ok(f.version)
            }));
        }
        // Every node's record is judged; a key counts once per kind of violation (a lost write
        // counts once however many nodes lack it).
        let mut key_verdict = Verdict::default();
        for (state, node) in states.iter().zip(nodes) {
            let v = judge(resolver, key, writes, *state, node.clock);
            key_verdict.lost = key_verdict.lost.max(v.lost);
            key_verdict.unexpected |= v.unexpected;
            key_verdict.resurrected |= v.resurrected;
            key_verdict.expired_visible |= v.expired_visible;
            key_verdict.expired_early |= v.expired_early;
            key_verdict.persist_undone |= v.persist_undone;
            key_verdict.wrong_deadline |= v.wrong_deadline;
        }
        report.lost += key_verdict.lost;
        report.unexpected += u64::from(key_verdict.unexpected);
        report.resurrected += u64::from(key_verdict.resurrected);
        report.expired_visible += u64::from(key_verdict.expired_visible);
        report.expired_early += u64::from(key_verdict.expired_early);
        report.persist_undone += u64::from(key_verdict.persist_undone);
        report.wrong_deadline += u64::from(key_verdict.wrong_deadline);
    }
    report
}

/// What was wrong with one node's record of one key.
#[derive(Clone, Copy, Debug, Default)]
struct Verdict {
    /// Acknowledged writes lost.
    lost: u64,
    unexpected: bool,
    resurrected: bool,
    expired_visible: bool,
    expired_early: bool,
    persist_undone: bool,
    wrong_deadline: bool,
}

/// One node's record of `key` (read while the node's clock went from `clock.0` to `clock.1`)
/// against the key's writes.
fn judge(
    resolver: &dyn Resolver,
    key: &[u8],
    writes: &[&Event],
    state: Option<&Final>,
    clock: (u64, u64),
) -> Verdict {
    let acked = || {
        writes.iter().filter_map(|e| match &e.outcome {
            Outcome::Ok(v) => Some((*e, v)),
            _ => None,
        })
    };
    let Some(f) = state else {
        // Nothing at all, not even a tombstone: every acknowledged write of the key is lost.
        return Verdict {
            lost: acked().count() as u64,
            ..Verdict::default()
        };
    };
    let mut out = Verdict::default();

    // The node's judgement of the deadline, by its own clock. A deadline reached while it was
    // read is not judged (the harness waits such deadlines out).
    match f.expires_at {
        Some(d) if d <= clock.0 => out.expired_visible = f.value.is_some() || !f.expired,
        Some(d) if d > clock.1 => out.expired_early = f.value.is_none() || f.expired,
        Some(_) => {}
        None => out.expired_early = f.expired,
    }

    // Which write the record is. A value an expire or a persist rewrote: one a put of the key
    // stored, not refused, older than the record when its version is known.
    let stored_by_a_put = |value: &[u8]| {
        writes.iter().any(|e| {
            e.op.value() == Some(value)
                && match &e.outcome {
                    Outcome::Ok(v) => v.clock < f.version.clock,
                    Outcome::Unknown => true,
                    Outcome::Fail | Outcome::NoEffect => false,
                }
        })
    };
    let expired_put = f.value.is_none() && f.expires_at.is_some();
    let fits_value = |e: &Event| match &e.op {
        Op::Put { value, .. } => f.value.as_deref() == Some(value.as_slice()),
        Op::PutTtl { value, .. } => f.value.as_deref() == Some(value.as_slice()) || expired_put,
        Op::Expire { .. } => f.value.as_deref().map_or(expired_put, stored_by_a_put),
        Op::Persist { .. } => f.value.as_deref().is_some_and(stored_by_a_put),
        Op::Delete { .. } => f.value.is_none() && f.expires_at.is_none(),
    };
    let fits_deadline = |e: &Event| match (e.deadline_window(), f.expires_at) {
        (None, None) => true,
        (Some((early, late)), Some(d)) => early <= d && d <= late,
        _ => false,
    };
    // Versions are unique per write: an acknowledged write with the record's version is it.
    match acked().find(|(_, v)| **v == f.version) {
        Some((e, _)) if matches!(e.op, Op::Put { .. } | Op::Persist { .. }) => {
            if f.value.is_none() || f.expires_at.is_some() || f.expired {
                out.persist_undone = true;
            } else if !fits_value(e) {
                out.unexpected = true;
            }
        }
        Some((e, _)) => {
            if !fits_value(e) {
                out.unexpected = true;
            } else if !fits_deadline(e) {
                out.wrong_deadline = true;
            }
        }
        None => {
            out.unexpected = !writes
                .iter()
                .any(|e| e.outcome == Outcome::Unknown && fits_value(e) && fits_deadline(e));
        }
    }

    for (e, acked) in acked() {
        // The acknowledged write as a candidate: an expire or persist rewrote some value.
        let acked_value = match &e.op {
            Op::Delete { .. } => None,
            op => op.value().or(f.value.as_deref()).or(Some(b"")),
        };
        if !beats(
            resolver,
            key,
            (acked_value, acked),
            (f.value.as_deref(), &f.version),
        ) {
            continue;
        }
        // Whether the beaten write leaves the key absent by now: a delete, or a write whose
        // deadline has passed on this node whatever it was.
        let absent = matches!(e.op, Op::Delete { .. })
            || e.deadline_window().is_some_and(|(_, late)| late <= clock.0);
        match (absent, f.value.is_some()) {
            (true, true) => out.resurrected = true,
            // A delete beaten by an older tombstone: the key is absent all the same.
            (true, false) if matches!(e.op, Op::Delete { .. }) => {}
            _ => out.lost += 1,
        }
    }
    out
}
