//! The members task: every [`SUMMARY_EVERY`] heartbeat intervals it declares silent members gone
//! (`NodeConfig::member_timeout`), stores the member records that changed (all of them, with
//! their last-heard times, every [`FLUSH_EVERY`] intervals), and publishes this node's summary
//! for the listener to send: its applied frontier and member rows, captured *before* a sync of
//! the write-ahead log, so that what it claims survives a power cut (`replication::members`).
//! The decisions are `Members`'; this task only moves them to disk and to the listener.

use std::sync::Arc;

use super::node::Shared;
use crate::net::{stopped, Transport};
use crate::{Durability, Result};

/// The task runs every this many heartbeat intervals: each run may sync the write-ahead log
/// (when something was committed since the last), and a summary's freshness only matters to a
/// decommission's check and to collection, which can wait seconds.
pub(super) const SUMMARY_EVERY: u32 = 5;

/// Every this many runs, every member record is written (last-heard times).
const FLUSH_EVERY: u64 = 10;

/// Runs until the node stops; a failure is logged, shown in the status and retried next time.
pub(super) async fn run<T: Transport>(shared: Arc<Shared<T>>) {
    let interval = shared.config.heartbeat_interval * SUMMARY_EVERY;
    let mut shutdown = shared.shutdown.subscribe();
    let mut synced_through = None;
    let mut tick: u64 = 0;
    loop {
        match step(&shared, tick, &mut synced_through).await {
            Ok(()) => *shared.members_error.lock() = None,
            Err(e) => {
                tracing::warn!(error = %e, "could not store member records or sync the log; retrying");
                *shared.members_error.lock() = Some(e.to_string());
            }
        }
        tick = tick.wrapping_add(1);
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    // Last-heard times survive a clean stop.
    let records = shared.members.lock().all_records();
    let db = shared.db.clone();
    if let Err(e) = shared
        .jobs
        .run(move || db.replica().put_members(&records, &[]))
        .await
    {
        tracing::warn!(error = %e, "could not store member records at shutdown");
    }
}

/// One interval's work.
async fn step<T: Transport>(
    shared: &Arc<Shared<T>>,
    tick: u64,
    synced_through: &mut Option<u64>,
) -> Result<()> {
    let now_ms = shared.wall_ms();
    if let Some(timeout) = shared.config.member_timeout {
        for id in shared.members.lock().expire(now_ms, timeout) {
            tracing::warn!(node = %id, ?timeout, "member silent for longer than member_timeout: declared gone");
        }
    }
    // The point is read after the frontier is locked: whatever the frontier holds was merged
    // after its entries were committed, so at or below `through`.
    let (through, summary) = {
        let members = shared.members.lock();
        let (through, clock) = shared.db.replica().applied_point();
        (through, members.summary(through, clock, now_ms))
    };
    let (mut records, mut forget) = shared.members.lock().take_writes();
    if tick % FLUSH_EVERY == 0 {
        // Everything again: last-heard times, and the cursors of every decommissioned member
        // (one stored by an applier racing the decommission goes here).
        let members = shared.members.lock();
        records = members.all_records();
        forget = members.decommissioned().into_iter().collect();
    }
    // Not under `Durability::Sync` (every commit is synced), nor in a simulation, whose crashes
    // are process crashes that keep the log's tail (docs/design.md, **Determinism rules**).
    let sync = shared.db.options().durability != Durability::Sync
        && !shared.jobs.inline()
        && *synced_through != Some(through);
    let db = shared.db.clone();
    shared
        .jobs
        .run(move || {
            let replica = db.replica();
            if !records.is_empty() || !forget.is_empty() {
                replica.put_members(&records, &forget)?;
            }
            if sync {
                replica.sync_wal()?;
            }
            Ok(())
        })
        .await?;
    *synced_through = Some(through);
    let mut published = shared.summary.lock();
    *published = (published.0 + 1, Arc::new(summary));
    Ok(())
}
