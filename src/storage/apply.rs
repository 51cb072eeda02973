//! Applying remote entries (docs/design.md invariants 5 and 6): each against the local version
//! of its key, the winners committed in one batch, relogged under new local sequences with their
//! original versions.
//!
//! Entries no honest peer can have produced (an empty or oversized key or value, a clock of 0 or
//! above [`MAX_REMOTE_CLOCK`], a nil origin, a timestamp more than the clock bound ahead of this
//! node's physical clock: [`Store::clock_bound`]) refuse the whole batch. The hybrid clock
//! observes accepted timestamps capped at half the bound (docs/design.md, "Clocks").

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use rustc_hash::FxBuildHasher;

use super::commit::batch_bytes;
use rocksdb::WriteBatch;

use super::keys::{IndexRecord, MAX_EXPIRES_AT_MS};
use super::rocks::Store;
use crate::hlc;
use crate::record::entry::expired;
use crate::record::resolver::{decide, Candidate, Outcome};
use crate::{Entry, Error, Op, Resolver, Result};

/// Largest clock accepted from a peer: far beyond any real key's write count, far below overflow.
/// A local write whose clock would pass it is refused at the source
/// ([`Error::KeyClockExhausted`]), so no node ever makes a clock its peers refuse.
pub(crate) const MAX_REMOTE_CLOCK: u64 = 1 << 62;

/// Largest step a remote entry's clock may take above the local clock of its key (0 for a key
/// never seen): 2^40 writes of one key that this node never saw is beyond any honest history
/// (a million writes a second for twelve days), while a single entry can no longer lift a key
/// to the ceiling. Reaching it takes 2^22 successive entries, each applied before the next is
/// accepted.
pub(crate) const MAX_CLOCK_STEP: u64 = 1 << 40;

/// Refuses `e` when its clock steps more than [`MAX_CLOCK_STEP`] above `local`'s.
fn check_step(e: &Entry, local: Option<&IndexRecord>) -> Result<()> {
    let base = local.map_or(0, |r| r.version.clock);
    if e.version.clock > base.saturating_add(MAX_CLOCK_STEP) {
        return Err(Error::InvalidEntry {
            key: crate::storage::printable(&e.key),
            reason: format!(
                "clock {} is more than 2^40 above this node's clock of the key ({base})",
                e.version.clock
            ),
        });
    }
    Ok(())
}

/// The default of `NodeConfig::max_clock_drift`: how far ahead of this node's wall clock a
/// remote timestamp may be.
pub const DEFAULT_MAX_CLOCK_DRIFT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// `drift` as an HLC difference (milliseconds above the counter bits), capped far below overflow.
pub(crate) fn clock_bound_of(drift: std::time::Duration) -> u64 {
    let ms = u64::try_from(drift.as_millis()).unwrap_or(u64::MAX);
    ms.min(1 << 40) << hlc::LOGICAL_BITS
}

/// What [`Replica::apply`](crate::replica::Replica::apply) did with a batch of remote entries.
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
    /// Rejects a remote entry whose version no honest peer can have produced.
    pub(super) fn check_remote(&self, e: &Entry, future_limit: u64, now_ms: u64) -> Result<()> {
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
        if e.expires_at.is_some_and(|at| at > MAX_EXPIRES_AT_MS) {
            return bad(format!(
                "deadline {} ms is past the latest a key may have ({MAX_EXPIRES_AT_MS} ms)",
                e.expires_at.unwrap_or_default()
            ));
        }
        // A put without its value is one the sender judged expired. Honest clocks differ by
        // less than the clock bound, so one whose deadline is further ahead of this node's
        // clock than that came from a clock running ahead (or one that swept too early): it
        // waits, kept below the cursor like any refused entry, until this clock is within the
        // bound of it (or the value arrives from another peer), so no clock further off than
        // the bound makes a key expire early here.
        if let (None, Some(at)) = (&e.value, e.expires_at) {
            let bound_ms = hlc::millis(self.clock_bound());
            if at > now_ms.saturating_add(bound_ms) {
                return bad(format!(
                    "a put sent without its value, as expired, while its deadline is {} ms \
                     ahead of this node's clock (more than max_clock_drift, {bound_ms} ms)",
                    at - now_ms
                ));
            }
        }
        if v.timestamp > future_limit {
            return bad(format!(
                "timestamp {} ms is more than {} ms (max_clock_drift) ahead of this node's clock",
                hlc::millis(v.timestamp),
                hlc::millis(self.clock_bound())
            ));
        }
        Ok(())
    }

    /// [`Store::check_remote`] against this node's clock now: what `apply` would refuse.
    pub(crate) fn check_entry(&self, e: &Entry) -> Result<()> {
        let now_ms = hlc::millis(self.options.clock.reading());
        self.check_remote(e, self.clock_limits().0, now_ms)?;
        check_step(e, self.read_index(&e.key)?.as_ref())
    }

    /// The highest remote timestamp accepted now, and the highest the clock adopts: the wall
    /// clock plus the bound, and plus half of it. Adopting only half keeps this node's own
    /// writes acceptable to every peer whose clock is within half the bound of its own.
    fn clock_limits(&self) -> (u64, u64) {
        let wall = self.options.clock.reading();
        let bound = self.clock_bound();
        (wall.saturating_add(bound), wall.saturating_add(bound / 2))
    }

    /// How far ahead of the wall clock a remote timestamp may be, as an HLC difference.
    pub(crate) fn clock_bound(&self) -> u64 {
        self.clock_bound.load(Ordering::Relaxed)
    }

    /// Sets [`Store::clock_bound`] (`NodeConfig::max_clock_drift`, set by the node).
    pub(crate) fn set_clock_bound(&self, drift: std::time::Duration) {
        self.clock_bound
            .store(clock_bound_of(drift), Ordering::Relaxed);
    }

    /// Applies remote entries (docs/design.md invariants 5 and 6) in one batch.
    pub(crate) fn apply(&self, entries: &[Entry], resolver: &dyn Resolver) -> Result<ApplyReport> {
        let (future_limit, adopt_limit) = self.clock_limits();
        let now_ms = crate::hlc::millis(self.options.clock.reading());
        for e in entries {
            self.check_remote(e, future_limit, now_ms)?;
        }
        // Only a batch with deadlines needs the clock that may drop values.
        let drop_ms = if entries.iter().any(|e| e.expires_at.is_some()) {
            self.drop_clock_ms()
        } else {
            0
        };
        let latest = rocksdb::ReadOptions::default();
        let keys: Vec<&[u8]> = entries.iter().map(|e| e.key.as_slice()).collect();
        let bytes: usize = entries
            .iter()
            .map(|e| batch_bytes(&e.key, e.value.as_deref().unwrap_or_default()))
            .sum();
        let mut state = self.commit.lock();
        // Changes a failed commit staged are never published.
        state.begin();
        // Every local index record with one MultiGet, under the lock.
        let found = self.read_indexes(&keys);
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        // Keys this batch already wrote: their record and value.
        let mut overlay: ApplyOverlay<'_> =
            HashMap::with_capacity_and_hasher(entries.len(), FxBuildHasher);
        let mut report = ApplyReport::default();
        for (e, from_disk) in entries.iter().zip(found) {
            state.hlc.observe(e.version.timestamp.min(adopt_limit));
            if e.op() == Op::Delete
                && crate::sabotage::active(crate::sabotage::Sabotage::DropTombstonesOnApply)
            {
                report.stale += 1;
                continue;
            }
            let local = match overlay.get(e.key.as_slice()) {
                Some(&(rec, _)) => Some(rec),
                None => from_disk?,
            };
            // Nothing of the batch is committed: the batch is dropped with the error.
            check_step(e, local.as_ref())?;
            let remote = Candidate {
                key: &e.key,
                value: e
                    .value
                    .as_deref()
                    .filter(|_| !expired(e.expires_at, now_ms)),
                version: &e.version,
            };
            let verdict = match local {
                None => Outcome::Remote,
                Some(rec) => {
                    let conflict = rec.version.clock == e.version.clock && rec.version != e.version;
                    // The local value is only needed when the resolver will be asked. A put past
                    // its deadline is a candidate without a value (see `Resolver`).
                    let stored;
                    let local_value: Option<&[u8]> = if conflict && rec.op == Op::Put {
                        match overlay.get(e.key.as_slice()) {
                            Some(&(_, v)) => v,
                            None => {
                                stored = self.live_value_reread(&e.key, &rec, now_ms, &latest)?;
                                stored.as_deref()
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
                Outcome::Local => report.stale += 1,
                Outcome::Same => report.duplicate += 1,
                Outcome::Remote => {
                    // A put that arrives well after its deadline (by the clock that may drop
                    // values, `drop_clock_ms`) is stored expired: its value is never written.
                    // Within the grace it keeps its value, for peers a little behind.
                    let value = e
                        .value
                        .as_deref()
                        .filter(|_| !expired(e.expires_at, drop_ms));
                    let record = self.write_entry(
                        &mut state,
                        &mut batch,
                        &e.key,
                        value,
                        e.expires_at,
                        e.version,
                        local,
                    );
                    overlay.insert(&e.key, (record, value));
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
type ApplyOverlay<'a> = HashMap<&'a [u8], (IndexRecord, Option<&'a [u8]>), FxBuildHasher>;
