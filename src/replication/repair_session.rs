//! [`RepairSession`]: the serving side of an anti-entropy connection, without I/O.
//!
//! A dialer that opens a connection with [`Message::AskRanges`] instead of `Pull` compares its
//! digests with ours ([`Comparison`](super::anti_entropy::Comparison) on its side) and then
//! fetches and pushes the entries that differ. The driver (`listener`) feeds each message to
//! [`RepairSession::on_message`] and answers what it returns from the `Replica`. The session
//! decides what a dialer may ask, so that one connection costs this node a bounded amount of
//! work whatever the dialer sends:
//! - the asks come in the comparison's order: ranges once, then segments once, then digests at
//!   most [`MAX_RECHECKS`] times, then versions once (one pass over the index, the costly
//!   step), then any number of entry asks and pushes; anything else closes the connection;
//! - lists are bounded: ranges and segments are distinct and in bounds, at most
//!   [`MAX_SEGMENTS_PER_ASK`] segments;
//! - entries asked must be of keys this session listed, each at most once (the keys an answer
//!   went through are struck off); entries pushed must be of keys in the listed segments, at most
//!   as many as it listed plus [`PUSH_ALLOWANCE`]: a repair touches only what the comparison
//!   found, never the whole store, and one connection costs at most one pass over the index,
//!   the entries of what it listed, and a bounded number of applied entries;
//! - no list is empty (an empty `AskVersions` would be a pass over the index for nothing).
//!
//! Pushed entries go through the same checks and `apply` as pulled ones.

use std::collections::{BTreeSet, HashSet};

use super::message::Message;
use crate::replica::{segment_of, MAX_SEGMENTS_PER_ASK};
use crate::{Entry, Error, Result};

/// How many times a dialer may ask again for segment digests before listing versions.
pub(crate) const MAX_RECHECKS: u32 = 4;

/// Entries a dialer may push on one connection beyond the number of keys listed to it: what it
/// holds that this node lacks (a node restored empty lists nothing and gets this many a round).
pub(crate) const PUSH_ALLOWANCE: u64 = 1 << 16;

/// Bytes of `(key, version)` lists a comparing node accepts from a peer for one round: far
/// above what 1,024 segments hold at a billion keys of 16 bytes (about 1 GiB / 64 × 60 B), so
/// only a broken or hostile peer reaches it.
pub(crate) const MAX_LISTED_BYTES: usize = 1 << 30;

/// What the dialer asked; the driver answers it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// The range digests.
    Ranges,
    /// The segment digests of these ranges, one message per range.
    Segments(Vec<u8>),
    /// The digests of these segments.
    Digests(Vec<u16>),
    /// The versions of these segments, in byte-bounded chunks.
    Versions(Vec<u16>),
    /// The entries of these keys.
    Entries(Vec<Vec<u8>>),
    /// Apply these entries and say what came of them.
    Push(Vec<Entry>),
    /// The dialer closed the connection.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ranges,
    Segments,
    Digests(u32),
    Repair,
}

/// The state of one serving anti-entropy connection.
#[derive(Debug)]
pub(crate) struct RepairSession {
    peer: String,
    stage: Option<Stage>,
    /// The segments whose versions were listed: the only ones entries may be pushed of.
    listed: BTreeSet<u16>,
    /// The keys listed and not yet fetched: the only ones entries may be asked of.
    fetchable: HashSet<Vec<u8>>,
    /// Entries the dialer may still push.
    pushes_left: u64,
}

impl RepairSession {
    /// A session with `peer`, whose first message was [`Message::AskRanges`].
    pub(crate) fn new(peer: &str) -> RepairSession {
        RepairSession {
            peer: peer.to_string(),
            stage: None,
            listed: BTreeSet::new(),
            fetchable: HashSet::new(),
            pushes_left: 0,
        }
    }

    fn refuse(&self, detail: String) -> Error {
        Error::Protocol {
            peer: self.peer.clone(),
            detail,
        }
    }

    /// A message from the dialer (`None`: it closed).
    pub(crate) fn on_message(&mut self, msg: Option<Message>) -> Result<Asked> {
        let Some(msg) = msg else {
            return Ok(Asked::Closed);
        };
        let kind = msg.kind();
        let out_of_order = || format!("{kind} out of order in an anti-entropy exchange");
        match (self.stage, msg) {
            (None, Message::AskRanges) => {
                self.stage = Some(Stage::Ranges);
                Ok(Asked::Ranges)
            }
            (Some(Stage::Ranges), Message::AskSegments { ranges }) => {
                let distinct: BTreeSet<u8> = ranges.iter().copied().collect();
                if distinct.len() != ranges.len() {
                    return Err(self.refuse("a range asked twice".into()));
                }
                if ranges.is_empty() {
                    return Err(self.refuse("an empty ask".into()));
                }
                self.stage = Some(Stage::Segments);
                Ok(Asked::Segments(ranges))
            }
            (Some(Stage::Segments), Message::AskDigests { segments }) => {
                self.check_segments(&segments)?;
                self.stage = Some(Stage::Digests(1));
                Ok(Asked::Digests(segments))
            }
            (Some(Stage::Digests(n)), Message::AskDigests { segments }) if n < MAX_RECHECKS => {
                self.check_segments(&segments)?;
                self.stage = Some(Stage::Digests(n + 1));
                Ok(Asked::Digests(segments))
            }
            (Some(Stage::Segments | Stage::Digests(_)), Message::AskVersions { segments }) => {
                self.check_segments(&segments)?;
                self.listed = segments.iter().copied().collect();
                self.stage = Some(Stage::Repair);
                Ok(Asked::Versions(segments))
            }
            (Some(Stage::Repair), Message::AskEntries { keys }) => {
                let unlisted = keys.iter().any(|k| !self.fetchable.contains(k));
                if keys.is_empty() || unlisted {
                    return Err(
                        self.refuse("an entry asked of a key not listed, or already sent".into())
                    );
                }
                Ok(Asked::Entries(keys))
            }
            (Some(Stage::Repair), Message::Push { entries }) => {
                let outside = entries
                    .iter()
                    .any(|e| !self.listed.contains(&segment_of(&e.key)));
                if entries.is_empty() || outside {
                    return Err(self.refuse("a key outside the segments listed".into()));
                }
                let n = entries.len() as u64;
                if n > self.pushes_left {
                    return Err(self.refuse(format!(
                        "more entries pushed than this exchange allows ({} more)",
                        self.pushes_left
                    )));
                }
                self.pushes_left -= n;
                Ok(Asked::Push(entries))
            }
            _ => Err(self.refuse(out_of_order())),
        }
    }

    /// The versions asked were listed: these keys.
    pub(crate) fn listed<'k>(&mut self, keys: impl Iterator<Item = &'k [u8]>) {
        self.fetchable = keys.map(<[u8]>::to_vec).collect();
        self.pushes_left = self.fetchable.len() as u64 + PUSH_ALLOWANCE;
    }

    /// The entries of these keys were sent: they are not sent again.
    pub(crate) fn sent<'k>(&mut self, keys: impl Iterator<Item = &'k Vec<u8>>) {
        for k in keys {
            self.fetchable.remove(k);
        }
    }

    fn check_segments(&self, segments: &[u16]) -> Result<()> {
        let distinct: BTreeSet<u16> = segments.iter().copied().collect();
        if distinct.len() != segments.len() {
            return Err(self.refuse("a segment asked twice".into()));
        }
        if segments.is_empty() || segments.len() > MAX_SEGMENTS_PER_ASK {
            return Err(self.refuse(format!(
                "{} segments asked: 1 to {MAX_SEGMENTS_PER_ASK}",
                segments.len()
            )));
        }
        Ok(())
    }
}

/// Splits a `(key, version)` list into chunks of about `max_bytes` (each at least one pair),
/// the last marked: what answers an [`Asked::Versions`].
pub(crate) fn version_chunks(
    mut versions: Vec<(Vec<u8>, crate::Version)>,
    max_bytes: usize,
) -> Vec<Message> {
    let mut out = Vec::new();
    while !versions.is_empty() {
        let (mut bytes, mut n) = (0usize, 0usize);
        for (key, _) in &versions {
            let size = key.len() + 48;
            if n > 0 && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            n += 1;
        }
        let rest = versions.split_off(n);
        out.push(Message::Versions {
            versions,
            last: false,
        });
        versions = rest;
    }
    match out.last_mut() {
        Some(Message::Versions { last, .. }) => *last = true,
        _ => out.push(Message::Versions {
            versions: Vec::new(),
            last: true,
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeId, Version};

    fn key_in(segment: u16) -> Vec<u8> {
        (0u32..)
            .map(|i| format!("k{i}").into_bytes())
            .find(|k| segment_of(k) == segment)
            .unwrap()
    }

    fn entry(key: Vec<u8>) -> Entry {
        Entry {
            key,
            value: Some(b"v".to_vec()),
            version: Version {
                clock: 1,
                timestamp: 1,
                origin: NodeId([3; 16]),
            },
            expires_at: None,
        }
    }

    /// Golden: the asks of an honest comparison, in order, each answered.
    #[test]
    fn an_honest_exchange_is_answered_step_by_step() {
        let mut s = RepairSession::new("dialer");
        let listed = key_in(7);
        let steps = [
            (Message::AskRanges, Asked::Ranges),
            (
                Message::AskSegments { ranges: vec![0, 3] },
                Asked::Segments(vec![0, 3]),
            ),
            (
                Message::AskDigests {
                    segments: vec![7, 800],
                },
                Asked::Digests(vec![7, 800]),
            ),
            (
                Message::AskDigests { segments: vec![7] },
                Asked::Digests(vec![7]),
            ),
            (
                Message::AskVersions { segments: vec![7] },
                Asked::Versions(vec![7]),
            ),
            (
                Message::AskEntries {
                    keys: vec![listed.clone()],
                },
                Asked::Entries(vec![listed.clone()]),
            ),
            (
                Message::Push {
                    entries: vec![entry(listed.clone())],
                },
                Asked::Push(vec![entry(listed.clone())]),
            ),
            (
                Message::AskEntries {
                    keys: vec![listed.clone()],
                },
                Asked::Entries(vec![listed.clone()]),
            ),
        ];
        for (msg, asked) in steps {
            let versions = matches!(asked, Asked::Versions(_));
            assert_eq!(s.on_message(Some(msg)).unwrap(), asked);
            if versions {
                // What the driver listed: one key of the segment.
                s.listed([listed.as_slice()].into_iter());
            }
        }
        assert_eq!(s.on_message(None).unwrap(), Asked::Closed);
    }

    #[test]
    fn entries_are_sent_once_per_listed_key_and_pushes_are_bounded() {
        let mut s = RepairSession::new("dialer");
        s.on_message(Some(Message::AskRanges)).unwrap();
        s.on_message(Some(Message::AskSegments { ranges: vec![0] }))
            .unwrap();
        s.on_message(Some(Message::AskVersions { segments: vec![7] }))
            .unwrap();
        let keys: Vec<Vec<u8>> = (0u32..)
            .map(|i| format!("k{i}").into_bytes())
            .filter(|k| segment_of(k) == 7)
            .take(2)
            .collect();
        s.listed(keys[..1].iter().map(Vec::as_slice));
        let ask = |s: &mut RepairSession, k: &Vec<u8>| {
            s.on_message(Some(Message::AskEntries {
                keys: vec![k.clone()],
            }))
        };
        // A key of the segment that was not listed is not sent.
        assert!(ask(&mut s, &keys[1]).is_err());
        // Asked again until an answer went through it, then never again.
        assert!(ask(&mut s, &keys[0]).is_ok());
        assert!(ask(&mut s, &keys[0]).is_ok());
        s.sent(keys[..1].iter());
        assert!(ask(&mut s, &keys[0])
            .unwrap_err()
            .to_string()
            .contains("already sent"));
        // Pushes: the listed count plus the allowance, then no more.
        let push = |n: usize| Message::Push {
            entries: vec![entry(keys[1].clone()); n],
        };
        assert!(s.on_message(Some(push(PUSH_ALLOWANCE as usize))).is_ok());
        assert!(s.on_message(Some(push(1))).is_ok());
        assert!(s
            .on_message(Some(push(1)))
            .unwrap_err()
            .to_string()
            .contains("more entries pushed"));
        // Empty asks are refused.
        let mut s = RepairSession::new("dialer");
        s.on_message(Some(Message::AskRanges)).unwrap();
        assert!(s
            .on_message(Some(Message::AskSegments { ranges: vec![] }))
            .is_err());
    }

    #[test]
    fn asks_out_of_order_twice_or_out_of_bounds_close_the_connection() {
        let fresh = || RepairSession::new("dialer");
        let at_segments = || {
            let mut s = fresh();
            s.on_message(Some(Message::AskRanges)).unwrap();
            s.on_message(Some(Message::AskSegments { ranges: vec![1] }))
                .unwrap();
            s
        };
        let at_repair = || {
            let mut s = at_segments();
            s.on_message(Some(Message::AskVersions { segments: vec![7] }))
                .unwrap();
            s
        };
        let mut cases: Vec<(RepairSession, Message, &str)> = vec![
            // A second pass over the index, or a step skipped.
            (
                at_repair(),
                Message::AskVersions { segments: vec![7] },
                "out of order",
            ),
            (
                fresh(),
                Message::AskVersions { segments: vec![7] },
                "out of order",
            ),
            (
                at_segments(),
                Message::AskEntries {
                    keys: vec![key_in(7)],
                },
                "out of order",
            ),
            (at_repair(), Message::AskRanges, "out of order"),
            (
                at_repair(),
                Message::Heartbeat {
                    last_seq: 0,
                    clock_ms: 0,
                },
                "out of order",
            ),
            // Lists that repeat or are too long.
            (
                {
                    let mut s = fresh();
                    s.on_message(Some(Message::AskRanges)).unwrap();
                    s
                },
                Message::AskSegments { ranges: vec![2, 2] },
                "twice",
            ),
            (
                at_segments(),
                Message::AskVersions {
                    segments: vec![5, 5],
                },
                "twice",
            ),
            (
                at_segments(),
                Message::AskDigests {
                    segments: (0..=MAX_SEGMENTS_PER_ASK as u16).collect(),
                },
                "1 to 1024",
            ),
            (
                at_segments(),
                Message::AskVersions { segments: vec![] },
                "1 to 1024",
            ),
            // Keys outside what was listed.
            (
                at_repair(),
                Message::AskEntries {
                    keys: vec![key_in(8)],
                },
                "not listed",
            ),
            (
                at_repair(),
                Message::Push {
                    entries: vec![entry(key_in(7)), entry(key_in(9))],
                },
                "outside",
            ),
        ];
        for (i, (mut s, msg, why)) in cases.drain(..).enumerate() {
            let err = s.on_message(Some(msg)).unwrap_err().to_string();
            assert!(err.contains(why), "case {i}: {err}");
        }
        // Rechecks are bounded too.
        let mut s = at_segments();
        for _ in 0..MAX_RECHECKS {
            s.on_message(Some(Message::AskDigests { segments: vec![1] }))
                .unwrap();
        }
        assert!(s
            .on_message(Some(Message::AskDigests { segments: vec![1] }))
            .is_err());
    }

    #[test]
    fn version_lists_go_in_bounded_chunks_and_the_last_is_marked() {
        let version = Version::NONE;
        let list: Vec<(Vec<u8>, Version)> =
            (0..100u32).map(|i| (vec![i as u8; 52], version)).collect();
        let chunks = version_chunks(list.clone(), 1000);
        assert_eq!(chunks.len(), 10);
        let mut back = Vec::new();
        for (i, c) in chunks.into_iter().enumerate() {
            let Message::Versions { versions, last } = c else {
                panic!("versions");
            };
            assert_eq!(last, i == 9);
            assert!(versions.len() == 10);
            back.extend(versions);
        }
        assert_eq!(back, list);
        // Nothing listed: one empty last chunk. A pair over the budget goes alone.
        assert_eq!(
            version_chunks(Vec::new(), 10),
            vec![Message::Versions {
                versions: vec![],
                last: true
            }]
        );
        assert_eq!(version_chunks(vec![(vec![0; 500], version)], 10).len(), 1);
    }
}
