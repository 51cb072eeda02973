//! The changes feed cuts byte-bounded batches (sync batches stay within their byte budget) whatever
//! the mix of value sizes, hands out every entry exactly once, newest first, and an iterator over
//! the same snapshot agrees; an entry larger than the budget travels alone. A full sync holds
//! exactly the log's entries, in key order.

use meshkv::{Db, Options};

#[test]
fn batches_stay_within_the_budget_with_mixed_value_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    // Small values first (written last = read first), then large ones, then small again.
    for i in 0..300u32 {
        let size = if (100..200).contains(&i) { 100_000 } else { 10 };
        db.put(format!("k{i:04}"), vec![1u8; size]).unwrap();
    }
    let budget = 250_000;
    let mut changes = db.replica().changes_since(0);
    let mut seen = Vec::new();
    loop {
        let batch = changes.next_batch(budget).unwrap();
        if batch.is_empty() {
            break;
        }
        let bytes: usize = batch
            .iter()
            .map(|(_, e)| e.key.len() + e.value.as_ref().map_or(0, Vec::len) + 48)
            .sum();
        assert!(
            bytes <= budget || batch.len() == 1,
            "{} entries, {bytes} bytes",
            batch.len()
        );
        seen.extend(batch.into_iter().map(|(seq, _)| seq));
    }
    assert_eq!(seen.len(), 300);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, each once"
    );
    let all: Vec<u64> = db
        .replica()
        .changes_since(0)
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(all, seen);
}

#[test]
fn an_entry_larger_than_the_budget_travels_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"big", vec![0u8; 10_000]).unwrap();
    db.put(b"small", b"x").unwrap();
    let mut changes = db.replica().changes_since(0);
    let first = changes.next_batch(1000).unwrap();
    assert_eq!(first.len(), 1);
    let second = changes.next_batch(1000).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].1.key, b"big");
    assert!(changes.next_batch(1000).unwrap().is_empty());
}

#[test]
fn a_full_sync_holds_exactly_the_log_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..500u32 {
        db.put(
            format!("k{:04}", (i * 7) % 300),
            vec![(i % 250) as u8; (i % 40) as usize],
        )
        .unwrap();
        if i % 9 == 0 {
            db.delete(format!("k{:04}", i % 300)).unwrap();
        }
    }
    let mut from_log: Vec<_> = db.replica().changes_since(0).map(|r| r.unwrap()).collect();
    from_log.sort_by(|a, b| a.1.key.cmp(&b.1.key));
    let mut full = db.replica().full_sync();
    assert_eq!(full.high_seq(), db.last_seq());
    let mut from_full = Vec::new();
    loop {
        let batch = full.next_batch(2_000).unwrap();
        if batch.is_empty() {
            break;
        }
        from_full.extend(batch);
    }
    assert!(
        from_full.windows(2).all(|w| w[0].1.key < w[1].1.key),
        "key order"
    );
    assert_eq!(from_full, from_log);
}
