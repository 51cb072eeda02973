//! Group commit of local writes.
//!
//! A local writer pushes its operations onto a queue. The first writer that finds no leader
//! active becomes the leader: it takes everything queued and commits it as one batch with one
//! write (and with `Durability::Sync`, one fsync) under the commit lock, then hands each writer
//! its result. Writers that queue up while a leader syncs are all committed by the next leader,
//! so an fsync is paid once per group, not once per writer, and the order stays the commit
//! lock's order. Followers never take the commit lock. An uncontended write commits straight
//! from the caller's bytes (`write_one`).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rocksdb::WriteBatch;
use rustc_hash::FxBuildHasher;

use super::apply::MAX_REMOTE_CLOCK;
use super::commit::{batch_bytes, expiring_batch_bytes, CommitState, OpRef, WriteOp};
use super::keys::IndexRecord;
use super::rocks::Store;
use crate::{Error, Result, Version};

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

impl Store {
    /// Commits local operations (already validated) through the group-commit queue.
    ///
    /// The writer queues its operations. The first writer to find no leader active becomes the
    /// leader: it takes everything queued, commits it as one batch under the commit lock, hands
    /// every writer of the group its result and wakes them. Followers never touch the commit
    /// lock; they sleep on the queue's condition variable until their result is in, or until no
    /// leader is active and they take the role.
    pub(crate) fn write_local(&self, ops: &[OpRef<'_>]) -> Result<Vec<Version>> {
        if ops.iter().any(|op| matches!(op, OpRef::Expire(..))) {
            // Expire and persist read the value they write again: under the commit lock, outside
            // the queue. An operation that wrote nothing has a version of clock 0.
            let versions = self.write_reading(ops)?;
            return Ok(versions
                .into_iter()
                .map(|v| v.unwrap_or(Version::NONE))
                .collect());
        }
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
    pub(super) fn lead_alone<R>(&self, commit: impl FnOnce(&mut CommitState) -> R) -> Option<R> {
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
    pub(super) fn release_leadership(&self) {
        let mut queue = self.queue.lock();
        queue.leader_active = false;
        drop(queue);
        self.queue_cv.notify_all();
    }

    /// Commits every queued write in one batch; returns each writer's result, in order.
    pub(super) fn commit_group(
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
                OpRef::PutExpiring(k, v, _) => expiring_batch_bytes(k, v),
                _ => batch_bytes(op.key(), op.value().unwrap_or_default()),
            })
            .sum();
        state.begin();
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
        let mut overlay: HashMap<&[u8], IndexRecord, FxBuildHasher> =
            HashMap::with_capacity_and_hasher(if track { keys.len() } else { 0 }, FxBuildHasher);
        let physical = self.options.clock.reading();
        if let Err(e) = self.guard_clock(state, physical) {
            return group.iter().map(|_| Err(e.clone().into())).collect();
        }
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
            // A writer whose key's clock would pass the ceiling is refused whole, before any of
            // its operations is staged (its repeated keys count once each: conservative).
            let exhausted = ops.iter().zip(&prevs).find(|(op, from_disk)| {
                let prev = overlay.get(op.key()).copied().or(**from_disk);
                prev.is_some_and(|p| {
                    p.version.clock.saturating_add(ops.len() as u64) > MAX_REMOTE_CLOCK
                })
            });
            if let Some((op, _)) = exhausted {
                results.push(Err(Error::KeyClockExhausted {
                    key: crate::storage::printable(op.key()),
                }));
                continue;
            }
            let mut versions = Vec::with_capacity(ops.len());
            for (op, from_disk) in ops.iter().zip(prevs) {
                let key = op.key();
                let prev = overlay.get(key).copied().or(from_disk);
                // `write_local` sends expires elsewhere; one here would write nothing.
                let Some((value, expires_at)) = plain_write(*op, physical) else {
                    versions.push(Version::NONE);
                    continue;
                };
                let record = self.stage(state, &mut batch, key, value, expires_at, prev, physical);
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
                .map(|r| r.and_then(|_| Err(Error::from(e.clone()))))
                .collect(),
        }
    }

    /// Commits one operation alone: the uncontended path of `put` and `delete`, with no
    /// allocation beyond RocksDB's batch.
    pub(super) fn commit_one(&self, state: &mut CommitState, op: OpRef<'_>) -> Result<Version> {
        let key = op.key();
        let prev = self.read_index(key)?;
        if prev.is_some_and(|p| p.version.clock >= MAX_REMOTE_CLOCK) {
            return Err(Error::KeyClockExhausted {
                key: crate::storage::printable(key),
            });
        }
        let physical = self.options.clock.reading();
        self.guard_clock(state, physical)?;
        state.begin();
        let Some((value, expires_at)) = plain_write(op, physical) else {
            return Err(Error::corrupt(
                "commit",
                "an expire reached the single-write path",
            ));
        };
        let bytes = match op {
            OpRef::PutExpiring(_, v, _) => expiring_batch_bytes(key, v),
            _ => batch_bytes(key, value.unwrap_or_default()),
        };
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        let record = self.stage(state, &mut batch, key, value, expires_at, prev, physical);
        if crate::sabotage::skip_commit() {
            return Ok(record.version);
        }
        self.finish(state, batch)?;
        Ok(record.version)
    }

    /// Stages one local operation into `batch`: its version continues the key's clock, with a
    /// fresh timestamp and this node as origin. Returns the new index record.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage(
        &self,
        state: &mut CommitState,
        batch: &mut WriteBatch,
        key: &[u8],
        value: Option<&[u8]>,
        expires_at: Option<u64>,
        prev: Option<IndexRecord>,
        physical: u64,
    ) -> IndexRecord {
        let version = Version {
            clock: prev.map_or(1, |p| p.version.clock.saturating_add(1)),
            timestamp: state.hlc.now(physical),
            origin: self.node_id,
        };
        self.write_entry(state, batch, key, value, expires_at, version, prev)
    }
}

/// What a put or delete writes: its value (none for a delete, or for a put whose deadline is
/// already past at `physical`, which is stored expired) and its deadline. `None` for an
/// expire, which needs the key's value (`Store::write_reading`).
pub(super) fn plain_write(op: OpRef<'_>, physical: u64) -> Option<(Option<&[u8]>, Option<u64>)> {
    match op {
        OpRef::Put(_, v) => Some((Some(v), None)),
        OpRef::PutExpiring(_, v, at) => {
            let live = !crate::record::entry::expired(Some(at), crate::hlc::millis(physical));
            Some((live.then_some(v), Some(at)))
        }
        OpRef::Delete(_) => Some((None, None)),
        OpRef::Expire(..) => None,
    }
}

fn lost_result() -> Error {
    Error::corrupt("commit queue", "a write left the queue without a result")
}

#[cfg(test)]
mod tests {
    use super::super::keys::{cf, IndexRecord};
    use super::MAX_REMOTE_CLOCK;
    use crate::{Batch, Db, Error, NodeId, Op, Options, Version};

    #[test]
    fn a_key_at_the_clock_ceiling_is_refused_at_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put(b"k", b"v").unwrap();
        // The ceiling itself: what a remote entry may carry, and no more.
        let at_ceiling = IndexRecord {
            seq: 1,
            op: Op::Put,
            version: Version {
                clock: MAX_REMOTE_CLOCK,
                timestamp: 1,
                origin: NodeId([7; 16]),
            },
            expires_at: None,
            swept: false,
        };
        let store = db.store();
        store
            .db
            .put_cf(store.cf(cf::INDEX), b"k", at_ceiling.encode())
            .unwrap();
        assert!(matches!(
            db.put(b"k", b"w"),
            Err(Error::KeyClockExhausted { .. })
        ));
        let mut batch = Batch::new();
        batch.put(b"other", b"1");
        batch.put(b"k", b"w");
        assert!(matches!(
            db.write(batch),
            Err(Error::KeyClockExhausted { .. })
        ));
        // Nothing of the refused batch was written; other keys are unaffected.
        assert_eq!(db.get(b"other").unwrap(), None);
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        db.put(b"other", b"2").unwrap();
    }
}
