//! Durable leases for the sequence counter and the clock.
//!
//! Invariant 4 (the sequence never goes back) must hold across power loss too, and in
//! `Durability::Buffered` mode the unsynced tail of the write-ahead log is lost in a power cut.
//! If a peer pulled sequence `N` from memory before that, and the reopened database handed `N`
//! out again for another write, the peer — whose cursor already passed `N` — would never pull it.
//!
//! So `meta` holds two leases, each above every value handed out:
//! - `seq_lease`: every committed sequence is below it; the database reopens at
//!   `max(last log key + 1, seq_lease)`.
//! - `hlc_lease`: every timestamp handed out is at most it; the clock restarts above it.
//!
//! A commit that comes within the *headroom* of a lease writes an extended lease in its own batch
//! (cheap, unsynced) and asks the syncer thread to fsync the write-ahead log in the background
//! (RocksDB's `FlushWAL(sync)`, which runs alongside writers). Only when a commit would go past
//! the lease that is known *durable* — the syncer fell a whole headroom behind — is that commit
//! written with fsync itself. In practice writers never wait: one background fsync per
//! `SEQ_HEADROOM` sequences and about one per second of clock time.
//!
//! The syncer thread holds the database (not the store) and is joined when the store drops, so
//! the folder is unlocked when the last `Db` handle is gone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use rocksdb::DB;

use crate::hlc;

/// Sequences one lease extension covers.
pub(crate) const SEQ_LEASE_AHEAD: u64 = 1 << 20;
/// Extend the sequence lease when fewer than this many sequences are left under it.
pub(crate) const SEQ_HEADROOM: u64 = 1 << 19;
/// Clock time one lease extension covers: 2 s.
pub(crate) const HLC_LEASE_AHEAD: u64 = 2_000 << hlc::LOGICAL_BITS;
/// Extend the clock lease when less than this much clock time is left under it: 1 s.
pub(crate) const HLC_HEADROOM: u64 = 1_000 << hlc::LOGICAL_BITS;

/// Lease values: above every sequence / timestamp handed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeaseValues {
    pub(crate) seq: u64,
    pub(crate) hlc: u64,
}

impl LeaseValues {
    fn max(self, other: LeaseValues) -> LeaseValues {
        LeaseValues {
            seq: self.seq.max(other.seq),
            hlc: self.hlc.max(other.hlc),
        }
    }

    /// True when these leases cover sequences below `next_seq` and timestamps up to `hlc`.
    pub(crate) fn covers(&self, next_seq: u64, hlc: u64) -> bool {
        next_seq <= self.seq && hlc <= self.hlc
    }
}

/// The leases known durable, and the background syncer that makes written leases durable.
pub(crate) struct Leases {
    durable: Arc<Mutex<LeaseValues>>,
    /// The syncer's last failure, if any: shown by `Db::background_error`, never only logged.
    failure: Arc<Mutex<Option<String>>>,
    /// Bumped when the clock lease is lowered: a sync requested before then must not raise the
    /// durable record back to a lease that is no longer on disk.
    generation: Arc<AtomicU64>,
    requests: Mutex<Option<Sender<(LeaseValues, u64)>>>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

impl Leases {
    /// Starts the syncer for `db`, with `durable` the leases read at open (they are on disk).
    pub(crate) fn start(db: Arc<DB>, durable: LeaseValues) -> std::io::Result<Leases> {
        let shared = Arc::new(Mutex::new(durable));
        let (tx, rx) = mpsc::channel::<(LeaseValues, u64)>();
        let done = Arc::clone(&shared);
        let generation = Arc::new(AtomicU64::new(0));
        let current = Arc::clone(&generation);
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::clone(&failure);
        let syncer = std::thread::Builder::new()
            .name("meshkv-lease-sync".into())
            .spawn(move || {
                while let Ok((mut want, mut gen)) = rx.recv() {
                    // Requests that queued up during the last fsync are covered by one more.
                    while let Ok((more, more_gen)) = rx.try_recv() {
                        if more_gen > gen {
                            (want, gen) = (more, more_gen);
                        } else if more_gen == gen {
                            want = want.max(more);
                        }
                    }
                    match db.flush_wal(true) {
                        Ok(()) => {
                            let mut d = done.lock();
                            if gen == current.load(Ordering::Acquire) {
                                *d = d.max(want);
                            }
                        }
                        // Writers fall back to synced commits past the durable lease; nothing
                        // is lost, only speed.
                        Err(e) => {
                            tracing::warn!(error = %e, "lease fsync failed");
                            *failed.lock() = Some(format!("lease fsync failed: {e}"));
                        }
                    }
                }
            })?;
        Ok(Leases {
            durable: shared,
            failure,
            generation,
            requests: Mutex::new(Some(tx)),
            syncer: Mutex::new(Some(syncer)),
        })
    }

    /// The leases known to be on disk.
    pub(crate) fn durable(&self) -> LeaseValues {
        *self.durable.lock()
    }

    /// The syncer's last failure, if it ever failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// Records leases made durable by a synced commit.
    pub(crate) fn mark_durable(&self, values: LeaseValues) {
        let mut d = self.durable.lock();
        *d = d.max(values);
    }

    /// Asks the syncer to make `values` (already written) durable.
    pub(crate) fn request_sync(&self, values: LeaseValues) {
        if let Some(tx) = self.requests.lock().as_ref() {
            let _ = tx.send((values, self.generation.load(Ordering::Acquire)));
        }
    }

    /// Records that the clock lease on disk was lowered to `hlc` (synced by the caller), so
    /// that commits past it sync again; pending syncs of the old lease no longer count.
    pub(crate) fn lower_hlc(&self, hlc: u64) {
        let mut d = self.durable.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        d.hlc = hlc;
    }

    /// Stops the syncer and waits for it (it releases its database handle).
    pub(crate) fn stop(&self) {
        drop(self.requests.lock().take());
        if let Some(handle) = self.syncer.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_means_strictly_below_the_sequence_lease() {
        let l = LeaseValues { seq: 10, hlc: 100 };
        assert!(l.covers(10, 100));
        assert!(!l.covers(11, 100));
        assert!(!l.covers(5, 101));
    }
}
