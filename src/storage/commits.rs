//! [`Commits`]: a wake-up for tasks that wait for new writes (replication's serving side).
//!
//! Each commit stores the database's last sequence, then, when anyone subscribed, wakes every
//! waiter through one `tokio::sync::Notify`. A `Commits` remembers the last sequence it reported;
//! [`Commits::changed`] returns as soon as the database's last sequence is above it. It is
//! cancel-safe (no commit is missed when a `select!` drops it: the sequence, not the wake-up,
//! is the state) and deterministic: waiters wake in the order they started waiting, with no
//! random choice (unlike `tokio::sync::watch`, whose waiters are spread over randomly chosen
//! slots), so a simulation that replays a seed replays the same schedule.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::Db;

/// The commit side: the wake-up and the number of subscribers (writers skip the wake-up while
/// there are none).
#[derive(Debug, Default)]
pub(crate) struct CommitSignal {
    notify: Notify,
    subscribers: AtomicUsize,
}

impl CommitSignal {
    /// Wakes every waiting [`Commits`]; call after storing the new last sequence.
    pub(crate) fn committed(&self) {
        if self.subscribers.load(Ordering::Acquire) > 0 {
            self.notify.notify_waiters();
        }
    }
}

/// Waits for commits that raise a database's last sequence. From
/// [`Replica::subscribe_commits`](crate::replica::Replica::subscribe_commits).
pub struct Commits {
    db: Db,
    seen: u64,
}

impl Commits {
    pub(crate) fn new(db: Db) -> Commits {
        db.store()
            .commit_signal
            .subscribers
            .fetch_add(1, Ordering::AcqRel);
        let seen = db.last_seq();
        Commits { db, seen }
    }

    /// Returns once the database's last sequence is above the one this last reported (or the
    /// one at subscription), and reports the new one.
    pub async fn changed(&mut self) -> u64 {
        let signal = &self.db.store().commit_signal;
        loop {
            let notified = signal.notify.notified();
            tokio::pin!(notified);
            // Registered before the check: a commit between the check and the wait wakes it.
            notified.as_mut().enable();
            let now = self.db.last_seq();
            if now > self.seen {
                self.seen = now;
                return now;
            }
            notified.await;
        }
    }

    /// The last sequence reported.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

impl Drop for Commits {
    fn drop(&mut self) {
        self.db
            .store()
            .commit_signal
            .subscribers
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Commits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commits").field("seen", &self.seen).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_on_commit_and_misses_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), crate::Options::default()).unwrap();
        db.put(b"a", b"1").unwrap();
        let mut commits = db.replica().subscribe_commits();
        assert_eq!(commits.seen(), 1);
        // Nothing new: it waits.
        let waited = tokio::time::timeout(Duration::from_millis(50), commits.changed()).await;
        assert!(waited.is_err());
        // A commit while nobody waits is still reported (the sequence is the state).
        db.put(b"b", b"2").unwrap();
        assert_eq!(commits.changed().await, 2);
        // A commit from another thread wakes a waiting task.
        let writer = db.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.put(b"c", b"3").unwrap();
        });
        let got = tokio::time::timeout(Duration::from_secs(5), commits.changed()).await;
        assert_eq!(got.unwrap(), 3);
        t.join().unwrap();
        drop(commits);
        assert_eq!(
            db.store().commit_signal.subscribers.load(Ordering::Acquire),
            0
        );
    }
}
