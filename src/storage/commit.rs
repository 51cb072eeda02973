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
//! Group commit: a local writer pushes its operations onto a queue. The first writer that finds
//! no leader active becomes the leader: it takes everything queued and commits it as one batch
//! with one write (and with `Durability::Sync`, one fsync) under the commit lock, then hands each
//! writer its result. Writers that queue up while a leader syncs are all committed by the next
//! leader, so an fsync is paid once per group, not once per writer, and the order stays the
//! commit lock's order. Followers never take the commit lock.
//!
//! Remote applies take the commit lock directly and commit their batch the same way.
//!
//! Leases (invariant 4 and the clock, across power loss too): see `storage::lease`. A commit
//! near a lease extends it in its own batch; a background fsync makes it durable; only a commit
//! past the durable lease is itself written with fsync.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use rocksdb::WriteBatch;

use super::keys::{cf, meta, IndexRecord, LogEntry, SeqKey};
use super::lease::{LeaseValues, HLC_HEADROOM, HLC_LEASE_AHEAD, SEQ_HEADROOM, SEQ_LEASE_AHEAD};
use super::rocks::Store;
use crate::hlc::{self, Hlc};
use crate::resolver::{decide, Candidate, Verdict};
use crate::{Entry, Error, Op, Resolver, Result, Version};

/// Largest clock accepted from a peer: far beyond any real key's write count, far below overflow.
pub(crate) const MAX_REMOTE_CLOCK: u64 = 1 << 62;

/// How far ahead of this node's wall clock a remote timestamp may be: one day.
pub(crate) const MAX_REMOTE_FUTURE: u64 = (24 * 3600 * 1000) << hlc::LOGICAL_BITS;

/// State guarded by the commit lock.
pub(crate) struct CommitState {
    /// The sequence the next log entry gets.
    pub(crate) next_seq: u64,
    /// The hybrid logical clock.
    pub(crate) hlc: Hlc,
    /// The leases written (maybe not yet synced): above every sequence and timestamp used.
    pub(crate) leases: LeaseValues,
    /// The changes of the batch being built, published to watchers once it is written (only
    /// while a watcher exists).
    pub(crate) events: Vec<Arc<crate::Event>>,
}

/// One operation of a local write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl WriteOp {
    pub(crate) fn as_ref(&self) -> OpRef<'_> {
        match self {
            WriteOp::Put(k, v) => OpRef::Put(k, v),
            WriteOp::Delete(k) => OpRef::Delete(k),
        }
    }
}

/// One operation of a local write, borrowing the caller's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpRef<'a> {
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
}

impl<'a> OpRef<'a> {
    pub(crate) fn key(&self) -> &'a [u8] {
        match *self {
            OpRef::Put(k, _) | OpRef::Delete(k) => k,
        }
    }

    fn to_write_op(self) -> WriteOp {
        match self {
            OpRef::Put(k, v) => WriteOp::Put(k.to_vec(), v.to_vec()),
            OpRef::Delete(k) => WriteOp::Delete(k.to_vec()),
        }
    }
}

/// The group-commit queue, guarded by `Store::queue`.
#[derive(Default)]
pub(crate) struct Queue {
    /// Writes waiting for a leader.
    pub(crate) waiting: Vec<Arc<Pending>>,
    /// True while a leader is committing a group.
    pub(crate) leader_active: bool,
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
    ///
    /// The writer queues its operations. The first writer to find no leader active becomes the
    /// leader: it takes everything queued, commits it as one batch under the commit lock, hands
    /// every writer of the group its result and wakes them. Followers never touch the commit
    /// lock; they sleep on the queue's condition variable until their result is in, or until no
    /// leader is active and they take the role.
    pub(crate) fn write_local(&self, ops: &[OpRef<'_>]) -> Result<Vec<Version>> {
        if let Some(result) = self.lead_alone(|state| self.commit_group(state, &[ops]).pop()) {
            return result.unwrap_or_else(|| Err(lost_result()));
        }
        let mut queue = self.queue.lock();
        let pending = Arc::new(Pending {
            ops: ops.iter().map(|op| op.to_write_op()).collect(),
            result: Mutex::new(None),
        });
        queue.waiting.push(Arc::clone(&pending));
        loop {
            if let Some(done) = pending.result.lock().take() {
                return done;
            }
            if !queue.leader_active {
                break;
            }
            self.queue_cv.wait(&mut queue);
        }
        queue.leader_active = true;
        let group = std::mem::take(&mut queue.waiting);
        drop(queue);

        let refs: Vec<Vec<OpRef<'_>>> = group
            .iter()
            .map(|p| p.ops.iter().map(WriteOp::as_ref).collect())
            .collect();
        let requests: Vec<&[OpRef<'_>]> = refs.iter().map(Vec::as_slice).collect();
        let results = {
            let mut state = self.commit.lock();
            self.commit_group(&mut state, &requests)
        };
        for (p, r) in group.iter().zip(results) {
            *p.result.lock() = Some(r);
        }
        self.release_leadership();
        let done = pending.result.lock().take();
        done.unwrap_or_else(|| Err(lost_result()))
    }

    /// Commits one local operation (already validated): `put` and `delete`. Uncontended, it
    /// commits straight from the caller's bytes; otherwise it joins the group-commit queue.
    pub(crate) fn write_one(&self, op: OpRef<'_>) -> Result<Version> {
        if let Some(result) = self.lead_alone(|state| self.commit_one(state, op)) {
            return result;
        }
        let versions = self.write_local(&[op])?;
        versions.into_iter().next().ok_or_else(lost_result)
    }

    /// When nobody else is writing, leads a group of one: runs `commit` under the commit lock
    /// straight from the caller's bytes. `None` when another writer is active or queued.
    fn lead_alone<R>(&self, commit: impl FnOnce(&mut CommitState) -> R) -> Option<R> {
        let mut queue = self.queue.lock();
        if queue.leader_active || !queue.waiting.is_empty() {
            return None;
        }
        queue.leader_active = true;
        drop(queue);
        let result = commit(&mut self.commit.lock());
        self.release_leadership();
        Some(result)
    }

    /// Ends a leader's turn: wakes the group's writers (their results are in) and any writer
    /// queued meanwhile, one of which leads the next group.
    fn release_leadership(&self) {
        let mut queue = self.queue.lock();
        queue.leader_active = false;
        drop(queue);
        self.queue_cv.notify_all();
    }

    /// Commits every queued write in one batch; returns each writer's result, in order.
    fn commit_group(
        &self,
        state: &mut CommitState,
        group: &[&[OpRef<'_>]],
    ) -> Vec<Result<Vec<Version>>> {
        // Sized up front: per operation the value, the key twice, a log entry, an index record
        // and RocksDB's record headers, so the batch never regrows and copies itself.
        let bytes: usize = group
            .iter()
            .flat_map(|ops| ops.iter())
            .map(|op| match *op {
                OpRef::Put(k, v) => batch_bytes(k, v),
                OpRef::Delete(k) => batch_bytes(k, &[]),
            })
            .sum();
        state.events.clear();
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        // Every previous index record of the group, read with one call (RocksDB's batched
        // MultiGet): the largest cost of a write after the batch itself.
        let keys: Vec<&[u8]> = group
            .iter()
            .flat_map(|ops| ops.iter().map(OpRef::key))
            .collect();
        let mut found = self.read_indexes(&keys).into_iter();
        // Records this group already wrote, for keys named more than once.
        let track = keys.len() > 1;
        let mut overlay: HashMap<&[u8], IndexRecord, KeyHasher> =
            HashMap::with_capacity_and_hasher(if track { keys.len() } else { 0 }, KeyHasher);
        let physical = self.options.clock.reading();
        let mut results: Vec<Result<Vec<Version>>> = Vec::with_capacity(group.len());
        for ops in group {
            // A failed read rejects its writer before anything of it enters the batch.
            let prevs: Result<Vec<Option<IndexRecord>>> = found.by_ref().take(ops.len()).collect();
            let prevs = match prevs {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let mut versions = Vec::with_capacity(ops.len());
            for (op, from_disk) in ops.iter().zip(prevs) {
                let key = op.key();
                let prev = overlay.get(key).copied().or(from_disk);
                let record = self.stage(state, &mut batch, *op, prev, physical);
                if track {
                    overlay.insert(key, record);
                }
                versions.push(record.version);
            }
            results.push(Ok(versions));
        }
        match self.finish(state, batch) {
            Ok(()) => results,
            Err(e) => results
                .into_iter()
                .map(|r| r.and_then(|_| Err(Error::Storage(e.clone()))))
                .collect(),
        }
    }

    /// Commits one operation alone: the uncontended path of `put` and `delete`, with no
    /// allocation beyond RocksDB's batch.
    fn commit_one(&self, state: &mut CommitState, op: OpRef<'_>) -> Result<Version> {
        let (key, value) = match op {
            OpRef::Put(k, v) => (k, v),
            OpRef::Delete(k) => (k, &[][..]),
        };
        let prev = self.read_index(key)?;
        state.events.clear();
        let mut batch = WriteBatch::with_capacity_bytes(batch_bytes(key, value) + 64);
        let record = self.stage(state, &mut batch, op, prev, self.options.clock.reading());
        if crate::sabotage::skip_commit() {
            return Ok(record.version);
        }
        self.finish(state, batch)?;
        Ok(record.version)
    }

    /// Stages one local operation into `batch`: its version continues the key's clock, with a
    /// fresh timestamp and this node as origin. Returns the new index record.
    fn stage(
        &self,
        state: &mut CommitState,
        batch: &mut WriteBatch,
        op: OpRef<'_>,
        prev: Option<IndexRecord>,
        physical: u64,
    ) -> IndexRecord {
        let version = Version {
            clock: prev.map_or(1, |p| p.version.clock.saturating_add(1)),
            timestamp: state.hlc.now(physical),
            origin: self.node_id,
        };
        let value = match op {
            OpRef::Put(_, value) => Some(value),
            OpRef::Delete(_) => None,
        };
        self.write_entry(state, batch, op.key(), value, version, prev)
    }

    /// Writes one entry into `batch` (docs/design.md invariant 1), local or remote alike: allocates
    /// its sequence, puts or deletes the value, deletes the key's previous log entry `prev`, puts
    /// the new log entry and index record. Returns the new index record.
    fn write_entry(
        &self,
        state: &mut CommitState,
        batch: &mut WriteBatch,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
        prev: Option<IndexRecord>,
    ) -> IndexRecord {
        let (data, log, index) = (self.cf(cf::DATA), self.cf(cf::LOG), self.cf(cf::INDEX));
        let seq = state.next_seq;
        state.next_seq += 1;
        let kind = match value {
            Some(value) => {
                batch.put_cf(data, key, value);
                Op::Put
            }
            None => {
                batch.delete_cf(data, key);
                Op::Delete
            }
        };
        if let Some(p) = prev {
            batch.delete_cf(log, SeqKey(p.seq).encode());
        }
        // The log entry is encoded on the stack when the key is short (the common case).
        let mut stack = [0u8; 160];
        let len = 1 + Version::ENCODED_LEN + key.len();
        if len <= stack.len() {
            LogEntry::encode_parts_to_slice(&mut stack[..len], kind, &version, key);
            batch.put_cf(log, SeqKey(seq).encode(), &stack[..len]);
        } else {
            batch.put_cf(
                log,
                SeqKey(seq).encode(),
                LogEntry::encode_parts(kind, &version, key),
            );
        }
        let record = IndexRecord {
            seq,
            op: kind,
            version,
        };
        batch.put_cf(index, key, record.encode());
        if self.watching.load(Ordering::Relaxed) > 0 {
            state.events.push(Arc::new(crate::Event {
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
                version,
                seq,
            }));
        }
        record
    }

    /// The committed index records of `keys`, in order (one point read, or one MultiGet).
    fn read_indexes(&self, keys: &[&[u8]]) -> Vec<Result<Option<IndexRecord>>> {
        if let [key] = keys {
            return vec![self.read_index(key)];
        }
        self.db
            .batched_multi_get_cf(self.cf(cf::INDEX), keys.iter(), false)
            .into_iter()
            .zip(keys)
            .map(|(got, key)| match got {
                Ok(Some(bytes)) => IndexRecord::decode(key, &bytes).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e.into()),
            })
            .collect()
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
        let used_hlc = state.hlc.last();
        let mut written = state.leases;
        let mut extended = false;
        if state.next_seq.saturating_add(SEQ_HEADROOM) > written.seq {
            written.seq = state.next_seq.saturating_add(SEQ_LEASE_AHEAD);
            batch.put_cf(
                self.cf(cf::META),
                meta::SEQ_LEASE,
                written.seq.to_be_bytes(),
            );
            extended = true;
        }
        if used_hlc.saturating_add(HLC_HEADROOM) > written.hlc {
            written.hlc = used_hlc.saturating_add(HLC_LEASE_AHEAD);
            batch.put_cf(
                self.cf(cf::META),
                meta::HLC_LEASE,
                written.hlc.to_be_bytes(),
            );
            extended = true;
        }
        // Past the durable lease, this commit syncs itself (the background syncer fell behind).
        let must_sync = !self.leases.durable().covers(state.next_seq, used_hlc);
        let opts = if must_sync {
            &self.sync_opts
        } else {
            &self.write_opts
        };
        if let Err(e) = self.db.write_opt(batch, opts) {
            state.events.clear();
            return Err(e);
        }
        state.leases = written;
        if must_sync || self.options.durability == crate::Durability::Sync {
            self.leases.mark_durable(written);
        } else if extended {
            self.leases.request_sync(written);
        }
        let last = state.next_seq - 1;
        self.last_seq.store(last, Ordering::Release);
        // After the last sequence is stored (see `crate::watch`), in commit order.
        for event in state.events.drain(..) {
            let _ = self.watchers.send(event);
        }
        self.commit_signal.committed();
        Ok(())
    }

    /// Rejects a remote entry whose version no honest peer can have produced.
    fn check_remote(&self, e: &Entry, future_limit: u64) -> Result<()> {
        self.check_key(&e.key)?;
        if let Some(v) = &e.value {
            self.check_value(v)?;
        }
        let bad = |reason: String| {
            Err(Error::InvalidEntry {
                key: crate::storage::printable(&e.key),
                reason,
            })
        };
        let v = &e.version;
        if v.clock == 0 || v.clock > MAX_REMOTE_CLOCK {
            return bad(format!("clock {} is outside 1 ..= 2^62", v.clock));
        }
        if v.origin.is_nil() {
            return bad("the origin node id is all zeros".into());
        }
        if v.timestamp > future_limit {
            return bad(format!(
                "timestamp {} ms is more than a day ahead of this node's clock",
                hlc::millis(v.timestamp)
            ));
        }
        Ok(())
    }

    /// Applies remote entries (docs/design.md invariants 5 and 6) in one batch.
    pub(crate) fn apply(&self, entries: &[Entry], resolver: &dyn Resolver) -> Result<ApplyReport> {
        let future_limit = self
            .options
            .clock
            .reading()
            .saturating_add(MAX_REMOTE_FUTURE);
        for e in entries {
            self.check_remote(e, future_limit)?;
        }
        let data = self.cf(cf::DATA);
        let keys: Vec<&[u8]> = entries.iter().map(|e| e.key.as_slice()).collect();
        let bytes: usize = entries
            .iter()
            .map(|e| batch_bytes(&e.key, e.value.as_deref().unwrap_or_default()))
            .sum();
        let mut state = self.commit.lock();
        // Changes a failed commit staged are never published.
        state.events.clear();
        // Every local index record with one MultiGet, under the lock.
        let found = self.read_indexes(&keys);
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        // Keys this batch already wrote: their record and value.
        let mut overlay: ApplyOverlay<'_> =
            HashMap::with_capacity_and_hasher(entries.len(), KeyHasher);
        let mut report = ApplyReport::default();
        for (e, from_disk) in entries.iter().zip(found) {
            state.hlc.observe(e.version.timestamp);
            if e.value.is_none()
                && crate::sabotage::active(crate::sabotage::Sabotage::DropTombstonesOnApply)
            {
                report.stale += 1;
                continue;
            }
            let local = match overlay.get(e.key.as_slice()) {
                Some(&(rec, _)) => Some(rec),
                None => from_disk?,
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
                                stored = self
                                    .db
                                    .get_cf(data, &e.key)?
                                    .ok_or_else(|| Error::missing_value(&e.key))?;
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
                    let record = self.write_entry(
                        &mut state,
                        &mut batch,
                        &e.key,
                        e.value.as_deref(),
                        e.version,
                        local,
                    );
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

/// Keys an apply already wrote in its batch: their new record and value.
type ApplyOverlay<'a> = HashMap<&'a [u8], (IndexRecord, Option<&'a [u8]>), KeyHasher>;

/// A fast hasher for the commit's overlay of keys: keys come from this node's own writers, so
/// resistance to hash flooding is not needed here (FNV-1a over 8-byte words).
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyHasher;

impl std::hash::BuildHasher for KeyHasher {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// The hasher state of [`KeyHasher`].
pub(crate) struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0 ^ u64::from_le_bytes(w)).wrapping_mul(0x0100_0000_01b3);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        // Mix the high bits down: hashbrown uses the top 7 bits and the low bits.
        let h = self.0;
        h ^ (h >> 29) ^ (h >> 47)
    }
}

/// Bytes a batch needs for one operation: the value, the key three times (data, log entry,
/// index), the fixed parts of a log entry and an index record, and RocksDB's record headers.
fn batch_bytes(key: &[u8], value: &[u8]) -> usize {
    3 * key.len() + value.len() + 128
}

fn lost_result() -> Error {
    Error::corrupt("commit queue", "a write left the queue without a result")
}
