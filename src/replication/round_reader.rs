//! [`RoundReader`]: one serving round read from one snapshot (invariant 7), as the items the
//! driver sends: byte-bounded batches, then `End` with the snapshot's high sequence.
//!
//! For a puller that knows nothing of us (or whose cursor belongs to another life of this
//! database) the round is every key's live entry in key order; otherwise the log above the
//! cursor ([`SyncSource`] decides). It reads RocksDB, so the driver runs it as a blocking job.

use crate::storage::SyncSource;
use crate::{Db, Entry, Error, NodeId, Result};

/// One item of a round, in sending order.
#[derive(Debug)]
pub(crate) enum RoundItem {
    /// Entries with their local sequences.
    Batch(Vec<(u64, Entry)>),
    /// The round ended: everything up to this sequence was sent; the clock reading taken with
    /// the last sequence before the snapshot (`Message::End::clock`).
    End(u64, u64),
}

/// Reads one round.
pub(crate) struct RoundReader<'a> {
    source: SyncSource<'a>,
    clock: u64,
    batch_bytes: usize,
    done: bool,
}

impl<'a> RoundReader<'a> {
    /// The round above `cursor`, leaving out `held` (the puller's id and the timestamp after
    /// which it holds its own writes), in batches of about `batch_bytes`.
    pub(crate) fn new(
        db: &'a Db,
        cursor: u64,
        held: Option<(NodeId, u64)>,
        batch_bytes: usize,
    ) -> RoundReader<'a> {
        // Taken before the snapshot: every write of this node up to the reading is in it.
        let (_, clock) = db.replica().applied_point();
        RoundReader {
            clock,
            source: db.replica().sync_source(cursor, held),
            batch_bytes,
            done: false,
        }
    }

    /// The next batch, then `End` with the snapshot's high sequence (then an error).
    pub(crate) fn next_item(&mut self) -> Result<RoundItem> {
        if self.done {
            return Err(Error::Io(std::io::Error::other("round ended")));
        }
        let batch = self.source.next_batch(self.batch_bytes)?;
        if batch.is_empty() {
            self.done = true;
            return Ok(RoundItem::End(self.source.high_seq(), self.clock));
        }
        Ok(RoundItem::Batch(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    #[test]
    fn batches_of_the_log_above_the_cursor_then_end_from_one_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        for i in 0..10u8 {
            db.put([b'k', i], [0u8; 100]).unwrap();
        }
        let before = db.replica().applied_point().1;
        let mut reader = RoundReader::new(&db, 4, None, 300);
        // Written after the round started: not in it (one snapshot).
        db.put(b"late", b"x").unwrap();
        let mut seqs = Vec::new();
        let high = loop {
            match reader.next_item().unwrap() {
                RoundItem::Batch(b) => {
                    assert!(
                        !b.is_empty() && b.len() <= 3,
                        "bounded by bytes: {}",
                        b.len()
                    );
                    seqs.extend(b.iter().map(|(s, _)| *s));
                }
                RoundItem::End(high, clock) => {
                    // The reading covers every write in the snapshot, none after it.
                    assert_eq!(clock, before);
                    break high;
                }
            }
        };
        assert!(
            db.replica().applied_point().1 > before,
            "the late write is after it"
        );
        seqs.sort_unstable();
        assert_eq!(seqs, (5..=10).collect::<Vec<u64>>());
        assert_eq!(high, 10);
        assert!(reader.next_item().is_err(), "nothing after End");
    }
}
