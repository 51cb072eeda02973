//! The fault suite's checker counts every kind of violation it exists for (and passes a clean
//! run), on hand-made histories and final contents: a clean run with concurrent writes, an unknown
//! and a failed operation is valid; lost, resurrected, unexpected and divergent keys are each
//! counted, and the acknowledged-writes floor every suite asserts fails a run that acknowledged
//! nothing. Keys that expire: a clean run with puts with a TTL, expires, persists, an expire that
//! wrote nothing and an unanswered one is valid; a value read after its deadline, a key read
//! expired before its deadline, an acknowledged persist that left a deadline or no value, a
//! deadline no write can have set, a rewritten value no put wrote, a lost persist and a value
//! that outlived a later write's deadline are each counted alone; a deadline near a read is
//! waited out. The workloads are seeded and shaped as their mode says.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::jepsen::checker::{
    check, pending_deadline, Contents, Final, Report, HORIZON_MS, MARGIN_MS,
};
use common::jepsen::history::{Event, Outcome};
use common::jepsen::workload::{Mode, Op, Ttls, Workload};
use meshkv::{LastWriteWins, NodeId, Version};

fn v(clock: u64, timestamp: u64, origin: u8) -> Version {
    Version {
        clock,
        timestamp,
        origin: NodeId([origin; 16]),
    }
}

/// The clock (ms) every hand-made operation runs at, and the one nodes are read at.
const T: u64 = 1_000_000;
const READ: u64 = T + 10_000;

fn event(op: Op, outcome: Outcome) -> Event {
    Event {
        client: 0,
        node: 0,
        op,
        outcome,
        clock: (T, T + 2),
    }
}

fn put(key: &str, value: &str, outcome: Outcome) -> Event {
    let (key, value) = (key.into(), value.into());
    event(Op::Put { key, value }, outcome)
}

fn put_ttl(key: &str, value: &str, ttl_ms: u64, outcome: Outcome) -> Event {
    let (key, value) = (key.into(), value.into());
    let ttl = Duration::from_millis(ttl_ms);
    event(Op::PutTtl { key, value, ttl }, outcome)
}

fn expire(key: &str, ttl_ms: u64, outcome: Outcome) -> Event {
    let ttl = Duration::from_millis(ttl_ms);
    event(
        Op::Expire {
            key: key.into(),
            ttl,
        },
        outcome,
    )
}

fn persist(key: &str, outcome: Outcome) -> Event {
    event(Op::Persist { key: key.into() }, outcome)
}

fn del(key: &str, outcome: Outcome) -> Event {
    event(Op::Delete { key: key.into() }, outcome)
}

/// A record as a node reads it at [`READ`]: a value (or none), a version and a deadline;
/// expired when it has a deadline and no value.
type Rec<'a> = (&'a str, Option<&'a str>, Version, Option<u64>);

fn node_at(clock: u64, records: &[Rec]) -> Contents {
    Contents {
        records: records
            .iter()
            .map(|(k, val, ver, at)| {
                let f = Final {
                    value: val.map(|s| s.into()),
                    version: *ver,
                    expires_at: *at,
                    expired: at.is_some() && val.is_none(),
                };
                (k.as_bytes().to_vec(), f)
            })
            .collect(),
        clock: (clock, clock + 3),
    }
}

fn node(records: &[Rec]) -> Contents {
    node_at(READ, records)
}

/// The violations a report counts, by name (zeros left out).
fn violations(r: &Report) -> Vec<(&'static str, u64)> {
    [
        ("lost", r.lost),
        ("unexpected", r.unexpected),
        ("divergent", r.divergent_keys),
        ("resurrected", r.resurrected),
        ("expired_visible", r.expired_visible),
        ("expired_early", r.expired_early),
        ("persist_undone", r.persist_undone),
        ("wrong_deadline", r.wrong_deadline),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect()
}

#[test]
fn a_clean_run_is_valid() {
    let history = vec![
        put("a", "c0-1", Outcome::Ok(v(1, 10, 1))),
        put("a", "c1-1", Outcome::Ok(v(1, 12, 2))), // concurrent: LWW picks the later one
        del("b", Outcome::Ok(v(2, 11, 1))),
        put("b", "c0-2", Outcome::Ok(v(1, 9, 1))),
        put("c", "c0-3", Outcome::Unknown), // may or may not have happened
        put("d", "c0-4", Outcome::Fail),
    ];
    let n = node(&[
        ("a", Some("c1-1"), v(1, 12, 2), None),
        ("b", None, v(2, 11, 1), None),
        ("c", Some("c0-3"), v(1, 13, 1), None),
    ]);
    let r = check(&LastWriteWins, &history, &[n.clone(), n]);
    assert_eq!(
        r,
        Report {
            acknowledged: 4,
            unknown: 1,
            failed: 1,
            ..Report::default()
        }
    );
    assert!(r.valid());
    // The acknowledged-writes floor: 4 of 6 attempted; a run that acknowledged none never passes.
    assert_eq!(r.attempted(), 6);
    assert!(r.acked_at_least(0.6) && !r.acked_at_least(0.7));
    let none = Report {
        failed: 6,
        ..Report::default()
    };
    assert!(none.valid() && !none.acked_at_least(0.0));
}

#[test]
fn each_violation_is_counted() {
    let history = vec![
        // lost: the acknowledged later put is not what the nodes hold
        put("lost", "c0-1", Outcome::Ok(v(1, 10, 1))),
        put("lost", "c0-2", Outcome::Ok(v(2, 11, 1))),
        // resurrected: an acknowledged delete beats the value still there
        put("res", "c0-3", Outcome::Ok(v(1, 10, 1))),
        del("res", Outcome::Ok(v(2, 11, 1))),
        // unexpected: a failed write's value
        put("unexp", "c0-5", Outcome::Fail),
        // divergent: two nodes disagree
        put("div", "c0-6", Outcome::Ok(v(1, 10, 1))),
        put("div", "c1-6", Outcome::Ok(v(1, 10, 2))),
        // missing everywhere: lost
        put("gone", "c0-7", Outcome::Ok(v(1, 10, 1))),
    ];
    let a = node(&[
        ("lost", Some("c0-1"), v(1, 10, 1), None),
        ("res", Some("c0-3"), v(1, 10, 1), None),
        ("unexp", Some("c0-5"), v(1, 10, 1), None),
        ("div", Some("c1-6"), v(1, 10, 2), None),
    ]);
    let mut b = a.clone();
    b.records
        .insert(b"div".to_vec(), Final::plain(Some(b"c0-6"), v(1, 10, 1)));
    let r = check(&LastWriteWins, &history, &[a, b]);
    // "lost", "gone", and on the second node "div" (it holds the write LWW says loses).
    assert_eq!(r.lost, 3, "{r:?}");
    assert_eq!(r.resurrected, 1, "{r:?}");
    assert_eq!(r.unexpected, 1, "{r:?}");
    assert_eq!(r.divergent_keys, 1, "{r:?}");
    assert!(!r.valid());
}

/// A history with every expiry operation, and the contents it must leave, read at [`READ`]:
/// the tests below break one record each.
fn expiring_history() -> Vec<Event> {
    vec![
        // "short": a put with a TTL of 1 s, expired by the read
        put_ttl("short", "c0-1", 1_000, Outcome::Ok(v(1, 10, 1))),
        // "long": a put with a TTL of a day, live at the read
        put_ttl("long", "c0-2", 86_400_000, Outcome::Ok(v(1, 10, 1))),
        // "exp": a put, then an expire of 2 s (it rewrites the put's value), expired by the read
        put("exp", "c0-3", Outcome::Ok(v(1, 10, 1))),
        expire("exp", 2_000, Outcome::Ok(v(2, 11, 1))),
        // "keep": a put with a short TTL, then a persist: live, no deadline
        put_ttl("keep", "c0-4", 1_000, Outcome::Ok(v(1, 10, 1))),
        persist("keep", Outcome::Ok(v(2, 11, 1))),
        // "none": an expire that found no live value wrote nothing
        expire("none", 1_000, Outcome::NoEffect),
        // "unk": an expire without an answer (it ran, later than it was sent)
        put("unk", "c0-5", Outcome::Ok(v(1, 10, 1))),
        expire("unk", 86_400_000, Outcome::Unknown),
        // "plain": a put with a TTL, then a plain put, which clears it
        put_ttl("plain", "c0-6", 1_000, Outcome::Ok(v(1, 10, 1))),
        put("plain", "c0-7", Outcome::Ok(v(2, 11, 1))),
    ]
}

fn expiring_contents() -> Vec<Rec<'static>> {
    vec![
        ("short", None, v(1, 10, 1), Some(T + 1_001)),
        ("long", Some("c0-2"), v(1, 10, 1), Some(T + 86_400_000)),
        ("exp", None, v(2, 11, 1), Some(T + 2_002)),
        ("keep", Some("c0-4"), v(2, 11, 1), None),
        ("unk", Some("c0-5"), v(2, 50, 1), Some(T + 86_400_500)),
        ("plain", Some("c0-7"), v(2, 11, 1), None),
    ]
}

/// The checker's report for [`expiring_history`] (plus `extra`) against [`expiring_contents`]
/// with `change` applied, on two nodes.
fn check_expiring(extra: Vec<Event>, change: impl Fn(&mut Vec<Rec<'static>>)) -> Report {
    let mut history = expiring_history();
    history.extend(extra);
    let mut records = expiring_contents();
    change(&mut records);
    let n = node(&records);
    check(&LastWriteWins, &history, &[n.clone(), n])
}

#[test]
fn a_clean_run_with_deadlines_is_valid() {
    let r = check_expiring(vec![], |_| {});
    assert!(r.valid(), "{r:?}");
    assert_eq!(violations(&r), vec![]);
    assert_eq!((r.acknowledged, r.unknown, r.no_effect), (9, 1, 1));
    // An expire that wrote nothing is not a write: not attempted, not against the floor.
    assert_eq!(r.attempted(), 10);
    assert!(r.acked_at_least(0.9));
    assert_eq!(
        (r.expired_keys, r.deadline_keys, r.persisted_keys),
        (2, 2, 1)
    );
}

#[test]
fn a_value_read_after_its_deadline_is_counted() {
    // "short" expired at T + 1,001, read at T + 10,000 with its value.
    let r = check_expiring(vec![], |c| c[0].1 = Some("c0-1"));
    assert_eq!(violations(&r), vec![("expired_visible", 1)], "{r:?}");
    // The same record read before its deadline is fine.
    let history = expiring_history();
    let early = node_at(
        T + 500,
        &[("short", Some("c0-1"), v(1, 10, 1), Some(T + 1_001))],
    );
    let r = check(&LastWriteWins, &history[..1], &[early]);
    assert_eq!(violations(&r), vec![], "{r:?}");
}

#[test]
fn a_key_read_expired_before_its_deadline_is_counted() {
    // "long" has a day left, read without its value.
    let r = check_expiring(vec![], |c| c[1].1 = None);
    assert_eq!(violations(&r), vec![("expired_early", 1)], "{r:?}");
}

#[test]
fn an_acknowledged_persist_keeps_the_key() {
    // The persist is the winning write of "keep", but the node kept a deadline...
    let r = check_expiring(vec![], |c| c[3].3 = Some(T + 86_400_000));
    assert_eq!(violations(&r), vec![("persist_undone", 1)], "{r:?}");
    // ... or lost the value.
    let r = check_expiring(vec![], |c| c[3].1 = None);
    assert_eq!(violations(&r), vec![("persist_undone", 1)], "{r:?}");
    // A plain put clears a deadline in the same way.
    let r = check_expiring(vec![], |c| c[5].3 = Some(T + 86_400_000));
    assert_eq!(violations(&r), vec![("persist_undone", 1)], "{r:?}");
}

#[test]
fn a_deadline_its_write_cannot_have_set_is_counted() {
    // "long"'s put set a day after a reading in T ..= T + 2: not two days.
    let r = check_expiring(vec![], |c| c[1].3 = Some(T + 2 * 86_400_000));
    assert_eq!(violations(&r), vec![("wrong_deadline", 1)], "{r:?}");
    // Nor none at all.
    let r = check_expiring(vec![], |c| c[1].3 = None);
    assert_eq!(violations(&r), vec![("wrong_deadline", 1)], "{r:?}");
    // The expire of "exp" set 2 s: an expired record with 3 s is not it.
    let r = check_expiring(vec![], |c| c[2].3 = Some(T + 3_000));
    assert_eq!(violations(&r), vec![("wrong_deadline", 1)], "{r:?}");
    // An unanswered expire ran at T or later: a deadline a day before T + 1 day is no write's.
    let r = check_expiring(vec![], |c| c[4].3 = Some(T + 86_399_000));
    assert_eq!(violations(&r), vec![("unexpected", 1)], "{r:?}");
}

#[test]
fn a_rewritten_value_must_be_one_a_put_wrote() {
    // The persist of "keep" shows a value no put of the key wrote...
    let r = check_expiring(vec![], |c| c[3].1 = Some("c9-9"));
    assert_eq!(violations(&r), vec![("unexpected", 1)], "{r:?}");
    // ... or one whose put was refused ...
    let refused = vec![put("keep", "c0-8", Outcome::Fail)];
    let r = check_expiring(refused, |c| c[3].1 = Some("c0-8"));
    assert_eq!(violations(&r), vec![("unexpected", 1)], "{r:?}");
    // ... or one a later put wrote (it cannot have rewritten the future).
    let later = vec![put("keep", "c1-8", Outcome::Ok(v(3, 12, 2)))];
    let r = check_expiring(later, |c| {
        c[3].1 = Some("c1-8");
    });
    // That later put also beats the persist's record: lost too.
    assert_eq!(
        violations(&r),
        vec![("lost", 1), ("unexpected", 1)],
        "{r:?}"
    );
    // The expire of "exp", read before its deadline, shows the value the put wrote.
    let history = expiring_history();
    let early = node_at(
        T + 100,
        &[("exp", Some("c0-3"), v(2, 11, 1), Some(T + 2_002))],
    );
    let r = check(&LastWriteWins, &history[2..4], &[early]);
    assert_eq!(violations(&r), vec![], "{r:?}");
    let wrong = node_at(
        T + 100,
        &[("exp", Some("c0-9"), v(2, 11, 1), Some(T + 2_002))],
    );
    let r = check(&LastWriteWins, &history[2..4], &[wrong]);
    assert_eq!(violations(&r), vec![("unexpected", 1)], "{r:?}");
}

#[test]
fn a_lost_expire_or_persist_is_lost() {
    // The nodes hold the put with a short TTL of "keep", not the persist that beat it.
    let r = check_expiring(vec![], |c| {
        c[3] = ("keep", None, v(1, 10, 1), Some(T + 1_001))
    });
    assert_eq!(violations(&r), vec![("lost", 1)], "{r:?}");
    // They hold the put of "exp" (live, no deadline), not the expire that beat it: the value
    // outlived the expire's deadline.
    let r = check_expiring(vec![], |c| c[2] = ("exp", Some("c0-3"), v(1, 10, 1), None));
    assert_eq!(violations(&r), vec![("resurrected", 1)], "{r:?}");
}

#[test]
fn nodes_that_judge_a_deadline_differently_diverge() {
    let history = expiring_history();
    let live = node_at(
        T + 500,
        &[("short", Some("c0-1"), v(1, 10, 1), Some(T + 1_001))],
    );
    let gone = node_at(T + 500, &[("short", None, v(1, 10, 1), Some(T + 1_001))]);
    let r = check(&LastWriteWins, &history[..1], &[live, gone]);
    // The second node also reads it expired before its deadline.
    assert_eq!(
        violations(&r),
        vec![("divergent", 1), ("expired_early", 1)],
        "{r:?}"
    );
}

#[test]
fn a_deadline_near_the_reads_is_waited_out() {
    let at = |clock, deadline| node_at(clock, &[("k", None, v(1, 10, 1), Some(deadline))]);
    // Long past, or far ahead (a long TTL), on every node: nothing to wait for.
    assert_eq!(
        pending_deadline(&[at(T, T - 1_000), at(T + 50, T - 1_000)]),
        None
    );
    assert_eq!(pending_deadline(&[at(T, T + 3 + HORIZON_MS + 1)]), None);
    // A short TTL still running: its expiry is waited for.
    assert_eq!(pending_deadline(&[at(T, T + 60_000)]), Some(T + 60_000));
    // Between two nodes' reads (a skewed clock), or within the margin of one.
    assert_eq!(
        pending_deadline(&[at(T, T + 30), at(T + 100, T + 30)]),
        Some(T + 30)
    );
    assert_eq!(
        pending_deadline(&[at(T, T + 3 + MARGIN_MS)]),
        Some(T + 3 + MARGIN_MS)
    );
    assert_eq!(
        pending_deadline(&[at(T, T - MARGIN_MS)]),
        Some(T - MARGIN_MS)
    );
}

#[test]
fn workloads_are_seeded_and_shaped() {
    let ops = |seed, mode| -> Vec<Op> {
        let mut w = Workload::new(seed, 3, mode);
        (0..200).map(|_| w.next_op()).collect()
    };
    let conflicts = Mode::Conflicts { keys: 4 };
    assert_eq!(ops(7, conflicts), ops(7, conflicts));
    assert_ne!(ops(7, conflicts), ops(8, conflicts));
    let count = |ops: &[Op], f: fn(&Op) -> bool| ops.iter().filter(|o| f(o)).count();
    let deletes = |ops: &[Op]| count(ops, |o| matches!(o, Op::Delete { .. }));
    let heavy = ops(7, Mode::DeleteHeavy { keys: 4 });
    assert!(deletes(&heavy) > 70, "{}", deletes(&heavy));
    let c = ops(7, conflicts);
    assert!((20..70).contains(&deletes(&c)));
    assert!(c.iter().all(|o| o.key().len() == 2));
    let unique = ops(7, Mode::UniqueKeys);
    assert_eq!(deletes(&unique), 0);
    // Every put has a key of its own; an expire or a persist goes to one of them.
    let put_keys: Vec<_> = unique
        .iter()
        .filter(|o| o.value().is_some())
        .map(|o| o.key().to_vec())
        .collect();
    let distinct: BTreeSet<_> = put_keys.iter().cloned().collect();
    assert_eq!(distinct.len(), put_keys.len());
    assert!(unique
        .iter()
        .filter(|o| o.rewrites())
        .all(|o| distinct.contains(o.key())));
    // Every mode writes deadlines at a modest ratio: puts with a TTL, expires, persists, with
    // short TTLs (under a second in-process) and long ones (days).
    for ops in [&c, &heavy, &unique] {
        let ttl = count(ops, |o| matches!(o, Op::PutTtl { .. }));
        let expires = count(ops, |o| matches!(o, Op::Expire { .. }));
        let persists = count(ops, |o| matches!(o, Op::Persist { .. }));
        assert!((5..50).contains(&ttl), "{ttl}");
        assert!((1..30).contains(&expires), "{expires}");
        assert!((1..20).contains(&persists), "{persists}");
        let ttls: Vec<Duration> = ops.iter().filter_map(Op::ttl).collect();
        assert!(ttls.iter().any(|t| *t < Duration::from_secs(1)));
        assert!(ttls.iter().any(|t| *t >= Duration::from_secs(72 * 3600)));
    }
    // TTLs for the HTTP API are whole seconds.
    let mut w = Workload::new(7, 0, conflicts).with_ttls(Ttls::HTTP);
    let http: Vec<Duration> = (0..500).filter_map(|_| w.next_op().ttl()).collect();
    assert!(!http.is_empty());
    assert!(http
        .iter()
        .all(|t| t.subsec_nanos() == 0 && *t >= Duration::from_secs(1)));
}
