//! The one writer: local writes and remote applies, each committed as one `WriteBatch`.
//!
//! Invariant 1 (atomic commit): every write — local or remote — puts the value into `data` (or
//! deletes it), the entry at `log[seq]`, `index[key] = {seq, op, version}`, and deletes the key's
//! previous log entry, all in one batch. Invariant 2 follows: the log holds exactly one entry per
//! key.
//!
//! Invariant 3 (ordered visibility): sequences are allocated and the batch is written while
//! holding the commit lock, so batches reach RocksDB in sequence order and a reader that saw
//! `seq = N` can never later find an entry below `N` appear.
//!
//! Group commit: a local writer pushes its operations onto a queue, then takes the commit lock.
//! If a leader already committed its operations meanwhile, it returns that result; otherwise it
//! becomes the leader, drains the whole queue and commits every waiting writer's operations in
//! one batch with one write (and with `Durability::Sync`, one fsync). Writers that queue up while
//! a leader syncs are all committed by the next leader, so the lock never costs more than one
//! fsync per group, not one per writer, and the order stays the lock's order.
//!
//! Remote applies take the commit lock directly and commit their batch the same way.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use rocksdb::WriteBatch;

use super::keys::{cf, meta, IndexRecord, LogEntry, SeqKey};
use super::rocks::Store;
use crate::hlc::{self, Hlc};
use crate::resolver::{decide, Candidate, Verdict};
use crate::{Entry, Error, Op, Resolver, Result, Version};

/// How far past the last timestamp the persisted clock lease reaches: 10 s of HLC time.
const HLC_LEASE_AHEAD: u64 = 10_000 << hlc::LOGICAL_BITS;

/// State guarded by the commit lock.
pub(crate) struct CommitState {
    /// The sequence the next log entry gets.
    pub(crate) next_seq: u64,
    /// The hybrid logical clock.
    pub(crate) hlc: Hlc,
    /// The persisted clock lease: every timestamp handed out is at most this.
    pub(crate) hlc_lease: u64,
}

/// One operation of a local write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl WriteOp {
    pub(crate) fn key(&self) -> &[u8] {
        match self {
            WriteOp::Put(k, _) | WriteOp::Delete(k) => k,
        }
    }
}

/// A local write waiting in the group-commit queue.
pub(crate) struct Pending {
    ops: Vec<WriteOp>,
    result: Mutex<Option<Result<Vec<Version>>>>,
}

/// What [`Db::apply`](crate::Db::apply) did with a batch of remote entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Entries that won and were committed (and relogged under new local sequences).
    pub applied: u64,
    /// Entries that lost to the local version (lower clock, or the resolver chose local).
    pub stale: u64,
    /// Entries identical to the local version: already known, skipped.
    pub duplicate: u64,
    /// Entries with the local clock but another write: the resolver was asked.
    pub conflicts: u64,
    /// The highest local sequence after the apply.
    pub last_seq: u64,
}

impl Store {
    /// Commits local operations (already validated) through the group-commit queue.
    pub(crate) fn write_local(&self, ops: Vec<WriteOp>) -> Result<Vec<Version>> {
        let pending = Arc::new(Pending {
            ops,
            result: Mutex::new(None),
        });
        self.queue.lock().push(Arc::clone(&pending));
        let mut state = self.commit.lock();
        if let Some(done) = pending.result.lock().take() {
            return done;
        }
        let group = std::mem::take(&mut *self.queue.lock());
        self.commit_group(&mut state, &group);
        drop(state);
        let done = pending.result.lock().take();
        done.unwrap_or_else(|| {
            Err(Error::corrupt(
                "commit queue",
                "a write left the queue without a result",
            ))
        })
    }

    /// Commits every queued write in one batch; stores each writer's result in its slot.
    fn commit_group(&self, state: &mut CommitState, group: &[Arc<Pending>]) {
        let (data, log, index) = (self.cf(cf::DATA), self.cf(cf::LOG), self.cf(cf::INDEX));
        let mut batch = WriteBatch::default();
        let mut overlay: HashMap<&[u8], IndexRecord> = HashMap::new();
        let physical = hlc::wall_clock();
        let mut results: Vec<Option<Result<Vec<Version>>>> = Vec::with_capacity(group.len());
        for pending in group {
            // Read every previous index record first, so a failed read leaves nothing of this
            // writer in the batch.
            let prevs: Result<Vec<Option<IndexRecord>>> = pending
                .ops
                .iter()
                .map(|op| match overlay.get(op.key()) {
                    Some(_) => Ok(None),
                    None => self.read_index(op.key()),
                })
                .collect();
            let prevs = match prevs {
                Ok(p) => p,
                Err(e) => {
                    results.push(Some(Err(e)));
                    continue;
                }
            };
            let mut versions = Vec::with_capacity(pending.ops.len());
            for (op, from_disk) in pending.ops.iter().zip(prevs) {
                let key = op.key();
                let prev = overlay.get(key).copied().or(from_disk);
                let version = Version {
                    clock: prev.map_or(1, |p| p.version.clock + 1),
                    timestamp: state.hlc.now(physical),
                    origin: self.node_id,
                };
                let seq = state.next_seq;
                state.next_seq += 1;
                let kind = match op {
                    WriteOp::Put(_, value) => {
                        batch.put_cf(data, key, value);
                        Op::Put
                    }
                    WriteOp::Delete(_) => {
                        batch.delete_cf(data, key);
                        Op::Delete
                    }
                };
                if let Some(p) = prev {
                    batch.delete_cf(log, SeqKey(p.seq).encode());
                }
                batch.put_cf(
                    log,
                    SeqKey(seq).encode(),
                    LogEntry::encode_parts(kind, &version, key),
                );
                let record = IndexRecord {
                    seq,
                    op: kind,
                    version,
                };
                batch.put_cf(index, key, record.encode());
                overlay.insert(key, record);
                versions.push(version);
            }
            results.push(Some(Ok(versions)));
        }
        let outcome = self.finish(state, batch);
        for (pending, result) in group.iter().zip(results) {
            let result = match (&outcome, result) {
                (Ok(()), r) => r,
                (Err(e), Some(Ok(_))) => Some(Err(Error::Storage(e.clone()))),
                (Err(_), r) => r,
            };
            *pending.result.lock() = result;
        }
    }

    /// Extends the clock lease if needed, writes the batch, publishes the new last sequence.
    fn finish(
        &self,
        state: &mut CommitState,
        mut batch: WriteBatch,
    ) -> std::result::Result<(), rocksdb::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut lease = state.hlc_lease;
        if state.hlc.last() > lease {
            lease = state.hlc.last().saturating_add(HLC_LEASE_AHEAD);
            batch.put_cf(self.cf(cf::META), meta::HLC_LEASE, lease.to_be_bytes());
        }
        self.db.write_opt(batch, &self.write_opts)?;
        state.hlc_lease = lease;
        self.last_seq.store(state.next_seq - 1, Ordering::Release);
        Ok(())
    }

    /// Applies remote entries (DESIGN.md invariants 5 and 6) in one batch.
    pub(crate) fn apply(&self, entries: &[Entry], resolver: &dyn Resolver) -> Result<ApplyReport> {
        for e in entries {
            self.check_key(&e.key)?;
            if let Some(v) = &e.value {
                self.check_value(v)?;
            }
        }
        let (data, log, index) = (self.cf(cf::DATA), self.cf(cf::LOG), self.cf(cf::INDEX));
        let mut state = self.commit.lock();
        let mut batch = WriteBatch::default();
        // Keys this batch already wrote: their record and value.
        let mut overlay: HashMap<&[u8], (IndexRecord, Option<&[u8]>)> = HashMap::new();
        let mut report = ApplyReport::default();
        for e in entries {
            state.hlc.observe(e.version.timestamp);
            let local = match overlay.get(e.key.as_slice()) {
                Some(&(rec, _)) => Some(rec),
                None => self.read_index(&e.key)?,
            };
            let remote = Candidate {
                key: &e.key,
                value: e.value.as_deref(),
                version: &e.version,
            };
            let verdict = match local {
                None => Verdict::Remote,
                Some(rec) => {
                    let conflict = rec.version.clock == e.version.clock && rec.version != e.version;
                    // The local value is only needed when the resolver will be asked.
                    let stored;
                    let local_value: Option<&[u8]> = if conflict && rec.op == Op::Put {
                        match overlay.get(e.key.as_slice()) {
                            Some(&(_, v)) => v,
                            None => {
                                stored = self.db.get_cf(data, &e.key)?.ok_or_else(|| {
                                    Error::corrupt(
                                        format!(
                                            "data of key {}",
                                            crate::storage::printable(&e.key)
                                        ),
                                        "index says put but the value is missing",
                                    )
                                })?;
                                Some(stored.as_slice())
                            }
                        }
                    } else {
                        None
                    };
                    if conflict {
                        report.conflicts += 1;
                    }
                    let local_cand = Candidate {
                        key: &e.key,
                        value: local_value,
                        version: &rec.version,
                    };
                    decide(resolver, &local_cand, &remote)
                }
            };
            match verdict {
                Verdict::Local => report.stale += 1,
                Verdict::Same => report.duplicate += 1,
                Verdict::Remote => {
                    let seq = state.next_seq;
                    state.next_seq += 1;
                    match &e.value {
                        Some(v) => batch.put_cf(data, &e.key, v),
                        None => batch.delete_cf(data, &e.key),
                    }
                    if let Some(rec) = local {
                        batch.delete_cf(log, SeqKey(rec.seq).encode());
                    }
                    batch.put_cf(
                        log,
                        SeqKey(seq).encode(),
                        LogEntry::encode_parts(e.op(), &e.version, &e.key),
                    );
                    let record = IndexRecord {
                        seq,
                        op: e.op(),
                        version: e.version,
                    };
                    batch.put_cf(index, &e.key, record.encode());
                    overlay.insert(&e.key, (record, e.value.as_deref()));
                    report.applied += 1;
                }
            }
        }
        self.finish(&mut state, batch)?;
        report.last_seq = self.last_seq.load(Ordering::Acquire);
        Ok(report)
    }
}
