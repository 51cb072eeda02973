//! Keys that expire: the deadline is part of the versioned record, and "expired" is a pure
//! function of the record and the reading node's clock. Before its deadline a key reads as
//! usual; from it on it is absent from `get`, `get_versioned` (shown expired), scans, counts,
//! `ttl` and `expiry`, with no write. `expire`, `expire_at`, `persist` and a plain `put` are
//! versioned writes (clock + 1); expiring a key that holds no live value writes nothing. The
//! sweeper removes expired values without touching their records, deadlines survive a
//! reopen, and the watch tells an expiry apart from a delete. Time is a clock the test moves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::common::open_at;
use meshkv::{Batch, Db, Expiry, Version};

const START: u64 = 1_800_000_000_000;

fn keys(db: &Db) -> Vec<Vec<u8>> {
    db.scan(..).map(|r| r.unwrap().0).collect()
}

#[test]
fn a_key_reads_until_its_deadline_and_is_absent_from_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START));
    let db = open_at(dir.path(), &now);
    let v1 = db
        .put_with_ttl(b"k", b"v", Duration::from_secs(10))
        .unwrap();
    db.put(b"a", b"plain").unwrap();
    db.put_with_ttl(b"z", b"later", Duration::from_secs(60))
        .unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(db.ttl(b"k").unwrap(), Some(Duration::from_secs(10)));
    let at = UNIX_EPOCH + Duration::from_millis(START + 10_000);
    assert_eq!(db.expiry(b"k").unwrap(), Expiry::At(at));
    assert_eq!(db.expiry(b"a").unwrap(), Expiry::Never);
    assert_eq!(db.expiry(b"none").unwrap(), Expiry::Missing);
    assert_eq!(keys(&db), vec![b"a".to_vec(), b"k".to_vec(), b"z".to_vec()]);
    assert_eq!(db.live_keys().unwrap(), 3);
    let rec = db.get_versioned(b"k").unwrap().unwrap();
    assert_eq!((rec.expires_at, rec.expired), (Some(at), false));

    // One millisecond before, still there; at the deadline, gone, without any write.
    now.store(START + 9_999, Ordering::SeqCst);
    assert_eq!(db.ttl(b"k").unwrap(), Some(Duration::from_millis(1)));
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    now.store(START + 10_000, Ordering::SeqCst);
    let seq = db.last_seq();
    assert_eq!(db.get(b"k").unwrap(), None);
    assert_eq!(db.ttl(b"k").unwrap(), None);
    assert_eq!(db.expiry(b"k").unwrap(), Expiry::Missing);
    assert_eq!(keys(&db), vec![b"a".to_vec(), b"z".to_vec()]);
    assert_eq!(db.live_keys().unwrap(), 2);
    let rec = db.get_versioned(b"k").unwrap().unwrap();
    assert!(rec.expired && !rec.is_tombstone() && rec.value.is_none());
    assert_eq!(rec.version, v1);
    assert_eq!(db.last_seq(), seq, "expiry wrote nothing");
    // Expiring or persisting a key without a live value writes nothing.
    assert_eq!(db.expire(b"k", Duration::from_secs(5)).unwrap(), None);
    assert_eq!(db.persist(b"k").unwrap(), None);
    assert_eq!(db.persist(b"never").unwrap(), None);
    assert_eq!(db.last_seq(), seq);
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.live_keys, report.expired), (2, 1));
    // A new put of an expired key continues its clock.
    let v2 = db.put(b"k", b"again").unwrap();
    assert_eq!(v2.clock, v1.clock + 1);
    assert_eq!(db.expiry(b"k").unwrap(), Expiry::Never);
}

#[test]
fn expire_persist_and_put_are_versioned_writes_of_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START));
    let db = open_at(dir.path(), &now);
    let v1 = db.put(b"k", b"value").unwrap();
    let v2 = db.expire(b"k", Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(v2.clock, v1.clock + 1);
    assert_eq!(db.ttl(b"k").unwrap(), Some(Duration::from_secs(5)));
    assert_eq!(
        db.get(b"k").unwrap(),
        Some(b"value".to_vec()),
        "the value stays"
    );
    let v3 = db.persist(b"k").unwrap().unwrap();
    assert_eq!(v3.clock, v2.clock + 1);
    assert_eq!(db.expiry(b"k").unwrap(), Expiry::Never);
    now.store(START + 60_000, Ordering::SeqCst);
    assert_eq!(db.get(b"k").unwrap(), Some(b"value".to_vec()), "persisted");
    // A plain put clears a deadline, as Redis SET does.
    db.put_with_ttl(b"k", b"brief", Duration::from_secs(1))
        .unwrap();
    db.put(b"k", b"kept").unwrap();
    now.store(START + 120_000, Ordering::SeqCst);
    assert_eq!(db.get(b"k").unwrap(), Some(b"kept".to_vec()));
    // A deadline already past expires the key at once (an EXPIREAT in the past).
    let past = UNIX_EPOCH + Duration::from_millis(START);
    assert!(db.expire_at(b"k", past).unwrap().is_some());
    assert_eq!(db.get(b"k").unwrap(), None);
    assert!(db.get_versioned(b"k").unwrap().unwrap().expired);
    // A put with a zero ttl is stored expired.
    db.put_with_ttl(b"zero", b"v", Duration::ZERO).unwrap();
    assert_eq!(db.get(b"zero").unwrap(), None);
    // Too far ahead is a typed error, and writes nothing.
    let seq = db.last_seq();
    let err = db.put_with_ttl(b"k", b"v", Duration::MAX).unwrap_err();
    assert!(
        matches!(err, meshkv::Error::DeadlineTooLate { .. }),
        "{err}"
    );
    assert_eq!(db.last_seq(), seq);
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn batches_expire_and_persist_in_order_and_mark_what_wrote_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START));
    let db = open_at(dir.path(), &now);
    let mut batch = Batch::new();
    batch
        .put(b"a", b"1")
        .expire(b"a", Duration::from_secs(3))
        .expire(b"missing", Duration::from_secs(3))
        .put_with_ttl(b"b", b"2", Duration::from_secs(1))
        .persist(b"b")
        .put(b"c", b"3");
    let versions = db.write(batch).unwrap();
    assert_eq!(versions.len(), 6);
    assert_eq!(versions[2], Version::NONE);
    assert!(versions
        .iter()
        .enumerate()
        .all(|(i, v)| i == 2 || !v.is_none()));
    assert_eq!(versions[1].clock, versions[0].clock + 1);
    assert_eq!(db.ttl(b"a").unwrap(), Some(Duration::from_secs(3)));
    assert_eq!(db.expiry(b"b").unwrap(), Expiry::Never);
    assert_eq!(db.get(b"missing").unwrap(), None);
    assert!(db.get_versioned(b"missing").unwrap().is_none());
    now.store(START + 3_000, Ordering::SeqCst);
    assert_eq!(keys(&db), vec![b"b".to_vec(), b"c".to_vec()]);
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn the_sweeper_removes_expired_values_and_keeps_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START));
    {
        let db = open_at(dir.path(), &now);
        for i in 0..2500u32 {
            let ttl = Duration::from_millis(1000 + u64::from(i % 5) * 1000);
            db.put_with_ttl(format!("k{i:05}"), vec![7u8; 64], ttl)
                .unwrap();
        }
        db.put_with_ttl(b"long", b"v", Duration::from_secs(3600))
            .unwrap();
        // Overwritten keys leave no deadline behind: they are never swept.
        db.put(b"k00000", b"kept").unwrap();
        assert_eq!(db.sweep_expired().unwrap(), 0, "nothing is due yet");
        assert_eq!((db.key_count(), db.expiring_key_count()), (2501, 2500));
        now.store(START + 3_000, Ordering::SeqCst);
        // Expired keys count until swept, as Redis keys until evicted.
        assert_eq!(db.key_count(), 2501);
        assert_eq!(db.live_keys().unwrap(), 1002);
        // Values stay a second past their deadline (for peers a little behind): at +3 s only
        // the deadlines up to +2 s are due.
        assert_eq!(db.sweep_expired().unwrap(), 999);
        assert_eq!(db.sweep_expired().unwrap(), 0);
        now.store(START + 4_000, Ordering::SeqCst);
        // Then the third of five: 1,500 keys minus the overwritten one in all, in steps of at
        // most `sweep_batch` (1,000).
        assert_eq!(db.sweep_expired().unwrap(), 500);
        assert_eq!(db.sweep_expired().unwrap(), 0);
        assert_eq!(db.stats().expired_swept, 1499);
        assert_eq!((db.key_count(), db.expiring_key_count()), (1002, 1001));
        let report = db.verify().unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!((report.live_keys, report.expired), (502, 1999));
        let rec = db.get_versioned(b"k00001").unwrap().unwrap();
        assert!(rec.expired);
        // A swept put still feeds peers, as expired: no value, its deadline.
        let fed: Vec<_> = db
            .replica()
            .changes_since(0)
            .map(|r| r.unwrap().1)
            .filter(|e| e.key == b"k00001")
            .collect();
        assert_eq!(fed.len(), 1);
        assert_eq!(
            (fed[0].value.as_ref(), fed[0].expires_at),
            (None, Some(START + 2_000))
        );
    }
    // Deadlines survive a reopen; the clock moving back does not bring swept values back.
    now.store(START, Ordering::SeqCst);
    let db = open_at(dir.path(), &now);
    assert_eq!(db.get(b"k00001").unwrap(), None);
    assert_eq!(db.get(b"k00003").unwrap(), Some(vec![7u8; 64]));
    assert_eq!(db.get(b"k00000").unwrap(), Some(b"kept".to_vec()));
    assert_eq!(db.ttl(b"long").unwrap(), Some(Duration::from_secs(3600)));
    assert_eq!((db.key_count(), db.expiring_key_count()), (1002, 1001));
    // Writes of swept keys count them again; deletes of them change nothing.
    db.put(b"k00001", b"back").unwrap();
    db.delete(b"k00002").unwrap();
    db.put_with_ttl(b"k00005", b"v", Duration::from_secs(1))
        .unwrap();
    assert_eq!((db.key_count(), db.expiring_key_count()), (1004, 1002));
    assert!(db.verify().unwrap().is_clean());
}

#[tokio::test]
async fn the_watch_tells_an_expiry_from_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START));
    let db = open_at(dir.path(), &now);
    let mut watch = db.watch(b"");
    db.put_with_ttl(b"k", b"v", Duration::from_secs(5)).unwrap();
    db.expire_at(b"k", UNIX_EPOCH + Duration::from_millis(START - 1))
        .unwrap();
    db.put(b"d", b"v").unwrap();
    db.delete(b"d").unwrap();
    let put = watch.next().await.unwrap().unwrap();
    assert_eq!(
        put.expires_at,
        Some(UNIX_EPOCH + Duration::from_millis(START + 5_000))
    );
    assert!(!put.expired && put.value.is_some());
    let expired = watch.next().await.unwrap().unwrap();
    assert!(expired.expired && expired.value.is_none() && !expired.is_tombstone());
    let _ = watch.next().await.unwrap().unwrap();
    let deleted = watch.next().await.unwrap().unwrap();
    assert!(deleted.is_tombstone() && !deleted.expired);
    // A replay from the log says the same.
    let mut replay = db.watch_from(b"k", 0);
    let again = replay.next().await.unwrap().unwrap();
    assert!(again.expired && again.value.is_none());
}
