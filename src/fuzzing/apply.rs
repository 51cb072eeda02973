//! Harness `apply`: [`Replica::apply`](crate::replica::Replica::apply) of arbitrary remote entries,
//! interleaved with local writes, against a `BTreeMap` model of docs/design.md invariant 5.
//!
//! Each input opens a fresh database (small limits: keys up to [`MAX_KEY`] bytes, values up to
//! [`MAX_VALUE`]) and runs a list of operations: a remote batch of up to five entries drawn from
//! a few keys, clocks, timestamps and origins (with the implausible ones among them: clock 0 or
//! above 2^62, a nil origin, a timestamp days ahead, an empty or oversized key or value), or a
//! local put or delete. The model says:
//! - a batch holding an implausible entry is refused whole with a typed error, and nothing of it
//!   is written; a batch without one is accepted;
//! - per entry, in order: the higher clock wins; an equal clock with the same `(timestamp,
//!   origin)` is the same write (kept); otherwise last-writer-wins (higher timestamp, then
//!   higher origin);
//! - a local write takes the key's clock + 1 and a timestamp above the key's previous one.
//!
//! After every operation the touched keys match the model; at the end every key does, the log
//! holds one entry per key, and `verify()` is clean.

use std::collections::BTreeMap;

use super::Input;
use crate::storage::keys::MAX_EXPIRES_AT_MS;
use crate::{hlc, Db, Entry, Error, LastWriteWins, NodeId, Options, Version};

/// The fuzzed database's key limit.
pub const MAX_KEY: usize = 16;
/// The fuzzed database's value limit.
pub const MAX_VALUE: usize = 64;
/// The fuzzed database's node id.
pub const OWN: NodeId = NodeId([9; 16]);

type Model = BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version)>;

fn key(input: &mut Input<'_>) -> Vec<u8> {
    match input.byte() % 16 {
        k @ 0..=11 => vec![b'k', b'0' + k % 6],
        12 => Vec::new(),
        13 => vec![b'x'; MAX_KEY + 1],
        _ => {
            let n = usize::from(input.byte() % 4) + 1;
            input.bytes(n).to_vec()
        }
    }
}

fn value(input: &mut Input<'_>) -> Option<Vec<u8>> {
    match input.byte() {
        0 => None,
        255 => Some(vec![0xab; MAX_VALUE + 1]),
        n => Some(vec![n; usize::from(n % 8)]),
    }
}

fn entry(input: &mut Input<'_>, now: u64) -> Entry {
    let key = key(input);
    let value = value(input);
    let clock = match input.byte() {
        0 => 0,
        255 => u64::MAX,
        254 => (1 << 62) + 1,
        253 => 1 << 62,
        b => u64::from(b % 6) + 1,
    };
    let timestamp = match input.byte() {
        255 => u64::MAX,
        254 => now + ((2 * 24 * 3600 * 1000) << hlc::LOGICAL_BITS),
        253 => now + ((3600 * 1000) << hlc::LOGICAL_BITS),
        b => u64::from(b % 4) + 1,
    };
    let origin = match input.byte() % 5 {
        0 => NodeId([0; 16]),
        1 => OWN,
        o => NodeId([o; 16]),
    };
    let wall_ms = hlc::millis(now);
    // Mostly none; else already past (stored expired), an hour ahead, or past the latest.
    let expires_at = match input.byte() % 8 {
        0 => Some(wall_ms.saturating_sub(1000)),
        1 => Some(wall_ms + 3_600_000),
        2 => Some(u64::MAX),
        _ => None,
    };
    Entry {
        key,
        value,
        version: Version {
            clock,
            timestamp,
            origin,
        },
        expires_at,
    }
}

/// Whether `apply` must refuse `e` (and so its whole batch).
fn implausible(e: &Entry, now: u64) -> bool {
    let day = (24 * 3600 * 1000) << hlc::LOGICAL_BITS;
    e.key.is_empty()
        || e.key.len() > MAX_KEY
        || e.value.as_ref().is_some_and(|v| v.len() > MAX_VALUE)
        || e.version.clock == 0
        || e.version.clock > 1 << 62
        || e.version.origin.is_nil()
        || e.version.timestamp > now.saturating_add(day)
        || e.expires_at.is_some_and(|at| at > MAX_EXPIRES_AT_MS)
        // A put sent as expired whose deadline is more than the clock bound (the default
        // `max_clock_drift`) ahead of this node's clock.
        || (e.value.is_none()
            && e.expires_at.is_some_and(|at| {
                let bound = crate::storage::DEFAULT_MAX_CLOCK_DRIFT.as_millis() as u64;
                at > hlc::millis(now) + bound
            }))
}

/// What the key holds after `e` wins, by this node's clock at `now`: its value, unless its
/// deadline has passed.
fn held(e: &Entry, now: u64) -> Option<Vec<u8>> {
    e.value
        .clone()
        .filter(|_| !crate::record::entry::expired(e.expires_at, hlc::millis(now)))
}

/// The model's rule for a remote entry against the local version.
fn wins(remote: &Version, local: &Version) -> bool {
    if remote.clock != local.clock {
        return remote.clock > local.clock;
    }
    if (remote.timestamp, remote.origin) == (local.timestamp, local.origin) {
        return false;
    }
    (remote.timestamp, remote.origin) > (local.timestamp, local.origin)
}

fn check_key(db: &Db, model: &Model, key: &[u8]) {
    if key.is_empty() || key.len() > MAX_KEY {
        // `get_versioned` refuses such keys; nothing may have stored one.
        assert!(
            !model.contains_key(key),
            "the model holds invalid key {key:?}"
        );
        return;
    }
    let got = db
        .get_versioned(key)
        .unwrap_or_else(|e| panic!("get_versioned: {e}"))
        .map(|r| (r.value, r.version));
    assert_eq!(
        got.as_ref(),
        model.get(key),
        "key {key:?} differs from the model"
    );
}

/// Runs one input; panics when the database and the model disagree.
pub fn apply(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let options = Options::default()
        .node_id(OWN)
        .max_key_size(MAX_KEY)
        .max_value_size(MAX_VALUE);
    let db = Db::open(dir.path(), options).unwrap_or_else(|e| panic!("open: {e}"));
    let mut model = Model::new();
    let mut input = Input::new(data);
    let mut ops = 0;
    while !input.is_empty() && ops < 64 {
        ops += 1;
        let now = hlc::wall_clock();
        let op = input.byte();
        if op % 4 == 0 {
            let key = key(&mut input);
            let put = op & 0x10 != 0;
            let result = if put {
                db.put(&key, [op])
            } else {
                db.delete(&key)
            };
            let valid = !key.is_empty() && key.len() <= MAX_KEY;
            match result {
                Ok(v) => {
                    assert!(valid, "a local write of key {key:?} was accepted");
                    if let Some((_, prev)) = model.get(&key) {
                        assert_eq!(v.clock, prev.clock + 1, "local clock");
                        assert!(v.timestamp > prev.timestamp, "local timestamp went back");
                    } else {
                        assert_eq!(v.clock, 1);
                    }
                    assert_eq!(v.origin, OWN);
                    model.insert(key.clone(), (put.then(|| vec![op]), v));
                }
                Err(Error::EmptyKey | Error::KeyTooLarge { .. }) => assert!(!valid),
                Err(e) => panic!("local write: {e}"),
            }
            check_key(&db, &model, &key);
            continue;
        }
        let n = usize::from(input.byte() % 6);
        let batch: Vec<Entry> = (0..n).map(|_| entry(&mut input, now)).collect();
        let refused = batch.iter().any(|e| implausible(e, now));
        match db.replica().apply(&batch, &LastWriteWins) {
            Ok(_) => {
                assert!(!refused, "a batch with an implausible entry was applied");
                for e in &batch {
                    let take = match model.get(&e.key) {
                        None => true,
                        Some((_, v)) => wins(&e.version, v),
                    };
                    if take {
                        model.insert(e.key.clone(), (held(e, now), e.version));
                    }
                }
            }
            Err(
                Error::InvalidEntry { .. }
                | Error::EmptyKey
                | Error::KeyTooLarge { .. }
                | Error::ValueTooLarge { .. },
            ) => assert!(refused, "a plausible batch was refused"),
            Err(e) => panic!("apply: {e}"),
        }
        for e in &batch {
            check_key(&db, &model, &e.key);
        }
    }
    let mut logged = Model::new();
    for item in db.replica().changes_since(0) {
        let (_, e) = item.unwrap_or_else(|e| panic!("log: {e}"));
        assert!(
            logged.insert(e.key, (e.value, e.version)).is_none(),
            "two log entries for one key"
        );
    }
    assert_eq!(logged, model, "the log differs from the model");
    let report = db.verify().unwrap_or_else(|e| panic!("verify: {e}"));
    assert!(report.is_clean(), "verify: {report:?}");
}
