//! The commit core: how one write becomes one `WriteBatch`, and how a batch is written.
//!
//! Invariant 1 (atomic commit): every write — local or remote — puts the value into `data` (or
//! deletes it; a value with a deadline goes into the index record instead, and its deadline
//! into `deadlines`), the entry at `log[seq]` (a put's with its value's length), `index[key] =
//! {seq, op, version, deadline}`, and deletes the key's previous log entry, all in one batch.
//! Invariant 2 follows: the log holds exactly one entry per key.
//!
//! Invariant 3 (ordered visibility): sequences are allocated and the batch is written while
//! holding the commit lock, so batches reach RocksDB in sequence order and a reader that saw
//! `seq = N` can never later find an entry below `N` appear.
//!
//! Leases (invariant 4 and the clock, across power loss too): see `storage::lease`. A commit
//! near a lease extends it in its batch; a background fsync makes it durable; only a commit past
//! the durable lease is itself written with fsync ([`Store::finish`]).
//!
//! The two writers on top of it: `group_commit` (local writes) and `apply` (remote entries).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rocksdb::WriteBatch;

use super::keys::{cf, meta, DeadlineKey, IndexRecord, LogEntry, SeqKey};
use super::lease::{LeaseValues, HLC_HEADROOM, HLC_LEASE_AHEAD, SEQ_HEADROOM, SEQ_LEASE_AHEAD};
use super::rocks::Store;
use crate::hlc::Hlc;
use crate::{Op, Result, Version};

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
    /// A sequence held back for a later commit: only the negative control
    /// `Sabotage::OutOfOrderVisibility` sets it.
    pub(crate) held_seq: Option<u64>,
    /// How the batch being built changes the key counts (`Store::counts`): keys with a value,
    /// and of those the ones with a deadline. Applied once the batch is written.
    pub(crate) count_delta: (i64, i64),
    /// How the batch being built moves the digests (`storage::digest`): per segment, the
    /// element added or the negation of the one removed. Applied once the batch is written.
    pub(crate) digest_delta: Vec<(u16, u128)>,
}

impl CommitState {
    /// Starts a batch: drops what a batch that was never written staged (its changes for
    /// watchers, its change of the key counts).
    pub(crate) fn begin(&mut self) {
        self.events.clear();
        self.count_delta = (0, 0);
        self.digest_delta.clear();
    }
}

/// Whether a record counts as a key with a value, and as one with a deadline, for
/// `Store::counts`: a put whose value has not been removed after its deadline (expired puts
/// count until the sweeper removes their value, as in Redis until a key is evicted).
pub(crate) fn counted(rec: Option<&IndexRecord>) -> (i64, i64) {
    match rec {
        Some(r) if r.op == Op::Put && !r.swept => (1, i64::from(r.expires_at.is_some())),
        _ => (0, 0),
    }
}

/// One operation of a local write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteOp {
    Put(Vec<u8>, Vec<u8>),
    PutExpiring(Vec<u8>, Vec<u8>, u64),
    Expire(Vec<u8>, Option<u64>),
    Delete(Vec<u8>),
}

impl WriteOp {
    pub(crate) fn as_ref(&self) -> OpRef<'_> {
        match self {
            WriteOp::Put(k, v) => OpRef::Put(k, v),
            WriteOp::PutExpiring(k, v, at) => OpRef::PutExpiring(k, v, *at),
            WriteOp::Expire(k, at) => OpRef::Expire(k, *at),
            WriteOp::Delete(k) => OpRef::Delete(k),
        }
    }
}

/// One operation of a local write, borrowing the caller's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpRef<'a> {
    /// A put without a deadline (it clears the key's deadline, as Redis `SET` does).
    Put(&'a [u8], &'a [u8]),
    /// A put with a deadline, ms since the Unix epoch.
    PutExpiring(&'a [u8], &'a [u8], u64),
    /// A new deadline (or none: persist) for the key's live value, which is written again with
    /// it; nothing is written when the key holds no live value. It reads the value, so it
    /// commits under the commit lock outside the group queue (`Store::write_reading`).
    Expire(&'a [u8], Option<u64>),
    Delete(&'a [u8]),
}

impl<'a> OpRef<'a> {
    pub(crate) fn key(&self) -> &'a [u8] {
        match *self {
            OpRef::Put(k, _)
            | OpRef::PutExpiring(k, _, _)
            | OpRef::Expire(k, _)
            | OpRef::Delete(k) => k,
        }
    }

    /// The value the operation writes, if it carries one.
    pub(crate) fn value(&self) -> Option<&'a [u8]> {
        match *self {
            OpRef::Put(_, v) | OpRef::PutExpiring(_, v, _) => Some(v),
            OpRef::Expire(..) | OpRef::Delete(_) => None,
        }
    }

    pub(super) fn to_write_op(self) -> WriteOp {
        match self {
            OpRef::Put(k, v) => WriteOp::Put(k.to_vec(), v.to_vec()),
            OpRef::PutExpiring(k, v, at) => WriteOp::PutExpiring(k.to_vec(), v.to_vec(), at),
            OpRef::Expire(k, at) => WriteOp::Expire(k.to_vec(), at),
            OpRef::Delete(k) => WriteOp::Delete(k.to_vec()),
        }
    }
}

impl Store {
    /// Writes one entry into `batch` (docs/design.md invariant 1), local or remote alike: allocates
    /// its sequence, puts or deletes the value, deletes the key's previous log entry `prev`, puts
    /// the new log entry and index record. Returns the new index record.
    ///
    /// Where the value goes: a put without a deadline into `data`; a put with one into its
    /// index record and its deadline into `deadlines`; a put past its deadline (`value: None`,
    /// `expires_at: Some`) nowhere. Whatever `prev` left in `data` or `deadlines` is deleted,
    /// so a value is in one place at most and a deadline is listed only while its put holds
    /// its value.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_entry(
        &self,
        state: &mut CommitState,
        batch: &mut WriteBatch,
        key: &[u8],
        value: Option<&[u8]>,
        expires_at: Option<u64>,
        version: Version,
        prev: Option<IndexRecord>,
    ) -> IndexRecord {
        let (data, log, index) = (self.cf(cf::DATA), self.cf(cf::LOG), self.cf(cf::INDEX));
        let seq = self.next_sequence(state, prev);
        let kind = if value.is_some() || expires_at.is_some() {
            Op::Put
        } else {
            Op::Delete
        };
        let expires_at = expires_at.filter(|_| kind == Op::Put);
        match (value, expires_at) {
            (Some(value), None) => batch.put_cf(data, key, value),
            // The value goes into the index record, below.
            (Some(_), Some(at)) => {
                with_deadline(at, key, |k| batch.put_cf(self.cf(cf::DEADLINES), k, []))
            }
            (None, _) => {}
        }
        let in_data = value.is_some() && expires_at.is_none();
        let in_index = value.is_some() && expires_at.is_some();
        if let Some(p) = prev {
            batch.delete_cf(log, SeqKey(p.seq).encode());
            // A swept put left nothing in `deadlines` to delete; a record's value leaves with
            // the record, which is overwritten below.
            if p.op == Op::Put && !p.swept {
                match p.expires_at {
                    None if !in_data => batch.delete_cf(data, key),
                    None => {}
                    Some(old) if !(in_index && expires_at == Some(old)) => {
                        with_deadline(old, key, |k| batch.delete_cf(self.cf(cf::DEADLINES), k))
                    }
                    Some(_) => {}
                }
            }
        }
        // A put records its value's length, so that feeds plan their value reads in bytes
        // (`storage::changes`). Values are at most 1 GiB (`Options::validate`), so the length
        // always fits a u32; were it not to, the entry would be written without one (op 0, as
        // format 1 did), which readers handle, rather than with a wrong one.
        let value_len = value.and_then(|v| u32::try_from(v.len()).ok());
        // The log entry is encoded on the stack when the key is short (the common case).
        let mut stack = [0u8; 160];
        let len = LogEntry::encoded_len(kind, value_len, expires_at, key);
        if len <= stack.len() {
            LogEntry::encode_parts_to_slice(
                &mut stack[..len],
                kind,
                &version,
                value_len,
                expires_at,
                key,
            );
            batch.put_cf(log, SeqKey(seq).encode(), &stack[..len]);
        } else {
            batch.put_cf(
                log,
                SeqKey(seq).encode(),
                LogEntry::encode_parts(kind, &version, value_len, expires_at, key),
            );
        }
        let record = IndexRecord {
            seq,
            op: kind,
            version,
            expires_at,
            swept: kind == Op::Put && value.is_none(),
        };
        if in_index {
            // Before the batch is written, so that a scan whose snapshot holds this record
            // sees the flag (`Store::inline_values`).
            self.inline_values.store(true, Ordering::SeqCst);
        }
        record.encode_inline(value.unwrap_or_default(), |b| batch.put_cf(index, key, b));
        let segment = super::digest::segment_of(key);
        if let Some(p) = prev {
            let old = super::digest::element_of(key, &p.version);
            state.digest_delta.push((segment, old.wrapping_neg()));
        }
        let new = super::digest::element_of(key, &version);
        state.digest_delta.push((segment, new));
        let (now, before) = (counted(Some(&record)), counted(prev.as_ref()));
        state.count_delta.0 += now.0 - before.0;
        state.count_delta.1 += now.1 - before.1;
        if self.watching.load(Ordering::Relaxed) > 0 {
            state.events.push(Arc::new(crate::Event {
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
                version,
                seq,
                expires_at: expires_at.map(crate::record::entry::deadline_time),
                expired: kind == Op::Put && value.is_none(),
            }));
        }
        record
    }

    /// The sequence a new log entry takes: the next one, under the commit lock, so sequences
    /// become visible in order (invariant 3) and are never handed out twice (invariant 4). The
    /// negative controls of those two invariants hook in here.
    fn next_sequence(&self, state: &mut CommitState, prev: Option<IndexRecord>) -> u64 {
        use crate::sabotage::{active, Sabotage};
        if active(Sabotage::ReuseSequences) {
            // A key last written by an earlier open keeps its old sequence: handed out again.
            if let Some(p) = prev.filter(|p| p.seq < self.seq_floor) {
                return p.seq;
            }
        }
        if active(Sabotage::OutOfOrderVisibility) {
            // The held sequence goes to a commit after the one that took the sequence above it.
            let visible = self.last_seq.load(Ordering::Acquire);
            if let Some(held) = state.held_seq.filter(|&s| visible > s) {
                state.held_seq = None;
                return held;
            }
            if state.held_seq.is_none() && state.next_seq % 8 == 0 {
                state.held_seq = Some(state.next_seq);
                state.next_seq += 1;
            }
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        seq
    }

    /// The committed index records of `keys`, in order (one point read, or one MultiGet).
    pub(super) fn read_indexes(&self, keys: &[&[u8]]) -> Vec<Result<Option<IndexRecord>>> {
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
    pub(super) fn finish(
        &self,
        state: &mut CommitState,
        mut batch: WriteBatch,
    ) -> std::result::Result<(), rocksdb::Error> {
        let delta = std::mem::take(&mut state.count_delta);
        if batch.is_empty() {
            state.digest_delta.clear();
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
            state.begin();
            return Err(e);
        }
        state.leases = written;
        self.counts.add(delta);
        {
            let mut digests = self.digests.lock();
            for &(segment, d) in &state.digest_delta {
                digests.apply(segment, d);
            }
        }
        state.digest_delta.clear();
        if must_sync || self.options.durability == crate::Durability::Sync {
            self.leases.mark_durable(written);
        } else if extended {
            self.leases.request_sync(written);
        }
        let last = state.next_seq - 1;
        self.last_seq.store(last, Ordering::Release);
        *self.applied_point.lock() = (last, state.hlc.last());
        // After the last sequence is stored (see `crate::watch`), in commit order.
        for event in state.events.drain(..) {
            let _ = self.watchers.send(event);
        }
        self.commit_signal.committed();
        Ok(())
    }
}

/// Calls `f` with the `deadlines` key of `key` expiring at `at` ([`DeadlineKey`]), built on
/// the stack when it is short, as most are.
fn with_deadline<R>(at: u64, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut stack = [0u8; 256];
    let len = 8 + key.len();
    if len <= stack.len() {
        stack[..8].copy_from_slice(&at.to_be_bytes());
        stack[8..len].copy_from_slice(key);
        f(&stack[..len])
    } else {
        f(&DeadlineKey::encode(at, key))
    }
}

/// Bytes a batch needs for one operation: the value, the key three times (data, log entry,
/// index), the fixed parts of a log entry (value length included) and an index record, and
/// RocksDB's record headers (a put with a deadline needs a little more: its batch grows once).
pub(super) fn batch_bytes(key: &[u8], value: &[u8]) -> usize {
    3 * key.len() + value.len() + 128
}

/// [`batch_bytes`] of a put with a deadline: the deadline index entry (the key again and 8
/// bytes) and the deadline in the log entry and index record, so the batch never regrows.
pub(super) fn expiring_batch_bytes(key: &[u8], value: &[u8]) -> usize {
    batch_bytes(key, value) + key.len() + 64
}
