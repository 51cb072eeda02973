//! [`ServeSession`]: the serving side of one connection, after the handshake, without I/O.
//!
//! The driver (`listener`) reads the dialer's first message, asks [`ServeSession::open`] what
//! it means, then loops: it sends a round when [`ServeSession::round_due`] says so (from one
//! snapshot, invariant 7), heartbeats when due, and feeds back what arrives and the time. The
//! session decides:
//! - that the first message must be a `Pull` (anything else is refused; a close before it is a
//!   clean end);
//! - whether the `Pull` is evidence that this folder is an old copy of its node: a claim
//!   ([`rollback_evidence`]) with a valid proof ([`CursorProver`]) halts replication; a claim
//!   without one (anyone can make it) is ignored and the dialer is served everything, as a
//!   puller that knows nothing would be, so even a genuine claim stored before proofs existed
//!   loses nothing;
//! - what the round leaves out: the dialer's own writes after its `skip_own_after` (no echo);
//! - when a round is due: at the start, then whenever the local log passes the last round's end;
//! - liveness: heartbeats both ways; the dialer's heartbeats wait unread during a round, so its
//!   silence counts from at most one interval before the round ended;
//! - which messages are refused while serving: anything but `Heartbeat`.

use std::time::{Duration, Instant};

use super::liveness::Liveness;
use super::message::Message;
use crate::replica::CursorProver;
use crate::{Error, NodeId, Result};

/// What the serving node knows of its own log, for the rollback check.
#[derive(Clone, Debug)]
pub(crate) struct LocalLog {
    /// This open's incarnation ([`Replica::incarnation`](crate::replica::Replica::incarnation)).
    pub(crate) incarnation: u64,
    /// The lowest sequence this open can hand out
    /// ([`Replica::seq_floor`](crate::replica::Replica::seq_floor)).
    pub(crate) seq_floor: u64,
    /// Checks the proof that comes with a claim.
    pub(crate) prover: CursorProver,
}

/// What the dialer's first message means.
#[derive(Debug)]
pub(crate) enum Opening {
    /// Serve it.
    Serve(ServeSession),
    /// The dialer holds proof that this folder is an old copy: stop replicating, for this reason.
    Halt(String),
    /// The dialer closed before asking for anything.
    Closed,
}

/// A round to send: every entry above `cursor`, leaving out `held`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Round {
    /// The last sequence the dialer has (the previous round's end).
    pub(crate) cursor: u64,
    /// The dialer's node id and the timestamp after which it holds its own writes.
    pub(crate) held: Option<(NodeId, u64)>,
}

/// What a message from the dialer means while serving.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Served {
    /// The dialer's heartbeat: its wall clock (ms) when it sent it.
    PeerClock(u64),
    /// The dialer closed the connection.
    Closed,
}

/// The state of one serving connection.
#[derive(Debug)]
pub(crate) struct ServeSession {
    peer: String,
    liveness: Liveness,
    /// The end of the last round sent (the dialer's cursor at first).
    cursor: u64,
    held: Option<(NodeId, u64)>,
    /// No round sent yet: the first is sent even when there is nothing above the cursor, so the
    /// dialer gets an `End` (and stores where it stands).
    first: bool,
    /// The dialer claimed this folder is an old copy without a valid proof: what it claimed.
    unproven_claim: Option<String>,
}

/// Whether a puller's cursor shows that this folder is an old copy of its node: a cursor read
/// from another incarnation at or above this open's sequence floor names sequences that only a
/// later life of this node (lost with the folder it was restored over) can have handed out.
/// Every earlier incarnation's sequences are below the floor (the sequence lease).
pub(crate) fn rollback_evidence(
    local: &LocalLog,
    cursor: Option<u64>,
    incarnation: Option<u64>,
) -> Option<String> {
    let (seq, inc) = (cursor?, incarnation?);
    (inc != 0 && inc != local.incarnation && seq >= local.seq_floor).then(|| {
        format!(
            "a peer holds sequence {seq} of this node from another incarnation, but this folder \
             starts at {}: it is an old copy",
            local.seq_floor
        )
    })
}

/// The error when the dialer sent no `Pull` within the deadline.
pub(crate) fn no_pull(peer: &str) -> Error {
    Error::Protocol {
        peer: peer.to_string(),
        detail: "no pull request".into(),
    }
}

impl ServeSession {
    /// What the dialer (`dialer`, from its hello) asked first, arriving at `now`; `interval` is
    /// the heartbeat interval.
    pub(crate) fn open(
        peer: &str,
        dialer: NodeId,
        first: Option<Message>,
        local: &LocalLog,
        interval: Duration,
        now: Instant,
    ) -> Result<Opening> {
        match first {
            Some(Message::Pull {
                mut cursor,
                skip_own_after,
                cursor_incarnation,
                cursor_proof,
            }) => {
                let mut unproven_claim = None;
                if let Some(why) = rollback_evidence(local, cursor, cursor_incarnation) {
                    let proven = match (cursor, cursor_incarnation, cursor_proof) {
                        (Some(seq), Some(inc), Some(proof)) => {
                            local.prover.verify(inc, seq, &proof)
                        }
                        _ => false,
                    };
                    if proven {
                        return Ok(Opening::Halt(why));
                    }
                    unproven_claim = Some(why);
                    cursor = None;
                }
                Ok(Opening::Serve(ServeSession {
                    peer: peer.to_string(),
                    liveness: Liveness::new(interval, now),
                    cursor: cursor.unwrap_or(0),
                    held: skip_own_after.map(|after| (dialer, after)),
                    first: true,
                    unproven_claim,
                }))
            }
            Some(other) => Err(Error::Protocol {
                peer: peer.to_string(),
                detail: format!("expected a pull, got a {}", other.kind()),
            }),
            None => Ok(Opening::Closed),
        }
    }

    /// What the dialer claimed without proof, if it did (the driver logs and counts it).
    pub(crate) fn unproven_claim(&self) -> Option<&str> {
        self.unproven_claim.as_deref()
    }

    /// Where the dialer stands: the end of the last round sent.
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The round to send now, if one is due, given the local log's last sequence.
    pub(crate) fn round_due(&self, last_seq: u64) -> Option<Round> {
        (self.first || last_seq > self.cursor).then_some(Round {
            cursor: self.cursor,
            held: self.held,
        })
    }

    /// A round ending at `high_seq` was sent, finishing at `now`.
    pub(crate) fn round_sent(&mut self, high_seq: u64, now: Instant) {
        self.first = false;
        self.cursor = high_seq;
        // The dialer's heartbeats waited unread during the round: count from its end.
        self.liveness.resumed(now);
    }

    /// A message from the dialer (`None`: it closed) arrived at `now`.
    pub(crate) fn on_message(&mut self, now: Instant, msg: Option<Message>) -> Result<Served> {
        self.liveness.received(now);
        match msg {
            None => Ok(Served::Closed),
            Some(Message::Heartbeat { clock_ms, .. }) => Ok(Served::PeerClock(clock_ms)),
            Some(other) => Err(Error::Protocol {
                peer: self.peer.clone(),
                detail: format!("unexpected {} while serving", other.kind()),
            }),
        }
    }

    /// When the next heartbeat is due.
    pub(crate) fn heartbeat_due(&self) -> Instant {
        self.liveness.beat_due()
    }

    /// A heartbeat was sent at `now`.
    pub(crate) fn heartbeat_sent(&mut self, now: Instant) {
        self.liveness.beat_sent(now);
    }

    /// How long a heartbeat may take to send before the dialer is presumed dead.
    pub(crate) fn send_limit(&self) -> Duration {
        self.liveness.dead_after()
    }

    /// How long one frame of a round may take to send: a dialer applying a big batch may leave
    /// one unread for a while, but not forever (it must not hold this connection, its permit
    /// and its snapshot for good).
    pub(crate) fn round_send_limit(&self) -> Duration {
        self.liveness.interval() * 12
    }

    /// When a silent dialer is presumed dead.
    pub(crate) fn deadline(&self) -> Instant {
        self.liveness.deadline()
    }

    /// The error to close with when [`ServeSession::deadline`] passed.
    pub(crate) fn silent(&self) -> Error {
        self.liveness.silent(&self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(1);
    const DIALER: NodeId = NodeId([9; 16]);
    const ME: NodeId = NodeId([1; 16]);

    fn local() -> LocalLog {
        LocalLog {
            incarnation: 5,
            seq_floor: 1000,
            prover: CursorProver::new([3; 32], ME),
        }
    }

    fn pull(cursor: Option<u64>, skip: Option<u64>, inc: Option<u64>) -> Message {
        // Proven with this node's secret whenever there is something to prove.
        let proof = match (cursor, inc) {
            (Some(seq), Some(inc)) => Some(local().prover.prove(inc, seq)),
            _ => None,
        };
        Message::Pull {
            cursor,
            skip_own_after: skip,
            cursor_incarnation: inc,
            cursor_proof: proof,
        }
    }

    fn open(first: Option<Message>) -> Result<Opening> {
        ServeSession::open("dialer", DIALER, first, &local(), BEAT, Instant::now())
    }

    fn serving(first: Message) -> ServeSession {
        match open(Some(first)).unwrap() {
            Opening::Serve(s) => s,
            other => panic!("expected to serve, got {other:?}"),
        }
    }

    #[test]
    fn rollback_evidence_needs_another_incarnation_at_or_above_the_floor() {
        // (cursor, its incarnation, halts?)
        let cases = [
            (None, None, false),
            (Some(5000), None, false),
            // Read from this very open: honest.
            (Some(5000), Some(5), false),
            // An earlier life's sequences are all below the floor.
            (Some(999), Some(4), false),
            // At or above the floor from another life: only a later life could have handed
            // those out, so this folder is an old copy.
            (Some(1000), Some(4), true),
            (Some(5000), Some(6), true),
            // Incarnation 0: a cursor stored before incarnations existed proves nothing.
            (Some(5000), Some(0), false),
        ];
        for (cursor, inc, halts) in cases {
            let evidence = rollback_evidence(&local(), cursor, inc);
            assert_eq!(evidence.is_some(), halts, "{cursor:?} {inc:?}");
            let opened = open(Some(pull(cursor, None, inc))).unwrap();
            assert_eq!(matches!(opened, Opening::Halt(_)), halts);
        }
    }

    #[test]
    fn a_claim_without_this_nodes_proof_is_ignored_and_served_everything() {
        let (seq, inc) = (5000, 6);
        let other = CursorProver::new([4; 32], ME);
        // (proof sent, halts?)
        let cases = [
            (Some(local().prover.prove(inc, seq)), true),
            // Anyone can send these: no proof, random bytes, another secret's proof, this
            // node's proof of another sequence or incarnation.
            (None, false),
            (Some([0xA5; 32]), false),
            (Some(other.prove(inc, seq)), false),
            (Some(local().prover.prove(inc, seq + 1)), false),
            (Some(local().prover.prove(inc + 1, seq)), false),
        ];
        for (i, (proof, halts)) in cases.into_iter().enumerate() {
            let msg = Message::Pull {
                cursor: Some(seq),
                skip_own_after: Some(77),
                cursor_incarnation: Some(inc),
                cursor_proof: proof,
            };
            match open(Some(msg)).unwrap() {
                Opening::Halt(why) => assert!(halts && why.contains("old copy"), "case {i}"),
                Opening::Serve(s) => {
                    assert!(!halts, "case {i} should halt");
                    assert!(s.unproven_claim().is_some_and(|c| c.contains("5000")));
                    // Served as a puller that knows nothing: from 0, still without echo.
                    assert_eq!(
                        s.round_due(0),
                        Some(Round {
                            cursor: 0,
                            held: Some((DIALER, 77))
                        })
                    );
                }
                Opening::Closed => panic!("case {i}"),
            }
        }
        // An honest cursor claims nothing, proof or not.
        match open(Some(pull(Some(999), None, Some(4)))).unwrap() {
            Opening::Serve(s) => assert_eq!((s.unproven_claim(), s.cursor()), (None, 999)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_first_message_must_be_a_pull() {
        assert!(matches!(open(None).unwrap(), Opening::Closed));
        for msg in [
            Message::Heartbeat {
                last_seq: 1,
                clock_ms: 0,
            },
            Message::Batch { entries: vec![] },
            Message::End {
                high_seq: 1,
                incarnation: 1,
                proof: [0; 32],
                clock: 0,
            },
        ] {
            let kind = msg.kind();
            let err = open(Some(msg)).unwrap_err();
            assert!(err.to_string().contains(kind), "{err}");
        }
        assert!(no_pull("dialer").to_string().contains("no pull"));
    }

    #[test]
    fn skip_own_after_leaves_out_the_dialers_own_writes() {
        let s = serving(pull(Some(7), Some(1234), None));
        assert_eq!(
            s.round_due(7),
            Some(Round {
                cursor: 7,
                held: Some((DIALER, 1234))
            })
        );
        let s = serving(pull(Some(7), None, None));
        assert_eq!(s.round_due(7).unwrap().held, None);
    }

    /// Golden: rounds as the local log grows.
    #[test]
    fn a_first_round_always_then_one_whenever_the_log_passes_the_last_end() {
        let t0 = Instant::now();
        let mut s = serving(pull(None, None, None));
        assert_eq!(s.cursor(), 0);
        // Nothing in the log: the first round still goes (the dialer gets its `End`).
        assert_eq!(s.round_due(0).map(|r| r.cursor), Some(0));
        s.round_sent(0, t0);
        assert_eq!(s.round_due(0), None);
        // (last_seq, round due from)
        let steps = [(3, Some(0)), (3, None), (4, Some(3)), (10, Some(4))];
        let mut ends = 0;
        for (last_seq, due) in steps {
            let round = s.round_due(last_seq);
            assert_eq!(round.map(|r| r.cursor), due, "at {last_seq}");
            if round.is_some() {
                s.round_sent(last_seq, t0);
                ends += 1;
            }
        }
        assert_eq!((ends, s.cursor()), (3, 10));
    }

    #[test]
    fn the_dialers_silence_counts_from_the_end_of_a_long_round() {
        let t0 = Instant::now();
        let mut s = serving(pull(None, None, None));
        s.on_message(
            t0,
            Some(Message::Heartbeat {
                last_seq: 0,
                clock_ms: 0,
            }),
        )
        .unwrap();
        // A round that took 30 intervals: the dialer is not dead for it.
        s.round_sent(9, t0 + 30 * BEAT);
        assert_eq!(s.deadline(), t0 + 32 * BEAT);
        assert!(s.silent().to_string().contains("presumed dead"));
        // Heartbeats: at once, then every interval after the last sent.
        s.heartbeat_sent(t0 + 30 * BEAT);
        assert_eq!(s.heartbeat_due(), t0 + 31 * BEAT);
        assert_eq!(s.send_limit(), 3 * BEAT);
        assert_eq!(s.round_send_limit(), 12 * BEAT);
    }

    #[test]
    fn only_heartbeats_are_accepted_while_serving() {
        let now = Instant::now();
        let mut s = serving(pull(None, None, None));
        assert_eq!(
            s.on_message(
                now,
                Some(Message::Heartbeat {
                    last_seq: 3,
                    clock_ms: 7
                })
            )
            .unwrap(),
            Served::PeerClock(7)
        );
        for msg in [
            pull(None, None, None),
            Message::Batch { entries: vec![] },
            Message::Refuse { reason: "x".into() },
        ] {
            let kind = msg.kind();
            let err = s.on_message(now, Some(msg)).unwrap_err();
            assert!(err.to_string().contains(kind), "{err}");
        }
        assert_eq!(s.on_message(now, None).unwrap(), Served::Closed);
    }
}
