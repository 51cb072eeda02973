//! [`Db::verify`](crate::Db::verify): a consistency check of the storage invariants.
//!
//! From one snapshot, it checks:
//! - every index record points at a log entry with the same key, op and version, and the data
//!   column family holds a value exactly when the record is a put, of the length the log entry
//!   records (format 2; a format-1 entry records none);
//! - a put's value is where its deadline says (without one in `data`; with one in its index
//!   record, with a matching entry in `deadlines`, or nowhere when the record is marked
//!   swept), and no value is in both;
//! - the key counts and the digests kept in memory (`storage::counts`, `storage::digest`) are
//!   the index's;
//! - every value in `data` has an index record that says put without a deadline, every entry
//!   of `deadlines` one that holds its value with that deadline;
//! - every log entry is the one its key's index record points at (no orphans, one per key);
//! - the sequence counter is at or above every log key.
//!
//! It reads every record once plus one point lookup per record; it returns a report and never
//! panics on what it finds.

use std::sync::atomic::Ordering;

use rocksdb::{IteratorMode, ReadOptions};

use crate::record::entry::expired;
use crate::storage::keys::{cf, DeadlineKey, IndexRecord, LogEntry, SeqKey};
use crate::storage::printable;
use crate::storage::rocks::Store;
use crate::{Op, Result};

/// At most this many problems are listed; the rest are only counted.
const MAX_LISTED: usize = 100;

/// What [`Db::verify`](crate::Db::verify) found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Keys holding a live value.
    pub live_keys: u64,
    /// Keys whose last write is a put past its deadline (by this node's clock).
    pub expired: u64,
    /// Keys whose last write is a delete.
    pub tombstones: u64,
    /// Entries in the log.
    pub log_entries: u64,
    /// The highest sequence committed.
    pub last_seq: u64,
    /// The first problems found, described.
    pub problems: Vec<String>,
    /// How many problems in all (may exceed `problems.len()`).
    pub problem_count: u64,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(text);
        }
    }
}

pub(crate) fn verify(store: &Store) -> Result<VerifyReport> {
    // Under the commit lock no batch is half-published: the snapshot and both counters agree.
    let state = store.commit.lock();
    let snapshot = store.db.snapshot();
    let last_seq = store.last_seq.load(Ordering::Acquire);
    let next_seq = state.next_seq;
    let held = (store.counts.keys(), store.counts.expiring());
    let held_digests = store.digests.lock().clone();
    drop(state);
    let mut digests = crate::storage::digest::DigestTree::default();
    let (data, log, index) = (store.cf(cf::DATA), store.cf(cf::LOG), store.cf(cf::INDEX));
    let deadlines = store.cf(cf::DEADLINES);
    let now = store.now_ms();
    let (mut counted_keys, mut counted_expiring) = (0u64, 0u64);
    let mut report = VerifyReport {
        last_seq,
        ..VerifyReport::default()
    };
    let opts = || {
        let mut o = ReadOptions::default();
        o.set_snapshot(&snapshot);
        o
    };

    for item in store.db.iterator_cf_opt(index, opts(), IteratorMode::Start) {
        let (key, bytes) = item?;
        let shown = printable(&key);
        let (rec, held) = match IndexRecord::decode_inline(&key, &bytes) {
            Ok(r) => r,
            Err(e) => {
                report.problem(e.to_string());
                continue;
            }
        };
        digests.add(&key, &rec.version);
        let (k, e) = crate::storage::commit::counted(Some(&rec));
        counted_keys += k as u64;
        counted_expiring += e as u64;
        match rec.op {
            Op::Put if expired(rec.expires_at, now) => report.expired += 1,
            Op::Put => report.live_keys += 1,
            Op::Delete => report.tombstones += 1,
        }
        let mut recorded_len = None;
        match snapshot.get_cf(log, SeqKey(rec.seq).encode())? {
            None => report.problem(format!(
                "index of key {shown} points at log entry {} which is missing",
                rec.seq
            )),
            Some(raw) => match LogEntry::decode(rec.seq, &raw) {
                Err(e) => report.problem(e.to_string()),
                Ok(entry) => {
                    recorded_len = entry.value_len;
                    if entry.key != *key
                        || entry.op != rec.op
                        || entry.version != rec.version
                        || entry.expires_at != rec.expires_at
                    {
                        report.problem(format!(
                            "index of key {shown} ({:?} {:?}) disagrees with log entry {} \
                             (key {}, {:?} {:?})",
                            rec.op,
                            rec.version,
                            rec.seq,
                            printable(&entry.key),
                            entry.op,
                            entry.version
                        ));
                    }
                }
            },
        }
        let in_data = snapshot.get_pinned_cf(data, &key)?.map(|v| v.len());
        if let (Some(at), Some(v)) = (rec.expires_at, held) {
            if snapshot
                .get_pinned_cf(deadlines, DeadlineKey::encode(at, &key))?
                .is_none()
            {
                report.problem(format!(
                    "key {shown} expires at {at} but is not in deadlines"
                ));
            }
            if recorded_len.is_some_and(|l| l as usize != v.len()) {
                report.problem(format!(
                    "key {shown} holds a value of {} bytes but its log entry {} records \
                     {recorded_len:?}",
                    v.len(),
                    rec.seq
                ));
            }
        }
        if rec.expires_at.is_some() {
            // Its value, if any, is in the record (checked above): `data` must not hold one.
            if in_data.is_some() {
                report.problem(format!("key {shown} has a deadline but a value in data"));
            }
            continue;
        }
        match (rec.op, in_data) {
            (Op::Put, None) => report.problem(format!("key {shown} is a put without a value")),
            (Op::Delete, Some(_)) => {
                report.problem(format!("key {shown} is deleted but still has a value"))
            }
            (Op::Put, Some(len)) => match recorded_len {
                Some(recorded) if recorded as usize != len => report.problem(format!(
                    "key {shown} has a value of {len} bytes but its log entry {} records {recorded}",
                    rec.seq
                )),
                _ => {}
            },
            (Op::Delete, None) => {}
        }
    }

    for item in store.db.iterator_cf_opt(data, opts(), IteratorMode::Start) {
        let (key, _) = item?;
        // A value with an index record was checked from the index side above.
        if snapshot.get_pinned_cf(index, &key)?.is_none() {
            report.problem(format!(
                "key {} has a value but no index record",
                printable(&key)
            ));
        }
    }

    for item in store
        .db
        .iterator_cf_opt(deadlines, opts(), IteratorMode::Start)
    {
        let (raw, _) = item?;
        let (at, key) = match DeadlineKey::decode(&raw) {
            Ok(p) => p,
            Err(e) => {
                report.problem(e.to_string());
                continue;
            }
        };
        let matches = match snapshot.get_pinned_cf(index, key)? {
            Some(bytes) => IndexRecord::decode(key, &bytes)
                .map(|r| r.op == Op::Put && !r.swept && r.expires_at == Some(at))
                .unwrap_or(false),
            None => false,
        };
        if !matches {
            report.problem(format!(
                "deadline {at} of key {} is not its index record's",
                printable(key)
            ));
        }
    }

    for item in store.db.iterator_cf_opt(log, opts(), IteratorMode::Start) {
        let (k, v) = item?;
        report.log_entries += 1;
        let seq = match SeqKey::decode(&k) {
            Ok(s) => s.0,
            Err(e) => {
                report.problem(e.to_string());
                continue;
            }
        };
        if seq > last_seq || seq >= next_seq {
            report.problem(format!(
                "log entry {seq} is above the sequence counter (last {last_seq}, next {next_seq})"
            ));
        }
        let entry = match LogEntry::decode(seq, &v) {
            Ok(e) => e,
            Err(e) => {
                report.problem(e.to_string());
                continue;
            }
        };
        let points_here = match snapshot.get_pinned_cf(index, &entry.key)? {
            Some(bytes) => IndexRecord::decode(&entry.key, &bytes)
                .map(|r| r.seq == seq)
                .unwrap_or(false),
            None => false,
        };
        if !points_here {
            report.problem(format!(
                "log entry {seq} (key {}) is an orphan: the key's index points elsewhere",
                printable(&entry.key)
            ));
        }
    }
    let (keys, expiring) = (counted_keys, counted_expiring);
    if (keys, expiring) != held {
        report.problem(format!(
            "the key counts are {} ({} with a deadline) but the index holds {keys} ({expiring})",
            held.0, held.1
        ));
    }
    let off = crate::storage::digest::differing_segments(&digests, &held_digests);
    if !off.is_empty() {
        report.problem(format!(
            "the digests kept differ from the index's in {} segments (first {})",
            off.len(),
            off[0]
        ));
    }
    Ok(report)
}
