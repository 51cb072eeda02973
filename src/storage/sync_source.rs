//! [`SyncSource`]: what one pull round reads, the one decision between the two read paths.
//!
//! A cursor of 0 (a peer that knows nothing of this database), or one above everything this
//! database has committed (a cursor from another life of its folder), gets a full sync: every
//! key's live entry in key order ([`FullSync`], sequential reads). Any other cursor gets the log
//! above it, newest first ([`Changes`]). Either way the round reads one snapshot, leaves out
//! what the puller holds (`skip_held`, the no-echo rule) and ends at the snapshot's high
//! sequence.

use super::changes::Changes;
use super::full_sync::FullSync;
use super::rocks::Store;
use crate::{Entry, NodeId, Result};

/// The entries of one pull round, from one snapshot, in byte-bounded batches.
pub struct SyncSource<'a> {
    reader: Reader<'a>,
}

enum Reader<'a> {
    Log(Changes<'a>),
    Full(FullSync<'a>),
}

impl<'a> SyncSource<'a> {
    /// The round for a puller at `cursor`; `held`: the puller's node id and the clock reading
    /// above which it holds its own writes.
    pub(crate) fn open(store: &'a Store, cursor: u64, held: Option<(NodeId, u64)>) -> Self {
        let mut changes = Changes::new(store, cursor);
        let reader = if cursor == 0 || changes.cursor_ahead() {
            drop(changes);
            let mut full = FullSync::new(store);
            if let Some((node, after)) = held {
                full = full.skip_held(node, after);
            }
            Reader::Full(full)
        } else {
            if let Some((node, after)) = held {
                changes = changes.skip_held(node, after);
            }
            Reader::Log(changes)
        };
        SyncSource { reader }
    }

    /// The snapshot's high sequence: the puller's next cursor once it committed the round.
    pub fn high_seq(&self) -> u64 {
        match &self.reader {
            Reader::Log(c) => c.high_seq(),
            Reader::Full(f) => f.high_seq(),
        }
    }

    /// The next entries within `max_bytes` (at least one when any is left); empty at the end.
    pub fn next_batch(&mut self, max_bytes: usize) -> Result<Vec<(u64, Entry)>> {
        match &mut self.reader {
            Reader::Log(c) => c.next_batch(max_bytes),
            Reader::Full(f) => f.next_batch(max_bytes),
        }
    }
}
