//! [`TaskSet`]: the tasks of a node or a listener, reaped as they end, drained on shutdown, and
//! never lost silently: a task that panics or returns an error is recorded as a
//! [`TaskFailure`], which the owner shows in its status.
//!
//! A `JoinSet` keeps a finished task until it is joined; reaping with `try_join_next` and
//! dropping the result (what the node did before) loses a panic. Here every task runs inside a
//! wrapper that catches its panic or its error and records it with the task's name, so the
//! record does not depend on who joins.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::task::JoinSet;

/// A task that ended by a panic or an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFailure {
    /// The task's name (`"accept loop"`, `"discovery"`, ...).
    pub task: String,
    /// Without this task the owner cannot do its job (it is not restarted).
    pub essential: bool,
    /// The panic message or the error.
    pub error: String,
}

/// Failures recorded by a [`TaskSet`], shared with its tasks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Failures(Arc<Mutex<Vec<TaskFailure>>>);

/// At most this many failures are kept (the oldest first): a task that fails in a loop cannot
/// grow the record without bound.
const MAX_FAILURES: usize = 64;

impl Failures {
    /// Records one failure.
    pub(crate) fn record(&self, task: &str, essential: bool, error: String) {
        tracing::error!(task, essential, %error, "task failed");
        let mut all = self.0.lock();
        if all.len() < MAX_FAILURES {
            all.push(TaskFailure {
                task: task.to_string(),
                essential,
                error,
            });
        }
    }

    /// Every failure recorded so far.
    pub(crate) fn list(&self) -> Vec<TaskFailure> {
        self.0.lock().clone()
    }
}

/// Tasks spawned on one runtime, with their failures recorded.
#[derive(Debug)]
pub(crate) struct TaskSet {
    tasks: Mutex<JoinSet<()>>,
    runtime: tokio::runtime::Handle,
    failures: Failures,
}

impl TaskSet {
    /// An empty set spawning on the current runtime.
    pub(crate) fn new() -> Self {
        TaskSet {
            tasks: Mutex::new(JoinSet::new()),
            runtime: tokio::runtime::Handle::current(),
            failures: Failures::default(),
        }
    }

    /// Spawns a task that cannot fail except by panicking; `essential` says whether its owner
    /// is broken without it.
    pub(crate) fn spawn(
        &self,
        name: &'static str,
        essential: bool,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.spawn_fallible(name, essential, task.map(Ok::<(), String>));
    }

    /// Spawns a task whose error is recorded (and logged) when it returns one.
    pub(crate) fn spawn_fallible<E: std::fmt::Display>(
        &self,
        name: &'static str,
        essential: bool,
        task: impl Future<Output = Result<(), E>> + Send + 'static,
    ) {
        let failures = self.failures.clone();
        let wrapped = async move {
            match AssertUnwindSafe(task).catch_unwind().await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.record(name, essential, e.to_string()),
                Err(panic) => failures.record(name, essential, panic_message(&*panic)),
            }
        };
        let mut tasks = self.tasks.lock();
        // Reap what ended: their outcome is already recorded by the wrapper.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(wrapped, &self.runtime);
    }

    /// Failures recorded so far.
    pub(crate) fn failures(&self) -> Vec<TaskFailure> {
        self.failures.list()
    }

    /// Waits for every task to end, at most `within`; then aborts the rest. True if all ended
    /// by themselves.
    pub(crate) async fn drain(&self, within: Duration) -> bool {
        let mut tasks = std::mem::take(&mut *self.tasks.lock());
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(within, all).await.is_ok() {
            return true;
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        false
    }

    /// Aborts every task now (a drop of the owner).
    pub(crate) fn abort_all(&self) {
        self.tasks.lock().abort_all();
    }
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_and_an_error_are_recorded_with_their_names() {
        let set = TaskSet::new();
        set.spawn("quiet", true, async {});
        set.spawn("boom", true, async { panic!("bad input") });
        set.spawn_fallible("fails", false, async { Err::<(), _>("no socket") });
        assert!(set.drain(Duration::from_secs(5)).await);
        let mut failures = set.failures();
        failures.sort_by(|a, b| a.task.cmp(&b.task));
        assert_eq!(
            failures,
            vec![
                TaskFailure {
                    task: "boom".into(),
                    essential: true,
                    error: "panicked: bad input".into()
                },
                TaskFailure {
                    task: "fails".into(),
                    essential: false,
                    error: "no socket".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn drain_aborts_what_does_not_end() {
        let set = TaskSet::new();
        set.spawn("forever", false, std::future::pending());
        assert!(!set.drain(Duration::from_millis(20)).await);
        assert!(
            set.failures().is_empty(),
            "an abort on shutdown is no failure"
        );
    }

    #[test]
    fn the_record_is_bounded() {
        let f = Failures::default();
        for _ in 0..1000 {
            f.record("loop", false, "again".into());
        }
        assert_eq!(f.list().len(), MAX_FAILURES);
    }
}
