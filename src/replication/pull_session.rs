//! [`PullSession`]: the pulling side of one connection, after the handshake, without I/O.
//!
//! The driver (`puller`) feeds it what arrives and the time, and does what it returns: send the
//! `Pull` it built, hand [`Work`] to the applier, record the peer's position, send heartbeats,
//! close on its errors. The session decides:
//! - what the `Pull` carries: the stored cursor with its incarnation and the listener's proof
//!   of both, and `skip_own_after` (the listener leaves out this node's own writes that it
//!   still holds: no echo);
//! - that batches and `End` go to the applier in arrival order, and that only an `End` yields a
//!   cursor to store (invariant 8: the cursor moves only after the round's batches are
//!   committed, because the applier takes work in order);
//! - backpressure: while a piece of work waits for the applier, nothing more is read (at most
//!   the applier's queue plus one batch wait in memory) and the dead-peer deadline is suspended;
//!   heartbeats still go out so the peer does not give up on us;
//! - which messages are refused: anything but `Batch`, `End`, `Heartbeat` and `Members` (at
//!   most [`MAX_MEMBERS`](super::members::MAX_MEMBERS) rows and origins) closes the
//!   connection; a `Members` message's frontier goes to the applier in order, after the `End`
//!   before it, and its rows to the driver;
//! - how the session ends: cleanly only when the peer closed and everything before was applied.
//!
//! [`apply_batch`] and [`Refusals`] are the applier's rules for entries this node cannot apply:
//! they are found, reported, kept below the cursor and pulled again; never passed over.

use std::time::Instant;

use super::liveness::Liveness;
use super::message::Message;
use crate::{ApplyReport, Entry, Error, PeerCursor, Result};

/// Work for the applier of a pulling connection, in arrival order.
#[derive(Debug, PartialEq)]
pub(crate) enum Work {
    /// Entries to apply.
    Batch(Vec<(u64, Entry)>),
    /// The round ended: store this cursor once everything before it is applied; with no entry
    /// refused, the dialer then holds the peer's own writes up to `clock` (`Message::End`).
    End(PeerCursor, u64),
    /// The peer's applied frontier, captured at its sequence `through`: merged once the
    /// cursor stored for it covers `through` (`members::FrontierGate`).
    Frontier {
        /// The peer's last committed sequence when it captured the vector.
        through: u64,
        /// The vector.
        applied: Vec<(crate::NodeId, u64)>,
    },
    /// The peer closed the connection: stop once everything before is applied.
    Close,
}

/// What a message means for the driver, besides work for the applier (see
/// [`PullSession::take_work`]).
#[derive(Debug, PartialEq)]
pub(crate) enum Pulled {
    /// Nothing to do but read on (or deliver the work now pending).
    Nothing,
    /// The peer's heartbeat: its last committed sequence and its wall clock (ms) when it sent
    /// it.
    PeerAt {
        /// Its last committed sequence.
        last_seq: u64,
        /// Its wall clock.
        clock_ms: u64,
    },
    /// The peer's member rows (its frontier went to the applier as work).
    Members(Vec<super::members::MemberRow>),
}

/// The state of one pulling connection.
#[derive(Debug)]
pub(crate) struct PullSession {
    peer: String,
    liveness: Liveness,
    /// Work read but not yet taken by the applier: reading stops until it is.
    pending: Option<Work>,
    /// The peer closed the connection.
    closing: bool,
}

impl PullSession {
    /// A session with `peer` that starts at `now`, with heartbeats every `interval`.
    pub(crate) fn new(peer: &str, interval: std::time::Duration, now: Instant) -> PullSession {
        PullSession {
            peer: peer.to_string(),
            liveness: Liveness::new(interval, now),
            pending: None,
            closing: false,
        }
    }

    /// The request that opens the session: everything above the `stored` cursor, leaving out
    /// this node's own writes after `skip_own_after`, which it holds.
    pub(crate) fn request(stored: Option<PeerCursor>, skip_own_after: Option<u64>) -> Message {
        Message::Pull {
            cursor: stored.map(|c| c.seq),
            skip_own_after,
            cursor_incarnation: stored.map(|c| c.incarnation),
            cursor_proof: stored.and_then(|c| c.proof),
        }
    }

    /// Whether the driver should read the next message.
    pub(crate) fn wants_read(&self) -> bool {
        self.pending.is_none() && !self.closing
    }

    /// Whether work waits for the applier.
    pub(crate) fn has_work(&self) -> bool {
        self.pending.is_some()
    }

    /// The applier took the pending work at `now`; reading resumes.
    pub(crate) fn take_work(&mut self, now: Instant) -> Option<Work> {
        let work = self.pending.take();
        if work.is_some() {
            self.liveness.resumed(now);
        }
        work
    }

    /// A message (`None`: the peer closed the connection) arrived at `now`.
    pub(crate) fn on_message(&mut self, now: Instant, msg: Option<Message>) -> Result<Pulled> {
        self.liveness.received(now);
        let work = match msg {
            None => {
                self.closing = true;
                Work::Close
            }
            Some(Message::Batch { entries }) => Work::Batch(entries),
            Some(Message::End {
                high_seq,
                incarnation,
                proof,
                clock,
            }) => Work::End(
                PeerCursor {
                    seq: high_seq,
                    incarnation,
                    proof: Some(proof),
                },
                clock,
            ),
            Some(Message::Heartbeat { last_seq, clock_ms }) => {
                return Ok(Pulled::PeerAt { last_seq, clock_ms })
            }
            Some(Message::Members {
                through,
                applied,
                members,
            }) => {
                let max = super::members::MAX_MEMBERS;
                if applied.len() > max || members.len() > max {
                    return Err(Error::Protocol {
                        peer: self.peer.clone(),
                        detail: format!(
                            "a member summary of {} rows and {} origins (at most {max} each)",
                            members.len(),
                            applied.len()
                        ),
                    });
                }
                self.pending = Some(Work::Frontier { through, applied });
                return Ok(Pulled::Members(members));
            }
            Some(other) => {
                return Err(Error::Protocol {
                    peer: self.peer.clone(),
                    detail: format!("unexpected {} while pulling", other.kind()),
                })
            }
        };
        self.pending = Some(work);
        Ok(Pulled::Nothing)
    }

    /// When the next heartbeat is due; `None` once the peer closed.
    pub(crate) fn heartbeat_due(&self) -> Option<Instant> {
        (!self.closing).then(|| self.liveness.beat_due())
    }

    /// A heartbeat was sent at `now`.
    pub(crate) fn heartbeat_sent(&mut self, now: Instant) {
        self.liveness.beat_sent(now);
    }

    /// How long a send may take before the peer is presumed dead.
    pub(crate) fn send_limit(&self) -> std::time::Duration {
        self.liveness.dead_after()
    }

    /// When a silent peer is presumed dead: only while reading (backpressure suspends it).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.wants_read().then(|| self.liveness.deadline())
    }

    /// The error to close with when [`PullSession::deadline`] passed.
    pub(crate) fn silent(&self) -> Error {
        self.liveness.silent(&self.peer)
    }

    /// The applier ended (`None`: it panicked or was stopped): how the session ends.
    pub(crate) fn applier_ended(&self, outcome: Option<Result<()>>) -> Result<()> {
        match outcome {
            // The peer closed the connection and everything it sent is applied.
            Some(Ok(())) if self.closing => Ok(()),
            Some(Err(e)) => Err(e),
            _ => Err(Error::Protocol {
                peer: self.peer.clone(),
                detail: "the applier stopped".into(),
            }),
        }
    }
}

/// Errors that one entry from a peer can cause in `apply`, which rejects its whole batch.
pub(crate) fn entry_is_invalid(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidEntry { .. }
            | Error::KeyTooLarge { .. }
            | Error::ValueTooLarge { .. }
            | Error::EmptyKey
    )
}

/// What applying one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Entries that won and were committed.
    pub(crate) applied: u64,
    /// Entries refused (this node cannot apply them now); they are pulled again later.
    pub(crate) refused: u64,
    /// The lowest sequence (on the peer) of a refused entry.
    pub(crate) lowest_refused: Option<u64>,
    /// Why the last refused entry was refused.
    pub(crate) reason: Option<String>,
}

/// Applies a batch with `apply`. When one entry makes it refuse the batch, `check` finds the
/// refused entries and the others are applied together (one commit, not one per entry); the
/// refused ones are reported with their sequences, so that the cursor never passes them
/// ([`Refusals`]). Any other error ends the session.
pub(crate) fn apply_batch(
    entries: Vec<(u64, Entry)>,
    check: impl Fn(&Entry) -> Result<()>,
    mut apply: impl FnMut(&[Entry]) -> Result<ApplyReport>,
) -> Result<Applied> {
    let (seqs, all): (Vec<u64>, Vec<Entry>) = entries.into_iter().unzip();
    match apply(&all) {
        Ok(report) => Ok(Applied {
            applied: report.applied,
            ..Applied::default()
        }),
        Err(e) if entry_is_invalid(&e) => {
            let mut out = Applied::default();
            let mut valid = Vec::with_capacity(all.len());
            for (seq, entry) in seqs.into_iter().zip(all) {
                match check(&entry) {
                    Ok(()) => valid.push(entry),
                    Err(e) if entry_is_invalid(&e) => {
                        tracing::warn!(seq, error = %e, "refused an entry from a peer; it will be pulled again");
                        out.refused += 1;
                        out.lowest_refused = Some(out.lowest_refused.map_or(seq, |l| l.min(seq)));
                        out.reason = Some(e.to_string());
                    }
                    Err(e) => return Err(e),
                }
            }
            if !valid.is_empty() {
                out.applied = apply(&valid)?.applied;
            }
            Ok(out)
        }
        Err(e) => Err(e),
    }
}

/// After how many heartbeat intervals a session with refused entries ends, so that the next one
/// pulls them again from the capped cursor.
pub(crate) const RETRY_AFTER_BEATS: u32 = 10;

/// The entries a session refused: they keep the cursor below them, and make the session end for
/// a retry after [`RETRY_AFTER_BEATS`] intervals.
///
/// A round sends every entry above the cursor (incremental: the log above it; full sync: every
/// key's live entry), so when the lowest refused entry has sequence `s`, every entry below `s`
/// was applied: `s - 1` is a valid cursor, and the next session pulls everything above it again,
/// the refused entries included. Nothing is passed over, ever.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    lowest: Option<u64>,
    pending: u64,
    since: Option<Instant>,
    reason: Option<String>,
}

impl Refusals {
    /// Records what one batch refused, at `now`.
    pub(crate) fn record(&mut self, applied: &Applied, now: Instant) {
        let Some(low) = applied.lowest_refused else {
            return;
        };
        self.lowest = Some(self.lowest.map_or(low, |l| l.min(low)));
        self.pending += applied.refused;
        self.since.get_or_insert(now);
        self.reason.clone_from(&applied.reason);
    }

    /// Entries refused in this session.
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    /// The cursor to store for a round that ended at `end`: `end` itself, or just below the
    /// lowest refused entry. A capped cursor carries no proof (the peer proved `end`, not it).
    pub(crate) fn cursor_to_store(&self, end: PeerCursor) -> PeerCursor {
        match self.lowest {
            Some(low) if low <= end.seq => PeerCursor {
                seq: low.saturating_sub(1),
                incarnation: end.incarnation,
                proof: None,
            },
            _ => end,
        }
    }

    /// When the session should end so that the refused entries are pulled again.
    pub(crate) fn retry_at(&self, interval: std::time::Duration) -> Option<Instant> {
        self.since.map(|t| t + interval * RETRY_AFTER_BEATS)
    }

    /// The error that ends the session for the retry.
    pub(crate) fn retry(&self, peer: &str) -> Error {
        Error::Protocol {
            peer: peer.to_string(),
            detail: format!(
                "{} entries refused ({}); pulling them again from sequence {}",
                self.pending,
                self.reason.as_deref().unwrap_or("?"),
                self.lowest.map_or(0, |l| l.saturating_sub(1))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{NodeId, Version};

    const BEAT: Duration = Duration::from_secs(1);

    fn entry(key: &str) -> Entry {
        Entry {
            key: key.as_bytes().to_vec(),
            value: Some(b"v".to_vec()),
            version: Version {
                clock: 1,
                timestamp: 1,
                origin: NodeId([7; 16]),
            },
            expires_at: None,
        }
    }

    fn batch(keys: &[&str]) -> Message {
        Message::Batch {
            entries: keys
                .iter()
                .enumerate()
                .map(|(i, k)| (i as u64 + 1, entry(k)))
                .collect(),
        }
    }

    #[test]
    fn the_request_carries_the_cursor_its_incarnation_and_skip_own_after() {
        let stored = PeerCursor {
            seq: 42,
            incarnation: 3,
            proof: Some([8; 32]),
        };
        let legacy = PeerCursor {
            proof: None,
            ..stored
        };
        let cases = [
            (None, None, (None, None, None, None)),
            (Some(stored), None, (Some(42), None, Some(3), Some([8; 32]))),
            (
                Some(stored),
                Some(99),
                (Some(42), Some(99), Some(3), Some([8; 32])),
            ),
            (Some(legacy), None, (Some(42), None, Some(3), None)),
            (None, Some(99), (None, Some(99), None, None)),
        ];
        for (stored, skip, (cursor, skip_own_after, incarnation, proof)) in cases {
            assert_eq!(
                PullSession::request(stored, skip),
                Message::Pull {
                    cursor,
                    skip_own_after,
                    cursor_incarnation: incarnation,
                    cursor_proof: proof,
                }
            );
        }
    }

    /// Golden: what a round's messages become, in order; only `End` yields a cursor.
    #[test]
    fn batches_then_end_reach_the_applier_in_order_and_only_end_moves_the_cursor() {
        let t0 = Instant::now();
        let mut s = PullSession::new("peer", BEAT, t0);
        let round = [
            Some(Message::Heartbeat {
                last_seq: 9,
                clock_ms: 0,
            }),
            Some(batch(&["a", "b"])),
            Some(batch(&["c"])),
            Some(Message::End {
                high_seq: 9,
                incarnation: 2,
                proof: [1; 32],
                clock: 5,
            }),
            Some(Message::Members {
                through: 9,
                applied: vec![(crate::NodeId([3; 16]), 77)],
                members: vec![],
            }),
            None,
        ];
        let mut work = Vec::new();
        let mut peer_at = Vec::new();
        let mut rows = 0;
        for msg in round {
            assert!(s.wants_read());
            match s.on_message(t0, msg).unwrap() {
                Pulled::PeerAt { last_seq, .. } => peer_at.push(last_seq),
                Pulled::Nothing => work.push(s.take_work(t0).expect("work")),
                Pulled::Members(_) => {
                    rows += 1;
                    work.push(s.take_work(t0).expect("the frontier, as work"));
                }
            }
        }
        assert_eq!(peer_at, [9]);
        assert_eq!(rows, 1);
        let kinds: Vec<String> = work
            .iter()
            .map(|w| match w {
                Work::Batch(e) => format!("batch {}", e.len()),
                Work::End(c, clock) => format!("end {} {} {clock}", c.seq, c.incarnation),
                Work::Frontier { through, applied } => {
                    format!("frontier {through} {}", applied.len())
                }
                Work::Close => "close".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["batch 2", "batch 1", "end 9 2 5", "frontier 9 1", "close"]
        );
        // After the peer closed: nothing more is read, no heartbeat, no deadline.
        assert!(!s.wants_read());
        assert_eq!(s.heartbeat_due(), None);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn pending_work_stops_reading_and_suspends_the_deadline_but_not_heartbeats() {
        let t0 = Instant::now();
        let mut s = PullSession::new("peer", BEAT, t0);
        assert_eq!(s.deadline(), Some(t0 + 3 * BEAT));
        s.on_message(t0 + BEAT, Some(batch(&["a"]))).unwrap();
        // The applier is behind: no read, no deadline (the peer's messages wait unread).
        assert!(s.has_work() && !s.wants_read());
        assert_eq!(s.deadline(), None);
        // Heartbeats keep going out.
        s.heartbeat_sent(t0 + BEAT);
        assert_eq!(s.heartbeat_due(), Some(t0 + 2 * BEAT));
        // Ten intervals later the applier takes it: one interval of the silence is counted.
        assert!(s.take_work(t0 + 11 * BEAT).is_some());
        assert!(s.wants_read());
        assert_eq!(s.deadline(), Some(t0 + 13 * BEAT));
        // Taking again gives nothing and moves nothing.
        assert!(s.take_work(t0 + 20 * BEAT).is_none());
        assert_eq!(s.deadline(), Some(t0 + 13 * BEAT));
    }

    #[test]
    fn a_silent_peer_is_presumed_dead_after_three_intervals() {
        let t0 = Instant::now();
        let mut s = PullSession::new("peer", BEAT, t0);
        // Our heartbeats do not count as hearing from the peer.
        s.heartbeat_sent(t0);
        s.heartbeat_sent(t0 + BEAT);
        assert_eq!(s.deadline(), Some(t0 + 3 * BEAT));
        // Its heartbeat does.
        assert_eq!(
            s.on_message(
                t0 + 2 * BEAT,
                Some(Message::Heartbeat {
                    last_seq: 1,
                    clock_ms: 0
                })
            )
            .unwrap(),
            Pulled::PeerAt {
                last_seq: 1,
                clock_ms: 0
            }
        );
        assert_eq!(s.deadline(), Some(t0 + 5 * BEAT));
        assert!(s.silent().to_string().contains("presumed dead"));
    }

    #[test]
    fn an_oversized_member_summary_closes_the_session() {
        let max = crate::replication::MAX_MEMBERS;
        let row = crate::replication::MemberRow {
            node_id: crate::NodeId([1; 16]),
            address: None,
            decommissioned: false,
            last_heard_ms: 0,
        };
        for (applied, members) in [(max + 1, 0), (0, max + 1)] {
            let mut s = PullSession::new("peer", BEAT, Instant::now());
            let msg = Message::Members {
                through: 1,
                applied: vec![(crate::NodeId([1; 16]), 1); applied],
                members: vec![row.clone(); members],
            };
            let err = s.on_message(Instant::now(), Some(msg)).unwrap_err();
            assert!(err.to_string().contains("at most 1024"), "{err}");
            assert!(!s.has_work());
        }
    }

    #[test]
    fn messages_a_listener_never_sends_close_the_session() {
        let refused = [
            Message::Pull {
                cursor: None,
                skip_own_after: None,
                cursor_incarnation: None,
                cursor_proof: None,
            },
            Message::Refuse {
                reason: "no".into(),
            },
        ];
        for msg in refused {
            let kind = msg.kind();
            let mut s = PullSession::new("peer", BEAT, Instant::now());
            let err = s.on_message(Instant::now(), Some(msg)).unwrap_err();
            assert!(
                matches!(&err, Error::Protocol { detail, .. } if detail.contains(kind)),
                "{err}"
            );
        }
    }

    #[test]
    fn the_session_ends_cleanly_only_when_the_peer_closed_and_all_was_applied() {
        let t0 = Instant::now();
        let mut s = PullSession::new("peer", BEAT, t0);
        // The applier stopped by itself while the peer still talks: an error.
        assert!(s.applier_ended(Some(Ok(()))).is_err());
        assert!(s.applier_ended(None).is_err());
        s.on_message(t0, None).unwrap();
        assert!(s.applier_ended(Some(Ok(()))).is_ok());
        // The applier's own error wins, and a dead applier is never a clean end.
        let e = s.applier_ended(Some(Err(Error::EmptyKey))).unwrap_err();
        assert!(matches!(e, Error::EmptyKey));
        assert!(s.applier_ended(None).is_err());
    }

    fn numbered(keys: &[&str]) -> Vec<(u64, Entry)> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (10 + i as u64, entry(k)))
            .collect()
    }

    fn refuse_bad(e: &Entry) -> Result<()> {
        if e.key.starts_with(b"bad") {
            return Err(Error::InvalidEntry {
                key: "bad".into(),
                reason: "test".into(),
            });
        }
        Ok(())
    }

    #[test]
    fn refused_entries_are_found_and_the_rest_is_applied_in_one_commit() {
        let entries = numbered(&["good", "bad1", "also-good", "bad2"]);
        let mut calls = Vec::new();
        let out = apply_batch(entries, refuse_bad, |batch| {
            calls.push(batch.len());
            batch.iter().try_for_each(refuse_bad)?;
            Ok(ApplyReport {
                applied: batch.len() as u64,
                ..ApplyReport::default()
            })
        })
        .unwrap();
        assert_eq!(
            (out.applied, out.refused, out.lowest_refused),
            (2, 2, Some(11))
        );
        assert!(out.reason.unwrap().contains("test"));
        // The whole batch first, then the valid ones together: never one commit per entry.
        assert_eq!(calls, [4, 2]);
    }

    #[test]
    fn a_clean_batch_is_applied_once_and_other_errors_end_the_session() {
        let entries = numbered(&["a", "b"]);
        let mut calls = 0;
        let out = apply_batch(entries.clone(), refuse_bad, |batch| {
            calls += 1;
            Ok(ApplyReport {
                applied: batch.len() as u64 - 1,
                stale: 1,
                ..ApplyReport::default()
            })
        })
        .unwrap();
        assert_eq!((out.applied, out.refused, calls), (1, 0, 1));
        // A storage failure is not the peer's fault: never refused, always an error.
        let io = || Error::Io(std::io::Error::other("disk full"));
        let err = apply_batch(entries.clone(), refuse_bad, |_| Err(io()));
        assert!(matches!(err, Err(Error::Io(_))));
        // Nor when it happens while checking or applying the rest.
        let err = apply_batch(entries, |_| Err(io()), |_| Err(Error::EmptyKey));
        assert!(matches!(err, Err(Error::Io(_))));
        let mut first = true;
        let bad = numbered(&["bad", "ok"]);
        let err = apply_batch(bad, refuse_bad, |_| {
            if std::mem::take(&mut first) {
                Err(Error::EmptyKey)
            } else {
                Err(io())
            }
        });
        assert!(matches!(err, Err(Error::Io(_))));
    }

    /// Golden: the cursor a session stores as rounds end, with and without refusals.
    #[test]
    fn the_cursor_never_passes_a_refused_entry() {
        let t0 = Instant::now();
        let end = |seq| PeerCursor {
            seq,
            incarnation: 4,
            proof: Some([1; 32]),
        };
        let mut r = Refusals::default();
        assert_eq!(r.cursor_to_store(end(50)), end(50));
        assert_eq!(r.retry_at(BEAT), None);
        let refused = |low, n| Applied {
            refused: n,
            lowest_refused: Some(low),
            reason: Some("clock".into()),
            ..Applied::default()
        };
        r.record(&Applied::default(), t0);
        assert_eq!(r.pending(), 0);
        r.record(&refused(40, 2), t0 + BEAT);
        r.record(&refused(45, 1), t0 + 2 * BEAT);
        // (round end, cursor stored)
        for (high, stored) in [(50, 39), (60, 39), (40, 39)] {
            let c = r.cursor_to_store(end(high));
            assert_eq!((c.seq, c.incarnation, c.proof), (stored, 4, None), "{high}");
        }
        // A round that ended below the refused entries (they came after it) stores its end,
        // with its proof.
        assert_eq!(r.cursor_to_store(end(39)), end(39));
        assert_eq!(r.cursor_to_store(end(30)), end(30));
        assert_eq!(r.pending(), 3);
        // Ten intervals after the first refusal the session ends, to pull them again.
        assert_eq!(r.retry_at(BEAT), Some(t0 + 11 * BEAT));
        let e = r.retry("peer").to_string();
        assert!(
            e.contains("3 entries refused") && e.contains("sequence 39"),
            "{e}"
        );
    }
}
