//! Bad input from a caller or a disk: a typed error with a clear message, and nothing written.
//! Covered: empty and oversized keys and values (one bad operation rejects the whole batch, local
//! or remote), invalid options (the error names the field, nothing is created), a plain RocksDB
//! database, a non-empty folder without a database, a newer format version, corrupt meta and index
//! records, implausible remote versions, and a folder already open (locked). Refused folders (a
//! newer format, another node id) are left untouched.

use meshkv::storage::keys::{cf, meta, FORMAT_VERSION};
use meshkv::storage::rocksdb_options;
use meshkv::{Db, Error, Options};

fn open_raw(path: &std::path::Path) -> rocksdb::DB {
    let (mut opts, cfs) = rocksdb_options(&Options::default());
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    rocksdb::DB::open_cf_descriptors(&opts, path, cfs).unwrap()
}

fn small() -> Options {
    Options::default().max_key_size(8).max_value_size(16)
}

#[test]
fn empty_and_oversized_keys_and_values_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    db.put(b"keep", b"v").unwrap();
    let before = db.last_seq();

    assert!(matches!(db.put(b"", b"v"), Err(Error::EmptyKey)));
    assert!(matches!(db.delete(b""), Err(Error::EmptyKey)));
    assert!(matches!(db.get(b""), Err(Error::EmptyKey)));
    assert!(matches!(
        db.put(b"123456789", b"v"),
        Err(Error::KeyTooLarge { len: 9, max: 8 })
    ));
    let err = db.put(b"k", [0u8; 17]).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { len: 17, max: 16 }));
    assert!(err.to_string().contains("max_value_size"), "{err}");

    // One bad operation rejects the whole batch.
    let mut batch = db.batch();
    batch.put(b"ok", b"v").put(b"", b"v");
    assert!(matches!(db.write(batch), Err(Error::EmptyKey)));
    assert_eq!(db.get(b"ok").unwrap(), None);

    // Remote entries are checked the same way, before anything is applied.
    let good = meshkv::replica::Entry {
        key: b"r".to_vec(),
        value: Some(b"v".to_vec()),
        version: meshkv::Version {
            clock: 1,
            timestamp: 1,
            origin: meshkv::NodeId([1; 16]),
        },
        expires_at: None,
    };
    let mut bad = good.clone();
    bad.value = Some(vec![0; 100]);
    assert!(matches!(
        db.replica().apply(&[good, bad], &meshkv::LastWriteWins),
        Err(Error::ValueTooLarge { .. })
    ));
    assert_eq!(db.get(b"r").unwrap(), None);

    assert_eq!(db.last_seq(), before);
    assert_eq!(db.replica().changes_since(0).count(), 1);
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn invalid_options_name_the_field_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let err = Db::open(&path, Options::default().max_key_size(0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOptions {
                field: "max_key_size",
                ..
            }
        ),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn a_plain_rocksdb_database_is_not_meshkv() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let raw = rocksdb::DB::open(&opts, dir.path()).unwrap();
        raw.put(b"theirs", b"x").unwrap();
    }
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(err, Error::NotMeshkv { .. }), "{err}");
    assert!(err.to_string().contains("column families"), "{err}");
    // Untouched: still no meshkv column families.
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
    assert_eq!(cfs, vec!["default".to_string()]);
}

#[test]
fn a_non_empty_folder_without_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(err, Error::NotMeshkv { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_creation_cut_short_is_finished_not_refused() {
    // What a kill during the first open can leave before RocksDB's CURRENT exists (seen in the
    // process fault suite): its info log, lock, first WAL, manifest and options, and our key.
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "LOG",
        "LOCK",
        "IDENTITY",
        "000004.log",
        "MANIFEST-000005",
        "OPTIONS-000007",
    ] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    assert!(db.identity_is_bound());
    drop(db);
    // A write-ahead log with bytes in it could be data whose CURRENT was lost: refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("MANIFEST-000005"), b"").unwrap();
    std::fs::write(dir.path().join("000004.log"), b"records").unwrap();
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(err, Error::NotMeshkv { .. }), "{err}");
    assert!(dir.path().join("000004.log").exists());
    // Refused: left exactly as it was, the files that would have been cleared included.
    assert!(dir.path().join("MANIFEST-000005").exists());
    // A user's file among them is still refused.
    let dir = tempfile::tempdir().unwrap();
    for name in ["LOG", "notes.txt"] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(err, Error::NotMeshkv { .. }), "{err}");
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Db::open(dir.path(), Options::default()).unwrap());
    {
        let raw = open_raw(dir.path());
        let meta_cf = raw.cf_handle(cf::META).unwrap();
        raw.put_cf(meta_cf, meta::FORMAT, (FORMAT_VERSION + 1).to_be_bytes())
            .unwrap();
    }
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedFormat { found, supported } if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
        "{err}"
    );
}

#[test]
fn corrupt_meta_records_are_typed_errors() {
    for (name, bytes) in [
        (meta::NODE_ID, &b"short"[..]),
        (meta::NODE_ID, &[0u8; 16][..]),
        (meta::FORMAT, &b"x"[..]),
        (meta::HLC_LEASE, &b"123"[..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        drop(Db::open(dir.path(), Options::default()).unwrap());
        {
            let raw = open_raw(dir.path());
            let meta_cf = raw.cf_handle(cf::META).unwrap();
            raw.put_cf(meta_cf, name, bytes).unwrap();
        }
        let err = Db::open(dir.path(), Options::default()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{name:?}: {err}");
        assert!(err.to_string().contains("meta record"), "{err}");
    }
}

#[test]
fn a_corrupt_index_record_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    {
        let raw = open_raw(dir.path());
        raw.put_cf(raw.cf_handle(cf::INDEX).unwrap(), b"k", b"garbage")
            .unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(db.get_versioned(b"k"), Err(Error::Corrupt { .. })));
    assert!(matches!(db.put(b"k", b"v2"), Err(Error::Corrupt { .. })));
    let report = db.verify().unwrap();
    assert!(!report.is_clean());
    assert!(
        report.problems.iter().any(|p| p.contains("index record")),
        "{report:?}"
    );
}

#[test]
fn a_second_open_of_the_same_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::open(dir.path(), Options::default()).unwrap();
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");
}

#[test]
fn implausible_remote_versions_are_rejected_whole() {
    use meshkv::replica::Entry;
    use meshkv::{LastWriteWins, NodeId, Version};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let ok = Entry {
        key: b"fine".to_vec(),
        value: Some(b"v".to_vec()),
        version: Version {
            clock: 1,
            timestamp: 1,
            origin: NodeId([1; 16]),
        },
        expires_at: None,
    };
    let far_future = meshkv::record::hlc::wall_clock()
        + ((2 * 24 * 3600 * 1000) << meshkv::record::hlc::LOGICAL_BITS);
    for version in [
        Version {
            clock: 0,
            ..ok.version
        },
        Version {
            clock: u64::MAX,
            ..ok.version
        },
        Version {
            origin: NodeId([0; 16]),
            ..ok.version
        },
        Version {
            timestamp: u64::MAX,
            ..ok.version
        },
        Version {
            timestamp: far_future,
            ..ok.version
        },
    ] {
        let bad = Entry {
            key: b"bad".to_vec(),
            value: None,
            version,
            expires_at: None,
        };
        let err = db
            .replica()
            .apply(&[ok.clone(), bad], &LastWriteWins)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidEntry { .. }),
            "{version:?}: {err}"
        );
    }
    assert_eq!(db.last_seq(), 0, "nothing of a rejected batch is applied");
    assert_eq!(db.get(b"fine").unwrap(), None);
    // The clock was not dragged along: a local write gets a timestamp near the wall clock.
    let v = db.put(b"local", b"x").unwrap();
    assert!(v.timestamp < far_future);
}

/// Every file's name, length and modification time: enough to see that nothing was written.
fn listing(path: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn refusals_leave_the_folder_untouched() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    {
        let raw = open_raw(dir.path());
        let meta_cf = raw.cf_handle(cf::META).unwrap();
        raw.put_cf(meta_cf, meta::FORMAT, (FORMAT_VERSION + 1).to_be_bytes())
            .unwrap();
    }
    let before = listing(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(20)); // let a rewrite show in mtimes
    assert!(matches!(
        Db::open(dir.path(), Options::default()),
        Err(Error::UnsupportedFormat { .. })
    ));
    assert_eq!(listing(dir.path()), before);

    let other = tempfile::tempdir().unwrap();
    drop(
        Db::open(
            other.path(),
            Options::default().node_id(meshkv::NodeId([1; 16])),
        )
        .unwrap(),
    );
    let before = listing(other.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(matches!(
        Db::open(
            other.path(),
            Options::default().node_id(meshkv::NodeId([2; 16]))
        ),
        Err(Error::NodeIdMismatch { .. })
    ));
    assert_eq!(listing(other.path()), before);
}
