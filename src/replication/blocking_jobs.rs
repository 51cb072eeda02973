//! [`BlockingJobs`]: the one seam between async and blocking code. RocksDB work runs here, off
//! the runtime's workers, and is counted, so that shutdown can wait until no job holds the
//! `Db`. In a deterministic simulation the jobs run as tasks of the runtime instead, so their
//! place in the schedule is decided by the simulation's seed, not by a thread pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{Error, Result};

/// Blocking jobs in flight.
#[derive(Debug, Default)]
pub(crate) struct BlockingJobs {
    active: AtomicUsize,
    idle: tokio::sync::Notify,
    /// Run jobs inline on the runtime (`Node::start_simulated`): a simulation runs every task
    /// on one thread, in an order the seed decides.
    inline: bool,
}

/// Decrements the job count when a blocking job ends, however it ends.
struct JobGuard(Arc<BlockingJobs>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl BlockingJobs {
    /// Jobs on tokio's blocking threads, or (`inline`) as tasks of the runtime.
    pub(crate) fn new(inline: bool) -> BlockingJobs {
        BlockingJobs {
            inline,
            ..BlockingJobs::default()
        }
    }

    /// Whether jobs run inline (a simulation).
    pub(crate) fn inline(&self) -> bool {
        self.inline
    }

    /// Starts `f` as a tracked job.
    pub(crate) fn spawn<F, R>(self: &Arc<Self>, f: F) -> tokio::task::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.active.fetch_add(1, Ordering::AcqRel);
        let guard = JobGuard(Arc::clone(self));
        if self.inline {
            return tokio::spawn(async move {
                let _guard = guard;
                f()
            });
        }
        tokio::task::spawn_blocking(move || {
            let _guard = guard;
            f()
        })
    }

    /// Runs `f` as a tracked job and returns its result (a panic in it becomes an error).
    pub(crate) async fn run<F, R>(self: &Arc<Self>, f: F) -> Result<R>
    where
        F: FnOnce() -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(f)
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }

    /// Waits until no job runs (bounded by `limit`).
    pub(crate) async fn drained(&self, limit: Duration) {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}
