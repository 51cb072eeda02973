//! The fault suite's checker counts every kind of violation it exists for (and passes a clean
//! run), on hand-made histories and final contents: a clean run with concurrent writes, an unknown
//! and a failed operation is valid; lost, resurrected, unexpected and divergent keys are each
//! counted, and the acknowledged-writes floor every suite asserts fails a run that acknowledged
//! nothing. The workloads are seeded and shaped as their mode says.

use crate::common;

use common::jepsen::checker::{check, Contents, Report};
use common::jepsen::history::{Event, Outcome};
use common::jepsen::workload::{Mode, Op, Workload};
use meshkv::{LastWriteWins, NodeId, Version};

fn v(clock: u64, timestamp: u64, origin: u8) -> Version {
    Version {
        clock,
        timestamp,
        origin: NodeId([origin; 16]),
    }
}

fn put(key: &str, value: &str, outcome: Outcome) -> Event {
    Event {
        client: 0,
        node: 0,
        op: Op::Put {
            key: key.into(),
            value: value.into(),
        },
        outcome,
    }
}

fn del(key: &str, outcome: Outcome) -> Event {
    Event {
        client: 0,
        node: 0,
        op: Op::Delete { key: key.into() },
        outcome,
    }
}

fn node(records: &[(&str, Option<&str>, Version)]) -> Contents {
    records
        .iter()
        .map(|(k, val, ver)| (k.as_bytes().to_vec(), (val.map(|s| s.into()), *ver)))
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
        ("a", Some("c1-1"), v(1, 12, 2)),
        ("b", None, v(2, 11, 1)),
        ("c", Some("c0-3"), v(1, 13, 1)),
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
        ("lost", Some("c0-1"), v(1, 10, 1)),
        ("res", Some("c0-3"), v(1, 10, 1)),
        ("unexp", Some("c0-5"), v(1, 10, 1)),
        ("div", Some("c1-6"), v(1, 10, 2)),
    ]);
    let mut b = a.clone();
    b.insert(b"div".to_vec(), (Some(b"c0-6".to_vec()), v(1, 10, 1)));
    let r = check(&LastWriteWins, &history, &[a, b]);
    // "lost", "gone", and on the second node "div" (it holds the write LWW says loses).
    assert_eq!(r.lost, 3, "{r:?}");
    assert_eq!(r.resurrected, 1, "{r:?}");
    assert_eq!(r.unexpected, 1, "{r:?}");
    assert_eq!(r.divergent_keys, 1, "{r:?}");
    assert!(!r.valid());
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
    let deletes = |ops: &[Op]| {
        ops.iter()
            .filter(|o| matches!(o, Op::Delete { .. }))
            .count()
    };
    let heavy = ops(7, Mode::DeleteHeavy { keys: 4 });
    assert!(deletes(&heavy) > 70, "{}", deletes(&heavy));
    let c = ops(7, conflicts);
    assert!((20..70).contains(&deletes(&c)));
    assert!(c.iter().all(|o| o.key().len() == 2));
    let unique = ops(7, Mode::UniqueKeys);
    assert_eq!(deletes(&unique), 0);
    let keys: std::collections::BTreeSet<_> = unique.iter().map(|o| o.key().to_vec()).collect();
    assert_eq!(keys.len(), 200);
}
