//! [`Shutdown`]: one stop signal fanned out to every task of a node or a listener
//! (mini-redis's pattern): the owner flips it once; every task selects on [`stopped`] and ends.

use tokio::sync::watch;

/// The sending side of a stop signal.
#[derive(Debug)]
pub struct Shutdown(watch::Sender<bool>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(watch::channel(false).0)
    }
}

impl Shutdown {
    /// A new signal, not yet given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the signal: every receiver's [`stopped`] resolves.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }

    /// Whether the signal was given.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// A receiver for a task.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Resolves once the signal is given (or its sender is gone). Cancel-safe.
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
