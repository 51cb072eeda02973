//! `Db::watch` delivers local and replicated changes under a prefix in commit order: local puts, a
//! batch and a delete under the prefix arrive in sequence order, other keys are left out, and
//! replicated writes arrive with their origin. `Db::watch_from` replays the log first and then
//! follows, with no duplicate: from 0 it replays each key once (its newest value) in sequence
//! order, then follows live writes.

use crate::common;

use std::time::Duration;

use common::{config, start};
use meshkv::{Db, Event, Options, Watch};

async fn next(watch: &mut Watch) -> Event {
    tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("an event within 10 s")
        .expect("the feed is open")
        .expect("no error")
}

#[tokio::test]
async fn local_writes_under_the_prefix_arrive_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("user/0", "before the watch").unwrap();
    let mut feed = db.watch("user/");
    let v1 = db.put("user/1", "alice").unwrap();
    db.put("other/1", "not watched").unwrap();
    let mut batch = db.batch();
    batch.put("user/2", "bob");
    batch.delete("user/1");
    db.write(batch).unwrap();

    let e = next(&mut feed).await;
    assert_eq!(
        (e.key.as_slice(), e.value.as_deref(), e.version),
        (&b"user/1"[..], Some(&b"alice"[..]), v1)
    );
    let e2 = next(&mut feed).await;
    assert_eq!(e2.key, b"user/2");
    let e3 = next(&mut feed).await;
    assert_eq!(e3.key, b"user/1");
    assert!(e3.is_tombstone());
    assert!(e.seq < e2.seq && e2.seq < e3.seq);
    assert_eq!(e3.seq, db.last_seq());
    assert_eq!(feed.position(), db.last_seq());
}

#[tokio::test]
async fn watch_from_replays_the_log_then_follows() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for k in 0..600 {
        db.put(format!("k/{k:04}"), format!("v{k}")).unwrap();
    }
    db.put("k/0000", "rewritten").unwrap();
    let mark = db.last_seq();
    let mut feed = db.watch_from("k/", 0);
    // Each key once, with its newest value, in sequence order: k/0001..k/0599, then k/0000.
    let mut seen = Vec::new();
    for _ in 0..600 {
        seen.push(next(&mut feed).await);
    }
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(seen[0].key, b"k/0001");
    assert_eq!(seen[599].key, b"k/0000");
    assert_eq!(seen[599].value.as_deref(), Some(&b"rewritten"[..]));
    assert_eq!(seen[599].seq, mark);
    // Then live: the next write, once.
    db.put("k/new", "live").unwrap();
    let e = next(&mut feed).await;
    assert_eq!((e.key.as_slice(), e.seq), (&b"k/new"[..], mark + 1));

    // Resuming after a known sequence gives only what came after it.
    let mut resumed = db.watch_from("k/", mark);
    assert_eq!(next(&mut resumed).await.key, b"k/new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_writes_are_watched_with_their_origin() {
    let a = start(config(vec![])).await;
    let b = start(config(vec![a.addr()])).await;
    let mut feed = b.db.watch("");
    a.db.put("from-a", "1").unwrap();
    let e = next(&mut feed).await;
    assert_eq!(e.key, b"from-a");
    assert_eq!(e.version.origin, a.db.node_id());
    b.db.delete("from-a").unwrap();
    let e = next(&mut feed).await;
    assert!(e.is_tombstone());
    assert_eq!(e.version.origin, b.db.node_id());
    a.node.shutdown().await.unwrap();
    b.node.shutdown().await.unwrap();
}
