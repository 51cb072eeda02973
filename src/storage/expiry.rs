//! Keys that expire: reading a value wherever its deadline put it, the read-modify-write of
//! `expire` and `persist`, and one step of the sweeper.
//!
//! A put's deadline is part of the write (docs/design.md, "Expiry"): the value of a put
//! without one is in `data`, of a put with one in its index record (op 3) with its deadline
//! in `deadlines`, never in both. Expired is a pure function of the record and this
//! node's clock ([`crate::record::entry::expired`]), so no write is needed for a key to
//! disappear. Values leave the disk later, by a more careful clock ([`Store::drop_clock_ms`]:
//! a second after the deadline, and never ahead of the peers' clocks), so that what a peer
//! receives never expires early by its own clock. The sweeper only reclaims space: it removes the values of puts past their
//! deadline, in deadline order, a bounded number per step, and writes no log entry or sequence
//! (the record stays a put past its deadline, marked swept, which reads, feeds and replicates
//! as expired as it did before its value left the disk).
//!
//! Invariants kept here:
//! - `expire`/`persist` of a key with a live value is a new write of that value (clock + 1)
//!   with the new deadline, read and written under the commit lock; of a key without one it
//!   writes nothing.
//! - The sweeper removes a value only while the key's index record is a put with the very
//!   deadline it found, checked under the commit lock: a later write of the key is never
//!   touched. It rewrites the record without the value, marked swept (same sequence and
//!   version, index op 2), so that the key's next write knows its value is gone
//!   (`storage::counts`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use rocksdb::{ReadOptions, WriteBatch};

use super::apply::MAX_REMOTE_CLOCK;
use super::commit::OpRef;
use super::group_commit::plain_write;
use super::keys::{cf, DeadlineKey, IndexRecord};
use super::rocks::Store;
use crate::record::entry::expired;
use crate::{Error, Op, Result, Version};

/// What one sweeper step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SweepStep {
    /// Values of expired puts removed.
    pub(crate) removed: u64,
    /// Deadlines dropped that a later write of their key had replaced.
    pub(crate) stale: u64,
    /// More deadlines were due than the step's limit: run again soon.
    pub(crate) more: bool,
}

/// How long after its deadline, by [`Store::drop_clock_ms`], a put keeps its value on disk:
/// a peer whose clock is up to this far behind still receives it with its value (and a value
/// arriving without one while its deadline is ahead of the receiver's clock is refused, see
/// `storage::apply`).
pub(crate) const EXPIRY_GRACE_MS: u64 = 1000;

impl Store {
    /// Milliseconds since the Unix epoch by this node's clock (`Options::clock`).
    pub(crate) fn now_ms(&self) -> u64 {
        crate::hlc::millis(self.options.clock.reading())
    }

    /// The time up to which this node may drop the values of expired puts (the sweeper, and
    /// `apply` storing a put that arrives after its deadline): its own clock, but never past
    /// what a majority of its peers' clocks read (their accepted limit less the clock bound),
    /// less [`EXPIRY_GRACE_MS`]. A node whose clock runs ahead (it reads such keys as absent,
    /// by its own clock) thus neither removes nor relays without its value a key that is live
    /// by the honest clocks.
    pub(crate) fn drop_clock_ms(&self) -> u64 {
        let own = self.now_ms();
        let peers = self.peer_clock_limit().map(|(limit, _)| {
            crate::hlc::millis(limit).saturating_sub(crate::hlc::millis(self.clock_bound()))
        });
        own.min(peers.unwrap_or(u64::MAX))
            .saturating_sub(EXPIRY_GRACE_MS)
    }

    /// The live value of `key`, whose index record is `rec` holding `held` (the value of a
    /// put with a deadline), read with `opts` (a snapshot, or the latest state) when it is in
    /// `data`: `None` for a delete, a put past its deadline at `now_ms`, or a put whose value
    /// the sweeper removed (the clock may have gone back since).
    pub(crate) fn live_value(
        &self,
        key: &[u8],
        rec: &IndexRecord,
        held: Option<&[u8]>,
        now_ms: u64,
        opts: &ReadOptions,
    ) -> Result<Option<Vec<u8>>> {
        if rec.op == Op::Delete || rec.swept || expired(rec.expires_at, now_ms) {
            return Ok(None);
        }
        match rec.expires_at {
            None => self
                .db
                .get_cf_opt(self.cf(cf::DATA), key, opts)?
                .map(Some)
                .ok_or_else(|| Error::missing_value(key)),
            Some(_) => Ok(held.map(<[u8]>::to_vec)),
        }
    }

    /// [`Store::live_value`] of `key`, whose record `rec` was read without the value it may
    /// hold: the record is read again with `opts` for it (only when it may hold one).
    pub(crate) fn live_value_reread(
        &self,
        key: &[u8],
        rec: &IndexRecord,
        now_ms: u64,
        opts: &ReadOptions,
    ) -> Result<Option<Vec<u8>>> {
        if !rec.holds_value() {
            return self.live_value(key, rec, None, now_ms, opts);
        }
        match self.db.get_pinned_cf_opt(self.cf(cf::INDEX), key, opts)? {
            Some(bytes) => {
                let (rec, held) = IndexRecord::decode_inline(key, &bytes)?;
                self.live_value(key, &rec, held, now_ms, opts)
            }
            None => Ok(None),
        }
    }

    /// Commits local operations of which some read the key's value (`OpRef::Expire`), under the
    /// commit lock and outside the group queue: one batch, one version per operation, `None`
    /// for an expire of a key that held no live value (it writes nothing).
    pub(crate) fn write_reading(&self, ops: &[OpRef<'_>]) -> Result<Vec<Option<Version>>> {
        let mut state = self.commit.lock();
        state.begin();
        let physical = self.options.clock.reading();
        self.guard_clock(&mut state, physical)?;
        let now_ms = crate::hlc::millis(physical);
        let keys: Vec<&[u8]> = ops.iter().map(OpRef::key).collect();
        let found: Vec<Option<IndexRecord>> = self
            .read_indexes(&keys)
            .into_iter()
            .collect::<Result<_>>()?;
        if let Some((op, _)) = ops.iter().zip(&found).find(|(_, prev)| {
            prev.is_some_and(|p| {
                p.version.clock.saturating_add(ops.len() as u64) > MAX_REMOTE_CLOCK
            })
        }) {
            return Err(Error::KeyClockExhausted {
                key: crate::storage::printable(op.key()),
            });
        }
        // Keys this batch already wrote: their record and live value.
        let mut overlay: HashMap<&[u8], (IndexRecord, Option<Vec<u8>>)> = HashMap::new();
        let mut batch = WriteBatch::default();
        let mut out = Vec::with_capacity(ops.len());
        for (op, from_disk) in ops.iter().zip(found) {
            let key = op.key();
            let prev = overlay.get(key).map(|(r, _)| *r).or(from_disk);
            let (value, expires_at) = match (plain_write(*op, physical), *op) {
                (Some((value, at)), _) => (value.map(<[u8]>::to_vec), at),
                (None, OpRef::Expire(_, at)) => {
                    let current = match (overlay.get(key), prev) {
                        (Some((_, v)), _) => v.clone(),
                        (None, Some(p)) => {
                            self.live_value_reread(key, &p, now_ms, &ReadOptions::default())?
                        }
                        (None, None) => None,
                    };
                    let Some(current) = current else {
                        out.push(None);
                        continue;
                    };
                    // A deadline already past stores the put expired, as a past EXPIREAT does.
                    let live = !expired(at, now_ms);
                    (live.then_some(current), at)
                }
                (None, _) => (None, None),
            };
            let record = self.stage(
                &mut state,
                &mut batch,
                key,
                value.as_deref(),
                expires_at,
                prev,
                physical,
            );
            overlay.insert(key, (record, value));
            out.push(Some(record.version));
        }
        self.finish(&mut state, batch)?;
        Ok(out)
    }

    /// One sweeper step: removes the values of at most `max` puts whose deadline
    /// [`Store::drop_clock_ms`] has passed, earliest first, under the commit lock (so no write interleaves: the
    /// step is bounded by `max`). The deadlines it went through leave with one range deletion,
    /// so the next step's seek skips them at once instead of stepping over a tombstone each.
    pub(crate) fn sweep(&self, max: usize) -> Result<SweepStep> {
        let now_ms = self.drop_clock_ms();
        let deadlines = self.cf(cf::DEADLINES);
        let state = self.commit.lock();
        let mut opts = ReadOptions::default();
        opts.set_iterate_upper_bound(now_ms.saturating_add(1).to_be_bytes().to_vec());
        let mut iter = self.db.raw_iterator_cf_opt(deadlines, opts);
        iter.seek_to_first();
        let mut due: Vec<Vec<u8>> = Vec::new();
        while due.len() < max {
            let Some(k) = iter.key() else { break };
            due.push(k.to_vec());
            iter.next();
        }
        iter.status()?;
        let mut step = SweepStep {
            more: due.len() == max && iter.valid(),
            ..SweepStep::default()
        };
        drop(iter);
        let (Some(first), Some(last)) = (due.first(), due.last()) else {
            return Ok(step);
        };
        let mut batch = WriteBatch::default();
        // Every deadline from the first to the last found, and nothing else (no write can
        // add one meanwhile: the commit lock is held).
        let mut end = last.clone();
        end.push(0);
        batch.delete_range_cf(deadlines, first, &end);
        let mut parsed = Vec::with_capacity(due.len());
        for raw in &due {
            match DeadlineKey::decode(raw) {
                Ok(p) => parsed.push(p),
                // Nothing reads a malformed deadline; the range deletion drops it, which loses
                // nothing and keeps the sweeper from stopping at it forever.
                Err(e) => *self.sweep_failure.lock() = Some(e.to_string()),
            }
        }
        let keys: Vec<&[u8]> = parsed.iter().map(|(_, k)| *k).collect();
        let records = self.read_indexes(&keys);
        for ((at, key), rec) in parsed.iter().zip(records) {
            match rec? {
                Some(r) if r.op == Op::Put && !r.swept && r.expires_at == Some(*at) => {
                    // The record without its value says the value is gone, so that the next
                    // write of the key knows what it replaces (the key counts).
                    let swept = IndexRecord { swept: true, ..r };
                    batch.put_cf(self.cf(cf::INDEX), key, swept.encode());
                    step.removed += 1;
                }
                _ => step.stale += 1,
            }
        }
        // Not synced: a sweep lost to a power cut is done again.
        self.db.write_opt(batch, &self.write_opts)?;
        let removed = i64::try_from(step.removed).unwrap_or(i64::MAX);
        self.counts.add((-removed, -removed));
        drop(state);
        self.stats_swept.fetch_add(step.removed, Ordering::Relaxed);
        Ok(step)
    }
}
