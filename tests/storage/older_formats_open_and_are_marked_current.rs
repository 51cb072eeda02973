//! A folder written by format 1 (log entries of puts without their value's length, `format` 1)
//! or format 2 (no `expiring` and `deadlines` column families) opens without a migration: its
//! entries stay readable and feed peers with their values, new puts record their lengths, keys
//! can be given deadlines, and the first writable open marks it current (format 3), so that an
//! older build refuses it from then on (`UnsupportedFormat`) instead of misreading it. An open
//! that refuses the folder leaves it as it was, format record and column families included.

use meshkv::record::Op;
use meshkv::storage::keys::{cf, decode_u32, meta, LogEntry, SeqKey, FORMAT_VERSION};
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
    for name in [cf::EXPIRING, cf::DEADLINES] {
        raw.drop_cf(name).unwrap();
    }
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
    assert_eq!(FORMAT_VERSION, 3);
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

    // Reopens as format 3 (which an older build refuses as newer than its own).
    let db = Db::open(dir.path(), Options::default().node_id(id)).unwrap();
    assert!(db.verify().unwrap().is_clean());
    assert_eq!(db.get(b"k01").unwrap(), Some(vec![8u8; 77]));
    assert_eq!(db.get(b"brief").unwrap(), Some(b"v".to_vec()));
}
