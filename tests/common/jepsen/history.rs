//! What clients were told: every operation invoked, and its outcome.

use std::sync::{Arc, Mutex};

use meshkv::Version;

use super::workload::Op;

/// How an operation ended, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged, with the version the write got.
    Ok(Version),
    /// Refused: it must not take effect.
    Fail,
    /// No answer (timeout, the node crashed): it may or may not have taken effect.
    Unknown,
}

impl From<meshkv::Result<Version>> for Outcome {
    /// A library call's result: acknowledged or refused (a local call always answers).
    fn from(result: meshkv::Result<Version>) -> Outcome {
        match result {
            Ok(v) => Outcome::Ok(v),
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
}

/// Every operation of a run, shared by the client threads.
#[derive(Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
}

impl History {
    pub fn record(&self, client: u32, node: usize, op: Op, outcome: Outcome) {
        self.events.lock().unwrap().push(Event {
            client,
            node,
            op,
            outcome,
        });
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}
