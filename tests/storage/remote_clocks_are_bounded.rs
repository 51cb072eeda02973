//! A peer's clock cannot drag this node's along (docs/design.md, "Clocks"): a remote timestamp
//! more than `max_clock_drift` ahead of this node's wall clock is refused, one within it is
//! applied but adopted by the hybrid clock only up to half the bound, so the next local write
//! stays near this node's wall clock; the bound is set per database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshkv::record::{hlc, Clock};
use meshkv::replica::Entry;
use meshkv::{Db, Error, LastWriteWins, NodeId, Options, Version};

const MINUTE: u64 = 60_000;

fn entry(key: &str, at_ms: u64) -> Entry {
    Entry {
        key: key.as_bytes().to_vec(),
        value: Some(b"v".to_vec()),
        version: Version {
            clock: 1,
            timestamp: hlc::pack(at_ms, 0),
            origin: NodeId([5; 16]),
        },
        expires_at: None,
    }
}

#[test]
fn timestamps_beyond_the_bound_are_refused_and_within_it_adopted_only_halfway() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_900_000_000_000));
    let t = now.load(Ordering::Relaxed);
    let clock = {
        let now = Arc::clone(&now);
        Clock::custom(move || now.load(Ordering::Relaxed))
    };
    let db = Db::open(dir.path(), Options::default().clock(clock)).unwrap();
    let replica = db.replica();
    // Default bound: 15 minutes.
    let err = replica
        .apply(&[entry("far", t + 16 * MINUTE)], &LastWriteWins)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidEntry { reason, .. } if reason.contains("max_clock_drift")),
        "{err}"
    );
    assert!(replica.check_entry(&entry("far", t + 16 * MINUTE)).is_err());
    assert_eq!(db.get("far").unwrap(), None);
    // Ten minutes ahead: applied, but the clock adopts at most 7.5 of them.
    let report = replica
        .apply(&[entry("near", t + 10 * MINUTE)], &LastWriteWins)
        .unwrap();
    assert_eq!(report.applied, 1);
    let local = db.put("mine", "x").unwrap();
    assert!(
        hlc::millis(local.timestamp) <= t + 15 * MINUTE / 2,
        "the local write is {} ms ahead",
        hlc::millis(local.timestamp) - t
    );
    // A larger bound accepts what the default refused; a smaller one refuses what it accepted.
    replica.set_max_clock_drift(Duration::from_secs(3600));
    assert!(replica.check_entry(&entry("far", t + 16 * MINUTE)).is_ok());
    replica.set_max_clock_drift(Duration::from_secs(60));
    assert!(replica
        .check_entry(&entry("near2", t + 2 * MINUTE))
        .is_err());
    // The bound moves with this node's wall clock.
    now.store(t + 2 * MINUTE, Ordering::Relaxed);
    assert!(replica.check_entry(&entry("near2", t + 2 * MINUTE)).is_ok());
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn one_entry_cannot_lift_a_key_to_the_clock_ceiling() {
    // The freeze: an entry with clock 2^62 used to be accepted, and the key's next local write
    // (2^62 + 1) was refused by every peer. A remote clock may now step at most 2^40 above the
    // local clock of its key.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let replica = db.replica();
    let t = hlc::millis(Clock::system().reading());
    let at = |clock: u64| Entry {
        version: Version {
            clock,
            ..entry("k", t).version
        },
        ..entry("k", t)
    };
    for clock in [1u64 << 62, (1 << 40) + 1] {
        let err = replica.apply(&[at(clock)], &LastWriteWins).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidEntry { reason, .. } if reason.contains("2^40")),
            "{err}"
        );
        assert!(replica.check_entry(&at(clock)).is_err());
    }
    assert_eq!(db.get("k").unwrap(), None);
    // Within the step: applied, and the key stays writable.
    replica.apply(&[at(1 << 40)], &LastWriteWins).unwrap();
    assert!(replica.check_entry(&at(1 << 41)).is_ok());
    assert!(replica.check_entry(&at((1 << 41) + 1)).is_err());
    let v = db.put("k", "local").unwrap();
    assert_eq!(v.clock, (1 << 40) + 1);
}
