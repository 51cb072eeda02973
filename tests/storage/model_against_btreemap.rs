//! Operation test (proptest) against a `BTreeMap` model: random puts, deletes, batches and reopens;
//! after every step the database's contents, versions, log and `verify()` agree with the model.

use std::collections::BTreeMap;

use meshkv::{Db, Options};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Reopen,
}

fn key(k: u8) -> Vec<u8> {
    format!("key/{k}").into_bytes()
}

fn step() -> impl Strategy<Value = Step> {
    let value = proptest::collection::vec(any::<u8>(), 0..24);
    prop_oneof![
        6 => (0u8..8, value.clone()).prop_map(|(k, v)| Step::Put(k, v)),
        3 => (0u8..8).prop_map(Step::Delete),
        2 => proptest::collection::vec((0u8..8, proptest::option::of(value)), 0..6).prop_map(Step::Batch),
        1 => Just(Step::Reopen),
    ]
}

/// Model: key -> (value or tombstone, clock).
type Model = BTreeMap<Vec<u8>, (Option<Vec<u8>>, u64)>;

fn model_write(model: &mut Model, k: u8, value: Option<Vec<u8>>) -> u64 {
    let entry = model.entry(key(k)).or_insert((None, 0));
    entry.0 = value;
    entry.1 += 1;
    entry.1
}

fn check(db: &Db, model: &Model) -> Result<(), TestCaseError> {
    for k in 0..8u8 {
        let got = db.get_versioned(key(k)).unwrap();
        match model.get(&key(k)) {
            None => prop_assert!(got.is_none()),
            Some((value, clock)) => {
                let rec = got.expect("record present");
                prop_assert_eq!(&rec.value, value);
                prop_assert_eq!(rec.version.clock, *clock);
                prop_assert_eq!(db.get(key(k)).unwrap(), value.clone());
            }
        }
    }
    let live: Vec<(Vec<u8>, Vec<u8>)> = model
        .iter()
        .filter_map(|(k, (v, _))| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let scanned: Vec<_> = db.scan_prefix(b"key/").map(|r| r.unwrap()).collect();
    prop_assert_eq!(scanned, live);
    let log: Vec<_> = db.replica().changes_since(0).map(|r| r.unwrap()).collect();
    prop_assert_eq!(log.len(), model.len(), "one log entry per key");
    for (_, e) in &log {
        let (value, clock) = &model[&e.key];
        prop_assert_eq!(&e.value, value);
        prop_assert_eq!(e.version.clock, *clock);
    }
    let report = db.verify().unwrap();
    prop_assert!(report.is_clean(), "{:?}", report);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn database_matches_model(steps in proptest::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), Options::default()).unwrap();
        let id = db.node_id();
        let mut model = Model::new();
        for s in steps {
            match s {
                Step::Put(k, v) => {
                    let version = db.put(key(k), &v).unwrap();
                    prop_assert_eq!(version.clock, model_write(&mut model, k, Some(v)));
                    prop_assert_eq!(version.origin, id);
                }
                Step::Delete(k) => {
                    let version = db.delete(key(k)).unwrap();
                    prop_assert_eq!(version.clock, model_write(&mut model, k, None));
                }
                Step::Batch(ops) => {
                    let mut batch = db.batch();
                    for (k, v) in &ops {
                        match v {
                            Some(v) => batch.put(key(*k), v),
                            None => batch.delete(key(*k)),
                        };
                    }
                    let versions = db.write(batch).unwrap();
                    prop_assert_eq!(versions.len(), ops.len());
                    for ((k, v), version) in ops.into_iter().zip(versions) {
                        prop_assert_eq!(version.clock, model_write(&mut model, k, v));
                    }
                }
                Step::Reopen => {
                    let seq = db.last_seq();
                    drop(db);
                    db = Db::open(dir.path(), Options::default()).unwrap();
                    prop_assert_eq!(db.node_id(), id);
                    prop_assert_eq!(db.last_seq(), seq);
                }
            }
            check(&db, &model)?;
        }
    }
}
