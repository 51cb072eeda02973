//! The changes feed: the log read newest-first from one snapshot.
//!
//! This is the replication hook: a puller that knows a peer up to sequence `c` asks for
//! [`Replica::changes_since(c)`](crate::replica::Replica::changes_since) and gets every entry above
//! `c` — each key's newest write, tombstones included — newest first, each with its value read from
//! the *same* snapshot (docs/design.md invariant 7: a value is never paired with another write's
//! version), then [`Changes::high_seq`] to store as the new cursor once everything is committed
//! (invariant 8).
//!
//! `high_seq` is exact or conservative: it is the largest of the last committed sequence read
//! before the snapshot was taken and the newest sequence found in the snapshot. Because of
//! ordered visibility (invariant 3) every entry up to it is in the snapshot; a cursor set to it
//! never skips an entry.
//!
//! [`Changes::skip_held`] leaves out the puller's own writes above the clock reading its database
//! vouches for
//! ([`Replica::holds_own_writes_after`](crate::replica::Replica::holds_own_writes_after)): the
//! puller holds those (or newer versions of their keys), so sending them back would only echo them.
//! Its older writes are still sent: they may have been lost with an unsynced log tail, and a peer's
//! copy is then the only way back. The cursor still moves over skipped entries.
//!
//! [`Changes::next_batch`] is bounded in bytes, values included (docs/design.md invariant 10):
//! a put's log entry records its value's length (format 2), so each MultiGet chunk is planned
//! from the sizes *before* its values are read, and a batch never reads more than its budget
//! plus the one entry that alone exceeds it. A put written by format 1 (op 0) records no length:
//! it is read alone, in a MultiGet of its own, and if it does not fit the batch it waits for the
//! next one (read, so a batch holds at most its budget and that one entry). Folders upgraded from
//! format 1 pay one point read per such entry until its key is written again.

use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, SnapshotWithThreadMode, DB};

use crate::record::entry::expired;
use crate::storage::keys::{cf, IndexRecord, LogEntry, SeqKey};
use crate::storage::rocks::Store;
use crate::storage::snapshot::Pinned;
use crate::{Entry, Error, NodeId, Op, Result, Version};

/// Entries above a sequence, newest first, from one snapshot. See the module docs.
///
/// Iterates `Result<(u64, Entry)>`: the local sequence and the entry with its original version.
pub struct Changes<'a> {
    // Field order matters: the iterator must be dropped before the snapshot it reads.
    iter: DBRawIteratorWithThreadMode<'a, DB>,
    snapshot: SnapshotWithThreadMode<'a, DB>,
    store: &'a Store,
    after: u64,
    high_seq: u64,
    cursor_ahead: bool,
    started: bool,
    done: bool,
    /// The next log entry, taken from the iterator but its value not read: it did not fit the
    /// chunk being planned, and starts the next one.
    peeked: Option<(u64, LogEntry)>,
    /// An entry read with its value that did not fit its batch (only a format-1 put, whose size
    /// is known once read, can be one): it starts the next batch.
    leftover: Option<(u64, Entry)>,
    /// Entries the puller already holds, left out.
    held: Option<Held>,
    /// Entries and bytes (as [`batch_size`] counts them) read by each MultiGet, for the tests
    /// of the bound.
    #[cfg(test)]
    reads: Vec<(usize, usize)>,
}

/// Most entries in one MultiGet: keeps its key array small. Memory is bounded by the byte plan,
/// not by this count.
const MAX_CHUNK: usize = 256;

/// The writes a puller holds for sure: its own, with a timestamp above the reading its database
/// vouches for. See the module docs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) node: NodeId,
    pub(crate) after: u64,
}

impl Held {
    /// True when the puller holds `version` (or a newer version of its key).
    pub(crate) fn holds(&self, version: &Version) -> bool {
        version.origin == self.node && version.timestamp > self.after
    }
}

impl<'a> Changes<'a> {
    pub(crate) fn new(store: &'a Store, after: u64) -> Changes<'a> {
        let pinned = Pinned::new(store);
        let mut opts = pinned.read_opts();
        opts.set_iterate_lower_bound(SeqKey(after.saturating_add(1)).encode().to_vec());
        let mut iter = pinned.iter(store, cf::LOG, opts);
        let high = pinned.high_seq(&mut iter);
        let snapshot = pinned.snapshot;
        Changes {
            iter,
            snapshot,
            store,
            after,
            high_seq: high.max(after),
            cursor_ahead: after > high,
            started: false,
            done: after == u64::MAX,
            peeked: None,
            leftover: None,
            held: None,
            #[cfg(test)]
            reads: Vec::new(),
        }
    }

    /// Leaves out the entries written by `node` with a timestamp above `after`: the puller `node`,
    /// whose database vouches for its own writes above `after`
    /// ([`Replica::holds_own_writes_after`](crate::replica::Replica::holds_own_writes_after)),
    /// holds them (or newer versions of their keys). Its older writes are still sent. `high_seq` is
    /// unchanged: the cursor moves over them.
    pub fn skip_held(mut self, node: NodeId, after: u64) -> Self {
        self.held = Some(Held { node, after });
        self
    }

    /// The snapshot's high sequence: every entry up to it is in this snapshot. A puller that has
    /// committed everything this iterator yielded can store it as its cursor.
    pub fn high_seq(&self) -> u64 {
        self.high_seq
    }

    /// True when the cursor asked for is above every sequence this database has committed: the
    /// peer's cursor belongs to another life of this database (say, a folder restored from an
    /// old copy). Nothing is yielded; a puller should drop its cursor and pull from 0.
    pub fn cursor_ahead(&self) -> bool {
        self.cursor_ahead
    }

    /// The sequence this read started above.
    pub fn after(&self) -> u64 {
        self.after
    }

    /// Takes the next entries while their size stays within `max_bytes` (always at least one
    /// entry when any is left, so one entry may exceed it alone), for byte-bounded sync batches.
    /// Empty when the feed is exhausted.
    ///
    /// Values are read from the snapshot with one MultiGet per chunk of at most 256
    /// entries, planned from the sizes the log entries record: a chunk ends before the entry
    /// that would take the batch past `max_bytes`, so no value is read that the batch cannot
    /// hold (see the module docs for format-1 entries, whose size is unknown until read).
    pub fn next_batch(&mut self, max_bytes: usize) -> Result<Vec<(u64, Entry)>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        if let Some((seq, entry)) = self.leftover.take() {
            bytes += entry_size(&entry);
            out.push((seq, entry));
        }
        loop {
            // A batch always takes one entry when any is left, so that even a zero budget makes
            // progress rather than look like the end of the feed.
            if !out.is_empty() && bytes >= max_bytes {
                return Ok(out);
            }
            let (chunk, full) = self.plan_chunk(bytes, out.is_empty(), max_bytes)?;
            if chunk.is_empty() {
                return Ok(out);
            }
            for (seq, entry) in self.with_values(chunk)? {
                let size = entry_size(&entry);
                if !out.is_empty() && bytes + size > max_bytes {
                    // A format-1 put read alone, too large for what is left: next batch.
                    self.leftover = Some((seq, entry));
                    return Ok(out);
                }
                bytes += size;
                out.push((seq, entry));
            }
            if full {
                return Ok(out);
            }
        }
    }

    /// The log entries of the next MultiGet, for a batch holding `bytes` of `max_bytes` so far
    /// (`first`: none yet), and whether the batch is full after them. A chunk stops before an
    /// entry that would pass the budget (unless the batch would otherwise be empty: an entry
    /// larger than the budget travels alone), and a format-1 put (size unknown) is a chunk of
    /// its own.
    fn plan_chunk(
        &mut self,
        bytes: usize,
        first: bool,
        max_bytes: usize,
    ) -> Result<(Vec<(u64, LogEntry)>, bool)> {
        let mut chunk = Vec::new();
        let mut planned = bytes;
        while chunk.len() < MAX_CHUNK {
            let Some(item) = self.take_log() else {
                break;
            };
            let (seq, entry) = item?;
            let alone = first && chunk.is_empty();
            match planned_size(&entry) {
                Some(size) if alone || planned + size <= max_bytes => {
                    planned += size;
                    chunk.push((seq, entry));
                }
                Some(_) => {
                    self.peeked = Some((seq, entry));
                    return Ok((chunk, true));
                }
                None if chunk.is_empty() => {
                    chunk.push((seq, entry));
                    break;
                }
                None => {
                    self.peeked = Some((seq, entry));
                    break;
                }
            }
        }
        Ok((chunk, false))
    }

    /// The next log entry without its value: the one set aside by the last plan, or the next
    /// one of the log.
    fn take_log(&mut self) -> Option<Result<(u64, LogEntry)>> {
        match self.peeked.take() {
            Some(item) => Some(Ok(item)),
            None => self.next_log(),
        }
    }

    /// The next log entry without its value, past the entries the puller holds.
    fn next_log(&mut self) -> Option<Result<(u64, LogEntry)>> {
        loop {
            match self.next_raw() {
                Some(Ok((_, e))) if self.held.is_some_and(|h| h.holds(&e.version)) => continue,
                other => return other,
            }
        }
    }

    /// The next log entry without its value.
    fn next_raw(&mut self) -> Option<Result<(u64, LogEntry)>> {
        if self.done {
            return None;
        }
        if self.started {
            self.iter.prev();
        }
        self.started = true;
        if !self.iter.valid() {
            self.done = true;
            return match self.iter.status() {
                Ok(()) => None,
                Err(e) => Some(Err(e.into())),
            };
        }
        let item = self
            .iter
            .item()
            .ok_or_else(|| Error::corrupt("log", "iterator lost its position"));
        let item = item.and_then(|(k, v)| {
            let seq = SeqKey::decode(k)?.0;
            Ok((seq, LogEntry::decode(seq, v)?))
        });
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }

    /// Reads the values of `entries` (puts) from the snapshot with one MultiGet per column
    /// family: `data` for puts without a deadline, `index` for those with one (their records
    /// hold them). A put past
    /// its deadline by [`Store::drop_clock_ms`] (a second after it, and never ahead of the
    /// peers' clocks) is sent without its value (nothing is read), whether or not the sweeper
    /// has removed it yet, so what a peer receives never depends on the sweeper. A value whose length differs from the one its log entry records is
    /// `Error::Corrupt`: the byte plan relies on it.
    fn with_values(&mut self, entries: Vec<(u64, LogEntry)>) -> Result<Vec<(u64, Entry)>> {
        // Judged by the clock that may drop values (`Store::drop_clock_ms`), as `apply` does:
        // a put sent without its value is one every peer within the grace reads as expired.
        let now = if entries.iter().any(|(_, e)| e.expires_at.is_some()) {
            self.store.drop_clock_ms()
        } else {
            0
        };
        let live = |e: &LogEntry| e.op == Op::Put && !expired(e.expires_at, now);
        let keys_of = |with_deadline: bool| -> Vec<&[u8]> {
            entries
                .iter()
                .filter(|(_, e)| live(e) && e.expires_at.is_some() == with_deadline)
                .map(|(_, e)| e.key.as_slice())
                .collect()
        };
        let (plain, expiring) = (keys_of(false), keys_of(true));
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&self.snapshot);
        let db = &self.store.db;
        let mut plain_values = db
            .batched_multi_get_cf_opt(self.store.cf(cf::DATA), plain.iter(), false, &opts)
            .into_iter();
        let mut expiring_values = if expiring.is_empty() {
            Vec::new()
        } else {
            db.batched_multi_get_cf_opt(self.store.cf(cf::INDEX), expiring.iter(), false, &opts)
        }
        .into_iter();
        let mut out = Vec::with_capacity(entries.len());
        for (seq, e) in entries {
            let value = if !live(&e) {
                None
            } else if e.expires_at.is_some() {
                match expiring_values.next() {
                    Some(Ok(Some(raw))) => match IndexRecord::decode_inline(&e.key, &raw)? {
                        (_, Some(v)) => {
                            check_len(seq, &e, v.len())?;
                            Some(v.to_vec())
                        }
                        // Removed by the sweeper: this node's clock went back since.
                        (_, None) => None,
                    },
                    Some(Err(err)) => return Err(err.into()),
                    _ => None,
                }
            } else {
                match plain_values.next() {
                    Some(Ok(Some(v))) => {
                        check_len(seq, &e, v.len())?;
                        Some(v.to_vec())
                    }
                    Some(Err(err)) => return Err(err.into()),
                    _ => {
                        return Err(Error::corrupt(
                            format!("log entry {seq}"),
                            "a put whose value is missing from the data column family",
                        ))
                    }
                }
            };
            out.push((
                seq,
                Entry {
                    key: e.key,
                    value,
                    version: e.version,
                    expires_at: e.expires_at,
                },
            ));
        }
        #[cfg(test)]
        self.reads
            .push((out.len(), out.iter().map(|(_, e)| entry_size(e)).sum()));
        Ok(out)
    }
}

/// An entry's size in a sync batch: its key, its value and about 48 bytes of sequence and
/// version (`FullSync` counts the same way).
pub(crate) fn batch_size(key_len: usize, value_len: usize) -> usize {
    key_len + value_len + 48
}

/// An entry's size in a sync batch.
fn entry_size(entry: &Entry) -> usize {
    batch_size(entry.key.len(), entry.value.as_ref().map_or(0, Vec::len))
}

/// A log entry's size in a sync batch when it is known before its value is read: always for a
/// delete, for a put only when it records its value's length (format 2).
/// Refuses a value whose length is not the one its log entry records.
fn check_len(seq: u64, e: &LogEntry, found: usize) -> Result<()> {
    match e.value_len {
        Some(len) if len as usize != found => Err(Error::corrupt(
            format!("log entry {seq}"),
            format!("it records a value of {len} bytes, the value stored is {found} bytes"),
        )),
        _ => Ok(()),
    }
}

fn planned_size(entry: &LogEntry) -> Option<usize> {
    match (entry.op, entry.value_len) {
        (Op::Delete, _) => Some(batch_size(entry.key.len(), 0)),
        (Op::Put, Some(len)) => Some(batch_size(entry.key.len(), len as usize)),
        (Op::Put, None) => None,
    }
}

impl Iterator for Changes<'_> {
    type Item = Result<(u64, Entry)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.leftover.take() {
            return Some(Ok(item));
        }
        let item = self.take_log()?;
        let result = item
            .and_then(|entry| self.with_values(vec![entry]))
            .and_then(|mut one| {
                one.pop()
                    .ok_or_else(|| Error::corrupt("log", "lost an entry"))
            });
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, Options};

    /// Rewrites the log entries of the puts `pick` chooses as format 1 wrote them (op 0, no
    /// value length); returns how many.
    fn rewrite_as_format_1(db: &Db, pick: impl Fn(&[u8]) -> bool) -> usize {
        let store = db.store();
        let log = store.cf(cf::LOG);
        let old: Vec<(Box<[u8]>, LogEntry)> = store
            .db
            .iterator_cf(log, rocksdb::IteratorMode::Start)
            .map(|item| {
                let (k, v) = item.unwrap();
                let seq = SeqKey::decode(&k).unwrap().0;
                (k, LogEntry::decode(seq, &v).unwrap())
            })
            .filter(|(_, e)| e.op == Op::Put && pick(&e.key))
            .collect();
        let count = old.len();
        for (k, mut entry) in old {
            entry.value_len = None;
            store.db.put_cf(log, k, entry.encode()).unwrap();
        }
        count
    }

    /// Drains `changes` in batches of `budget`, checking each batch: the bytes its MultiGets
    /// read stay within the budget unless the batch is one entry alone, and never exceed the
    /// budget plus one entry; nothing is read twice. Returns the sequences, in order.
    fn drain_checked(changes: &mut Changes<'_>, budget: usize, largest: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        let mut handed_out = 0;
        loop {
            let before = changes.reads.len();
            let batch = changes.next_batch(budget).unwrap();
            let read: usize = changes.reads[before..].iter().map(|r| r.1).sum();
            let held: usize = batch.iter().map(|(_, e)| entry_size(e)).sum();
            assert!(read <= budget + largest, "read {read} bytes for {budget}");
            assert!(
                held <= budget || batch.len() == 1,
                "{} entries of {held} bytes",
                batch.len()
            );
            handed_out += held;
            if batch.is_empty() {
                break;
            }
            seqs.extend(batch.iter().map(|(seq, _)| *seq));
        }
        let leftover = changes.leftover.as_ref().map_or(0, |(_, e)| entry_size(e));
        assert_eq!(
            changes.reads.iter().map(|r| r.1).sum::<usize>(),
            handed_out + leftover,
            "a value was read twice or dropped"
        );
        seqs
    }

    #[test]
    fn large_values_after_a_run_of_small_ones_stay_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        // Written first = read last: the feed meets 2,000 small values, then 200 large ones.
        // Sizing chunks from the largest entry seen so far read 256 large values at once here.
        let large = 50_000;
        for i in 0..200u32 {
            db.put(format!("large{i:04}"), vec![7u8; large]).unwrap();
        }
        for i in 0..2_000u32 {
            db.put(format!("small{i:04}"), vec![1u8; 10]).unwrap();
        }
        let budget = 128 * 1024;
        let mut changes = db.replica().changes_since(0);
        let seqs = drain_checked(&mut changes, budget, batch_size(9, large));
        assert_eq!(seqs.len(), 2_200);
        assert!(
            seqs.windows(2).all(|w| w[0] > w[1]),
            "newest first, each once"
        );
        // Every MultiGet of large values read at most the budget's worth.
        assert!(
            changes.reads.iter().all(|&(_, bytes)| bytes <= budget),
            "{:?}",
            changes.reads
        );
    }

    #[test]
    fn an_entry_larger_than_the_budget_is_read_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put(b"huge", vec![0u8; 100_000]).unwrap();
        for i in 0..10u32 {
            db.put(format!("k{i}"), b"v").unwrap();
        }
        let mut changes = db.replica().changes_since(0);
        let first = changes.next_batch(10_000).unwrap();
        assert_eq!(first.len(), 10);
        // The huge value was not read for the first batch, which could not hold it.
        assert!(changes.reads.iter().map(|r| r.1).sum::<usize>() < 10_000);
        let second = changes.next_batch(10_000).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].1.key, b"huge");
        assert!(changes.next_batch(10_000).unwrap().is_empty());
        // Even a zero budget takes one entry at a time, never an empty batch before the end.
        let mut changes = db.replica().changes_since(0);
        let mut count = 0;
        while changes.next_batch(0).unwrap().len() == 1 {
            count += 1;
        }
        assert_eq!(count, 11);
    }

    #[test]
    fn format_1_entries_are_read_one_at_a_time_and_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let large = 30_000;
        for i in 0..300u32 {
            let size = if i % 3 == 0 { large } else { 20 };
            db.put(format!("k{i:04}"), vec![2u8; size]).unwrap();
            if i % 7 == 0 {
                db.delete(format!("k{i:04}")).unwrap();
            }
        }
        // Half the puts as a format-1 folder holds them.
        let old = rewrite_as_format_1(&db, |key| key.last().is_some_and(|b| b % 2 == 0));
        assert!(old > 50);
        let expected: Vec<u64> = db
            .replica()
            .changes_since(0)
            .map(|r| r.unwrap().0)
            .collect();
        let budget = 64 * 1024;
        let mut changes = db.replica().changes_since(0);
        let seqs = drain_checked(&mut changes, budget, batch_size(5, large));
        assert_eq!(seqs, expected);
        assert!(
            seqs.windows(2).all(|w| w[0] > w[1]),
            "newest first, each once"
        );
        // Each format-1 put, of unknown size, had a MultiGet of its own.
        let alone = changes.reads.iter().filter(|r| r.0 == 1).count();
        assert!(
            alone >= old,
            "{alone} reads of one entry for {old} format-1 puts"
        );
        let mut iter_entries = db.replica().changes_since(0);
        for expected_entry in db.replica().changes_since(0) {
            assert_eq!(
                iter_entries.next().unwrap().unwrap(),
                expected_entry.unwrap()
            );
        }
    }

    #[test]
    fn a_recorded_length_that_disagrees_with_the_value_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put(b"k", b"value").unwrap();
        let store = db.store();
        let seq = db.last_seq();
        let log = store.cf(cf::LOG);
        let raw = store.db.get_cf(log, SeqKey(seq).encode()).unwrap().unwrap();
        let mut entry = LogEntry::decode(seq, &raw).unwrap();
        entry.value_len = Some(4);
        store
            .db
            .put_cf(log, SeqKey(seq).encode(), entry.encode())
            .unwrap();
        let err = db
            .replica()
            .changes_since(0)
            .next_batch(1 << 20)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { what, .. } if *what == format!("log entry {seq}")),
            "{err}"
        );
        let report = db.verify().unwrap();
        assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    }
}
