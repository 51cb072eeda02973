//! The sweeper thread: runs [`Store::sweep`] steps in the background, removing the values of
//! expired puts (see `storage::expiry`).
//!
//! A step handles at most `Options::sweep_batch` deadlines under the commit lock, so writers
//! wait for one bounded step at most; when more were due the next step follows after a pause
//! as long as the step took (a backlog takes at most half of the commit lock's time),
//! otherwise after `Options::sweep_interval`. The thread holds the store weakly and is joined
//! before the store drops (`Db` keeps the handle in front of it), so closing a database never
//! waits for more than one step and never leaves RocksDB open behind the caller's back. A
//! failed step is recorded (`Db::background_error`), never only logged.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::rocks::Store;

/// The running sweeper; stopped and joined on drop.
pub(crate) struct Sweeper {
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sweeper {
    /// Starts sweeping `store` every `interval`, `batch` deadlines per step.
    pub(crate) fn start(
        store: Weak<Store>,
        interval: Duration,
        batch: usize,
    ) -> std::io::Result<Sweeper> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("meshkv-sweeper".into())
            .spawn(move || {
                let mut wait = interval;
                loop {
                    match rx.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => {}
                        // Stopped (the sender is dropped with the database).
                        _ => return,
                    }
                    let Some(store) = store.upgrade() else { return };
                    let started = std::time::Instant::now();
                    wait = match store.sweep(batch) {
                        // More is due: the next step after a pause as long as this one, so a
                        // backlog never holds the commit lock more than half the time.
                        Ok(step) if step.more => started.elapsed(),
                        Ok(_) => interval,
                        Err(e) => {
                            tracing::warn!(error = %e, "expiry sweep failed");
                            *store.sweep_failure.lock() = Some(format!("expiry sweep failed: {e}"));
                            interval
                        }
                    };
                }
            })?;
        Ok(Sweeper {
            stop: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and waits for it (at most one step).
    pub(crate) fn stop(&self) {
        drop(self.stop.lock().take());
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.stop();
    }
}
