//! A folder written by format 1 (log entries of puts without their value's length, `format` 1)
//! or format 2 (no `deadlines` column family) opens without a migration: its entries stay
//! readable and feed peers with their values, new puts record their lengths, keys can be given
//! deadlines, and the first writable open marks it current (format 4), so that an older build
//! refuses it from then on (`UnsupportedFormat`) instead of misreading it. An open that refuses
//! the folder leaves it as it was, format record and column families included. A format-3
//! folder (values with a deadline in an `expiring` column family) is migrated at open, also
//! when an earlier migration was cut short.

use meshkv::record::Op;
use std::time::Duration;

use meshkv::storage::keys::{cf, decode_u32, meta, IndexRecord, LogEntry, SeqKey, FORMAT_VERSION};
use meshkv::storage::rocksdb_options;
use meshkv::{Db, Error, NodeId, Options};

/// The folder's column families, as RocksDB lists them.
fn families(path: &std::path::Path) -> Vec<String> {
    let (opts, _) = rocksdb_options(&Options::default());
    rocksdb::DB::list_cf(&opts, path).unwrap()
}

/// The descriptors of the families the folder has.
fn existing(path: &std::path::Path) -> (rocksdb::Options, Vec<rocksdb::ColumnFamilyDescriptor>) {
    let found = families(path);
    let (opts, cfs) = rocksdb_options(&Options::default());
    let cfs = cfs
        .into_iter()
        .filter(|d| found.iter().any(|f| f == d.name()))
        .collect();
    (opts, cfs)
}

fn open_raw(path: &std::path::Path) -> rocksdb::DB {
    let (opts, cfs) = existing(path);
    rocksdb::DB::open_cf_descriptors(&opts, path, cfs).unwrap()
}

/// The folder's `format` record.
fn format_of(path: &std::path::Path) -> u32 {
    let (opts, cfs) = existing(path);
    let raw = rocksdb::DB::open_cf_descriptors_read_only(&opts, path, cfs, false).unwrap();
    let bytes = raw
        .get_cf(raw.cf_handle(cf::META).unwrap(), meta::FORMAT)
        .unwrap()
        .unwrap();
    decode_u32(meta::FORMAT, &bytes).unwrap()
}

/// Every log entry, decoded.
fn log_of(db: &rocksdb::DB) -> Vec<(u64, LogEntry)> {
    db.iterator_cf(db.cf_handle(cf::LOG).unwrap(), rocksdb::IteratorMode::Start)
        .map(|item| {
            let (k, v) = item.unwrap();
            let seq = SeqKey::decode(&k).unwrap().0;
            (seq, LogEntry::decode(seq, &v).unwrap())
        })
        .collect()
}

/// Turns a folder this build wrote (without deadlines) into one format `n` wrote: `format` n,
/// only the four base column families, and for format 1 puts logged as op 0.
fn make_format(path: &std::path::Path, n: u32) {
    let mut raw = open_raw(path);
    raw.drop_cf(cf::DEADLINES).unwrap();
    let log = raw.cf_handle(cf::LOG).unwrap();
    for (seq, mut entry) in log_of(&raw) {
        if n == 1 {
            entry.value_len = None;
        }
        raw.put_cf(log, SeqKey(seq).encode(), entry.encode())
            .unwrap();
    }
    raw.put_cf(
        raw.cf_handle(cf::META).unwrap(),
        meta::FORMAT,
        n.to_be_bytes(),
    )
    .unwrap();
}

#[test]
fn a_format_1_folder_opens_feeds_its_entries_and_is_marked_current() {
    older_folder_opens(1);
}

#[test]
fn a_format_2_folder_opens_feeds_its_entries_and_is_marked_current() {
    older_folder_opens(2);
}

fn older_folder_opens(n: u32) {
    assert_eq!(FORMAT_VERSION, 4);
    let dir = tempfile::tempdir().unwrap();
    let id = NodeId([4; 16]);
    let expected: Vec<_> = {
        let db = Db::open(dir.path(), Options::default().node_id(id)).unwrap();
        for i in 0..50u32 {
            db.put(format!("k{i:02}"), vec![i as u8; 100 + i as usize])
                .unwrap();
        }
        db.delete(b"k07").unwrap();
        db.replica().changes_since(0).map(|r| r.unwrap()).collect()
    };
    make_format(dir.path(), n);
    assert_eq!(format_of(dir.path()), n);
    assert_eq!(
        families(dir.path()).len(),
        5,
        "default and the four base families"
    );
    {
        let raw = open_raw(dir.path());
        let entries = log_of(&raw);
        assert!(entries
            .iter()
            .all(|(_, e)| e.value_len.is_none() == (n == 1 || e.op == Op::Delete)));
    }

    // Refused (another node id): nothing is written, the format and families stay.
    let err = Db::open(dir.path(), Options::default().node_id(NodeId([5; 16]))).unwrap_err();
    assert!(matches!(err, Error::NodeIdMismatch { .. }), "{err}");
    assert_eq!(format_of(dir.path()), n);
    assert_eq!(families(dir.path()).len(), 5);

    {
        let db = Db::open(dir.path(), Options::default().node_id(id)).unwrap();
        // The old entries feed with their values, in batches and one by one alike.
        let mut changes = db.replica().changes_since(0);
        let mut batched = Vec::new();
        loop {
            let batch = changes.next_batch(1_000).unwrap();
            if batch.is_empty() {
                break;
            }
            batched.extend(batch);
        }
        assert_eq!(batched, expected);
        let one_by_one: Vec<_> = db.replica().changes_since(0).map(|r| r.unwrap()).collect();
        assert_eq!(one_by_one, expected);
        assert!(db.verify().unwrap().is_clean());
        db.put(b"new", vec![9u8; 1234]).unwrap();
        db.put(b"k01", vec![8u8; 77]).unwrap();
        db.put_with_ttl(b"brief", b"v", std::time::Duration::from_secs(3600))
            .unwrap();
        assert!(db.ttl(b"brief").unwrap().is_some());
    }
    assert_eq!(format_of(dir.path()), FORMAT_VERSION);
    let raw = open_raw(dir.path());
    let log = log_of(&raw);
    drop(raw);
    let recorded = |key: &[u8]| log.iter().find(|(_, e)| e.key == key).unwrap().1.value_len;
    assert_eq!(recorded(b"new"), Some(1234));
    assert_eq!(recorded(b"k01"), Some(77));
    assert_eq!(
        recorded(b"k02"),
        (n >= 2).then_some(102),
        "untouched entries keep their format's layout"
    );
    let deleted = log.iter().find(|(_, e)| e.key == b"k07").unwrap();
    assert_eq!((deleted.1.op, deleted.1.value_len), (Op::Delete, None));

    // Reopens as format 4 (which an older build refuses as newer than its own).
    let db = Db::open(dir.path(), Options::default().node_id(id)).unwrap();
    assert!(db.verify().unwrap().is_clean());
    assert_eq!(db.get(b"k01").unwrap(), Some(vec![8u8; 77]));
    assert_eq!(db.get(b"brief").unwrap(), Some(b"v".to_vec()));
}

/// Turns the records with a deadline (format 4) into format 3's layout, as many as `limit`:
/// the value, if any, into `expiring` (`expires_at | value`), the record back to op 0 with its
/// deadline (49 bytes). With `format` the folder says format 3 (else it stays at 4: a migration cut
/// short after marking the folder). Returns how many records it rewrote.
fn make_format_3(path: &std::path::Path, limit: usize, format: bool) -> usize {
    let mut raw = open_raw(path);
    if raw.cf_handle(cf::LEGACY_EXPIRING).is_none() {
        raw.create_cf(cf::LEGACY_EXPIRING, &rocksdb::Options::default())
            .unwrap();
    }
    let index = raw.cf_handle(cf::INDEX).unwrap();
    let legacy = raw.cf_handle(cf::LEGACY_EXPIRING).unwrap();
    let held: Vec<(Vec<u8>, Vec<u8>)> = raw
        .iterator_cf(index, rocksdb::IteratorMode::Start)
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .filter(|(k, v)| IndexRecord::decode(k, v).unwrap().expires_at.is_some())
        .take(limit)
        .collect();
    for (key, bytes) in &held {
        let (rec, value) = IndexRecord::decode_inline(key, bytes).unwrap();
        let mut old = bytes[..IndexRecord::MAX_ENCODED_LEN].to_vec();
        old[8] = 0;
        // A put past its deadline without its value: early format-3 builds left its record
        // op 0 too, with nothing in `expiring`.
        if let Some(value) = value {
            let mut stored = rec.expires_at.unwrap().to_be_bytes().to_vec();
            stored.extend_from_slice(value);
            raw.put_cf(legacy, key, stored).unwrap();
        }
        raw.put_cf(index, key, old).unwrap();
    }
    if format {
        raw.put_cf(
            raw.cf_handle(cf::META).unwrap(),
            meta::FORMAT,
            3u32.to_be_bytes(),
        )
        .unwrap();
    }
    held.len()
}

/// The keys, values and deadlines of a folder written with 40 keys with a deadline (one already
/// expired) and 10 without.
fn with_deadlines(db: &Db) {
    for i in 0..40u32 {
        let ttl = Duration::from_secs(3600 + u64::from(i));
        db.put_with_ttl(format!("t{i:02}"), vec![i as u8; 50 + i as usize], ttl)
            .unwrap();
    }
    for i in 0..10u32 {
        db.put(format!("p{i}"), vec![i as u8; 10]).unwrap();
    }
    db.expire(b"t05", Duration::ZERO).unwrap();
}

#[test]
fn a_format_3_folder_moves_its_values_into_the_index_at_open() {
    for (limit, format) in [(usize::MAX, true), (15, false)] {
        let dir = tempfile::tempdir().unwrap();
        let id = NodeId([6; 16]);
        let (expected, deadlines) = {
            let db = Db::open(dir.path(), Options::default().node_id(id)).unwrap();
            with_deadlines(&db);
            let all: Vec<_> = db.scan(..).map(|r| r.unwrap()).collect();
            let ttls: Vec<_> = all.iter().map(|(k, _)| db.expiry(k).unwrap()).collect();
            (all, ttls)
        };
        let rewritten = make_format_3(dir.path(), limit, format);
        assert_eq!(rewritten, if format { 40 } else { 15 });
        assert!(families(dir.path())
            .iter()
            .any(|f| f == cf::LEGACY_EXPIRING));
        assert_eq!(format_of(dir.path()), if format { 3 } else { 4 });

        let db = Db::open(dir.path(), Options::default().node_id(id)).unwrap();
        assert!(
            db.verify().unwrap().is_clean(),
            "{:?}",
            db.verify().unwrap()
        );
        let all: Vec<_> = db.scan(..).map(|r| r.unwrap()).collect();
        assert_eq!(all, expected);
        for ((k, v), at) in expected.iter().zip(&deadlines) {
            assert_eq!(db.get(k).unwrap().as_ref(), Some(v));
            assert_eq!(&db.expiry(k).unwrap(), at);
        }
        assert_eq!(db.get(b"t05").unwrap(), None);
        assert_eq!((db.key_count(), db.expiring_key_count()), (49, 39));
        // Their values feed peers from the index too.
        let fed: Vec<_> = db.replica().changes_since(0).map(|r| r.unwrap()).collect();
        assert!(fed
            .iter()
            .any(|(_, e)| e.key == b"t07" && e.value.as_deref() == Some(&[7u8; 57][..])));
        drop(db);
        assert_eq!(format_of(dir.path()), FORMAT_VERSION);
        assert!(!families(dir.path())
            .iter()
            .any(|f| f == cf::LEGACY_EXPIRING));
    }
}
