//! What a key holds and what travels between nodes: [`Record`], [`Entry`], [`Op`].

use serde::{Deserialize, Serialize};

use crate::Version;

/// The kind of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// The key holds a value.
    Put,
    /// The key was deleted; its tombstone stays (docs/design.md invariant 9).
    Delete,
}

/// A key's current state as [`Db::get_versioned`](crate::Db::get_versioned) returns it: its
/// value, or `None` for a tombstone, with the version of the write that set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The value; `None` when the key's last write was a delete.
    pub value: Option<Vec<u8>>,
    /// The version of the key's last write.
    pub version: Version,
}

impl Record {
    /// True when the key's last write was a delete.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// One write as replication moves it: key, value (or tombstone) and its original version.
///
/// [`Replica::changes_since`](crate::replica::Replica::changes_since) reads them from the log;
/// [`Replica::apply`](crate::replica::Replica::apply) commits them on another node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The user key.
    pub key: Vec<u8>,
    /// The value, or `None` for a delete.
    pub value: Option<Vec<u8>>,
    /// The version given by the node that made the write.
    pub version: Version,
}

impl Entry {
    /// The operation: `Put` with a value, `Delete` without.
    pub fn op(&self) -> Op {
        if self.value.is_some() {
            Op::Put
        } else {
            Op::Delete
        }
    }
}
