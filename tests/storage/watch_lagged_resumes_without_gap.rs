//! A watcher that falls behind its buffer gets `Lagged { resume_from }` (writers never wait for it)
//! and resumes with `watch_from` with no gap. A watcher that never reads lags and its feed ends;
//! `watch_from` resumes with every key. Then 4 writer threads against a slow watcher with a
//! 16-change buffer that lags and resumes: sequences strictly increase, and after the writers stop,
//! the last change it saw of every key is the key's final state. Prints its seed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use meshkv::{Db, Error, Options};
use rand::{Rng, SeedableRng};

#[tokio::test]
async fn a_watcher_that_never_reads_lags_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().watch_buffer(8)).unwrap();
    let mut feed = db.watch("");
    let start = db.last_seq();
    for k in 0..100 {
        db.put(format!("k{k}"), "v").unwrap();
    }
    match feed.next().await {
        Some(Err(Error::Lagged { resume_from })) => assert_eq!(resume_from, start),
        other => panic!("expected Lagged, got {other:?}"),
    }
    assert!(feed.next().await.is_none(), "the lagged feed has ended");
    let mut resumed = db.watch_from("", start);
    let mut keys = Vec::new();
    while resumed.position() < db.last_seq() {
        keys.push(resumed.next().await.unwrap().unwrap().key);
    }
    assert_eq!(keys.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_a_slow_watcher_see_every_final_state() {
    let seed: u64 = rand::rng().random();
    println!("seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().watch_buffer(16)).unwrap();
    // The watcher exists before the first write, so it follows the writers live (a watcher
    // started late would catch up from the log alone and never lag).
    let mut feed = db.watch_from("", 0);
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ t);
                for i in 0..3000 {
                    if i % 20 == 0 {
                        // Writers and the watcher overlap for a while.
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    let key = format!("key{}", rng.random_range(0..50));
                    if rng.random_ratio(1, 5) {
                        db.delete(&key).unwrap();
                    } else {
                        db.put(&key, format!("{t}/{i}")).unwrap();
                    }
                }
            })
        })
        .collect();
    let mut last: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
    let (mut lags, mut prev_seq, mut events) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        if done && feed.position() == db.last_seq() {
            break;
        }
        assert!(Instant::now() < deadline, "the watcher never caught up");
        let next = tokio::time::timeout(Duration::from_millis(50), feed.next()).await;
        match next {
            Err(_) => continue,
            Ok(Some(Ok(e))) => {
                assert!(
                    e.seq > prev_seq,
                    "sequence went from {prev_seq} to {}",
                    e.seq
                );
                prev_seq = e.seq;
                events += 1;
                last.insert(e.key, e.value);
                if lags == 0 || e.seq % 7 == 0 {
                    // A slow consumer: 1 ms an event until it has lagged once (whatever the
                    // machine's load, the writers outrun that), then every 7th.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Ok(Some(Err(Error::Lagged { resume_from }))) => {
                lags += 1;
                assert_eq!(resume_from, feed.position());
                feed = db.watch_from("", resume_from);
            }
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    for k in 0..50 {
        let key = format!("key{k}").into_bytes();
        let expected = db.get(&key).unwrap();
        let seen = last.get(&key).cloned().flatten();
        assert_eq!(seen, expected, "key{k} (seed {seed})");
    }
    println!(
        "lagged {lags} times; {events} events for {} writes",
        db.last_seq()
    );
    assert!(
        lags >= 1,
        "the watcher never lagged: the test did not test resuming"
    );
}
