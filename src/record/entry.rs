//! What a key holds and what travels between nodes: [`Record`], [`Entry`], [`Op`].
//!
//! A put may carry a deadline, `expires_at`: milliseconds since the Unix epoch, part of the
//! write like its value (setting, changing or removing it is a write with its own version).
//! Whether a record has expired is a pure function of the record and the reading node's clock
//! ([`expired`]): a put is absent from every read once that clock reaches its deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// value, or `None` for a tombstone or an expired put, with the version of the write that set
/// it and that write's deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The value; `None` when the key's last write was a delete, or a put past its deadline.
    pub value: Option<Vec<u8>>,
    /// The version of the key's last write.
    pub version: Version,
    /// The deadline of the key's last write, if it was a put with one.
    pub expires_at: Option<SystemTime>,
    /// True when the last write was a put whose deadline this node's clock has reached: the
    /// key reads as absent (`value` is `None`).
    pub expired: bool,
}

impl Record {
    /// True when the key's last write was a delete (an expired put is not a tombstone: see
    /// [`Record::expired`]).
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none() && !self.expired
    }

    /// True when the key holds a live value.
    pub fn is_live(&self) -> bool {
        self.value.is_some()
    }
}

/// A key's expiry as [`Db::expiry`](crate::Db::expiry) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The key holds no live value (never written, deleted, or expired).
    Missing,
    /// The key holds a live value without a deadline.
    Never,
    /// The key holds a live value until this deadline.
    At(SystemTime),
}

/// Whether a put with deadline `expires_at` (ms since the Unix epoch) has expired at `now_ms`:
/// a deadline is reached at its own millisecond (as Redis: a key whose deadline is now is gone).
pub fn expired(expires_at: Option<u64>, now_ms: u64) -> bool {
    expires_at.is_some_and(|at| at <= now_ms)
}

/// A deadline in milliseconds since the Unix epoch as a `SystemTime` (deadlines are at most
/// 2^48 ms, far inside `SystemTime`'s range).
pub fn deadline_time(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

/// A `SystemTime` as milliseconds since the Unix epoch: 0 before it, saturating far after.
pub fn deadline_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One write as replication moves it: key, value (or tombstone), deadline and its original
/// version.
///
/// [`Replica::changes_since`](crate::replica::Replica::changes_since) reads them from the log;
/// [`Replica::apply`](crate::replica::Replica::apply) commits them on another node. A put past
/// its deadline travels without its value (`value: None`, `expires_at: Some`): the reader's
/// node already judged it expired, and every node that learns of it learns that it expired.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The user key.
    pub key: Vec<u8>,
    /// The value, or `None` for a delete or an expired put.
    pub value: Option<Vec<u8>>,
    /// The version given by the node that made the write.
    pub version: Version,
    /// A put's deadline, milliseconds since the Unix epoch; `None` for a put without one and
    /// for a delete.
    pub expires_at: Option<u64>,
}

impl Entry {
    /// A put of `value` without a deadline.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>, version: Version) -> Entry {
        Entry {
            key: key.into(),
            value: Some(value.into()),
            version,
            expires_at: None,
        }
    }

    /// A delete (tombstone).
    pub fn delete(key: impl Into<Vec<u8>>, version: Version) -> Entry {
        Entry {
            key: key.into(),
            value: None,
            version,
            expires_at: None,
        }
    }

    /// The operation: `Put` with a value or a deadline (an expired put), `Delete` otherwise.
    pub fn op(&self) -> Op {
        if self.value.is_some() || self.expires_at.is_some() {
            Op::Put
        } else {
            Op::Delete
        }
    }
}
