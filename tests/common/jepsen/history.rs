//! What clients were told: every operation invoked, its outcome, and when it ran by its node's
//! clock (what a deadline it set is made of).

use std::sync::{Arc, Mutex};

use meshkv::Version;

use super::workload::Op;

/// How an operation ended, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged, with the version the write got.
    Ok(Version),
    /// Answered without a write: an expire or a persist of a key that held no live value on
    /// that node (`Ok(None)`, HTTP 404). It must not take effect, as a refusal.
    NoEffect,
    /// Refused: it must not take effect.
    Fail,
    /// No answer (timeout, the node crashed): it may or may not have taken effect.
    Unknown,
}

impl From<meshkv::Result<Option<Version>>> for Outcome {
    /// A library call's result: acknowledged, answered without a write, or refused (a local
    /// call always answers).
    fn from(result: meshkv::Result<Option<Version>>) -> Outcome {
        match result {
            Ok(Some(v)) => Outcome::Ok(v),
            Ok(None) => Outcome::NoEffect,
            Err(_) => Outcome::Fail,
        }
    }
}

/// One operation and its outcome.
#[derive(Clone, Debug)]
pub struct Event {
    pub client: u32,
    /// The node the client sent it to.
    pub node: usize,
    pub op: Op,
    pub outcome: Outcome,
    /// The node's clock (ms since the Unix epoch) when the operation was invoked and when its
    /// answer came (or the client gave up): a deadline it set is its TTL after a reading in
    /// between. An operation without an answer may have run at any time after its invocation.
    pub clock: (u64, u64),
}

impl Event {
    /// The deadlines (ms, inclusive) this operation can have set if it took effect: `None`
    /// for an operation that sets none (a put, a delete, a persist). An unanswered one may
    /// have run any time after its invocation.
    pub fn deadline_window(&self) -> Option<(u64, u64)> {
        let ttl = self.op.ttl()?;
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let late = match self.outcome {
            Outcome::Unknown => u64::MAX,
            _ => self.clock.1.saturating_add(ms),
        };
        Some((self.clock.0.saturating_add(ms), late))
    }
}

/// Every operation of a run, shared by the client threads.
#[derive(Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
}

impl History {
    /// Records one operation: its outcome and its node's clock before and after it.
    pub fn record(&self, client: u32, node: usize, op: Op, outcome: Outcome, clock: (u64, u64)) {
        self.events.lock().unwrap().push(Event {
            client,
            node,
            op,
            outcome,
            clock,
        });
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}
