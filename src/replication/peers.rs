//! [`Peers`]: the node's registry of peer addresses and what it knows of each, without I/O.
//!
//! Rules:
//! - one entry per address (`host:port`, at most 255 bytes); this node's own advertised
//!   address is never added (no dialing ourselves);
//! - addresses learned from the hellos of peers that dialed us ([`PeerSource::Dialed`]) are
//!   capped at `max_learned`, so connecting peers cannot make this node dial without bound;
//! - learned addresses that cannot be reached are forgotten: one whose last
//!   [`LEARNED_MAX_FAILURES`] sessions all ended before a round completed (unreachable, refused,
//!   or silent) is dropped, and at the cap a newcomer takes the place of the learned address
//!   with the most such failures, so junk addresses in hellos cannot keep real newcomers out;
//! - a learned address that is also announced on multicast becomes
//!   [`PeerSource::Discovered`], so that it expires when the announcements stop; configured
//!   and added addresses keep their source and never expire;
//! - an entry's status changes only through the events below: connected, heartbeat, batch
//!   applied, round ended (the one place the cursor moves, after the applier stored it),
//!   session ended.
//!
//! Each entry holds two signals for the driver: `attempted` (the first sync attempt ended,
//! which `Node::start` waits for) and `removed` (dropped with the entry: its puller stops).

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::pull_session::Applied;
use super::status::{PeerSource, PeerStatus};
use crate::{Error, NodeId, Result};

/// What the node keeps of one peer address.
#[derive(Debug)]
pub(crate) struct PeerState {
    /// What the status shows.
    pub(crate) status: PeerStatus,
    /// Which cluster key to dial with: moves on after a failed handshake (key rotation).
    pub(crate) key_index: usize,
    /// Sessions in a row that ended before a round completed.
    failures: u32,
    /// A round completed in the current session.
    round_done: bool,
    /// Set once the first sync attempt ended (a complete round, or a failure).
    attempted: watch::Sender<bool>,
    /// Never sent: dropped with this state when the peer is removed (an expired discovered
    /// peer), which stops its puller and closes its connection.
    _removed: watch::Sender<()>,
}

/// After this many sessions in a row that ended before a round completed, a learned address is
/// forgotten.
pub(crate) const LEARNED_MAX_FAILURES: u32 = 8;

/// The driver's side of a newly registered peer.
#[derive(Debug)]
pub(crate) struct NewPeer {
    /// Becomes true when the first sync attempt ended.
    pub(crate) attempted: watch::Receiver<bool>,
    /// Closes when the peer is removed.
    pub(crate) removed: watch::Receiver<()>,
    /// The failing learned address it replaced, if any: dropped by the caller outside its lock
    /// (that stops its puller).
    pub(crate) evicted: Option<Box<PeerState>>,
}

/// What [`Peers::admit`] made of an address.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Registered: start its puller.
    New(NewPeer),
    /// Already registered (its source may have become `Discovered`).
    Known,
    /// This node's own address.
    Own,
    /// Not `host:port`, or longer than 255 bytes.
    Malformed,
    /// A learned address beyond `max_learned`.
    TooManyLearned,
}

/// Every peer address the node knows.
#[derive(Debug)]
pub(crate) struct Peers {
    map: BTreeMap<String, PeerState>,
    own: Option<String>,
    max_learned: usize,
}

/// Whether `address` is `host:port` with a non-empty host and a valid port, at most 255 bytes.
fn well_formed(address: &str) -> bool {
    address.len() <= 255 && super::config::is_host_port(address)
}

impl Peers {
    /// An empty registry for a node advertising `own`, learning at most `max_learned` addresses
    /// from hellos.
    pub(crate) fn new(own: Option<String>, max_learned: usize) -> Peers {
        Peers {
            map: BTreeMap::new(),
            own,
            max_learned,
        }
    }

    /// Registers `address`, heard of from `source`, unless known or refused.
    pub(crate) fn admit(&mut self, address: &str, source: PeerSource) -> Admission {
        if self.own.as_deref() == Some(address) {
            return Admission::Own;
        }
        if !well_formed(address) {
            return Admission::Malformed;
        }
        if let Some(known) = self.map.get_mut(address) {
            if source == PeerSource::Discovered && known.status.source == PeerSource::Dialed {
                known.status.source = PeerSource::Discovered;
            }
            return Admission::Known;
        }
        let learned = self
            .map
            .values()
            .filter(|p| p.status.source == PeerSource::Dialed)
            .count();
        let mut evicted = None;
        if source == PeerSource::Dialed && learned >= self.max_learned {
            // Make room by dropping the learned address that failed most, if any failed.
            let worst = self
                .map
                .iter()
                .filter(|(_, p)| p.status.source == PeerSource::Dialed && p.failures > 0)
                .max_by_key(|(a, p)| (p.failures, std::cmp::Reverse(a.as_str())))
                .map(|(a, _)| a.clone());
            match worst {
                Some(a) => evicted = self.map.remove(&a).map(Box::new),
                None => return Admission::TooManyLearned,
            }
        }
        let (attempted, attempted_rx) = watch::channel(false);
        let (removed_tx, removed) = watch::channel(());
        self.map.insert(
            address.to_string(),
            PeerState {
                status: PeerStatus::new(address.to_string(), source),
                key_index: 0,
                failures: 0,
                round_done: false,
                attempted,
                _removed: removed_tx,
            },
        );
        Admission::New(NewPeer {
            attempted: attempted_rx,
            removed,
            evicted,
        })
    }

    /// Forgets `address` if it is a learned one that failed [`LEARNED_MAX_FAILURES`] times in
    /// a row; the caller drops the returned state outside its lock (that stops the puller).
    pub(crate) fn forget_failing(&mut self, address: &str) -> Option<PeerState> {
        match self.map.get(address) {
            Some(p)
                if p.status.source == PeerSource::Dialed && p.failures >= LEARNED_MAX_FAILURES =>
            {
                self.map.remove(address)
            }
            _ => None,
        }
    }

    /// Removes a discovered address whose announcements stopped; others stay. The caller drops
    /// the returned state outside its lock (that stops the puller).
    pub(crate) fn expire(&mut self, address: &str) -> Option<PeerState> {
        match self.map.get(address) {
            Some(p) if p.status.source == PeerSource::Discovered => self.map.remove(address),
            _ => None,
        }
    }

    /// Forgets the addresses that reached node `id`, a decommissioned member, except configured
    /// and added ones (an operator's list, which may come to hold a new node): returns them, to
    /// drop outside the lock (that stops their pullers).
    pub(crate) fn forget_node(&mut self, id: NodeId) -> Vec<PeerState> {
        let gone: Vec<String> = self
            .map
            .values()
            .filter(|p| p.status.node_id == Some(id))
            .filter(|p| matches!(p.status.source, PeerSource::Dialed | PeerSource::Discovered))
            .map(|p| p.status.address.clone())
            .collect();
        gone.iter().filter_map(|a| self.map.remove(a)).collect()
    }

    /// The node ids of the peers connected now.
    pub(crate) fn connected_ids(&self) -> std::collections::BTreeSet<NodeId> {
        self.map
            .values()
            .filter(|p| p.status.connected)
            .filter_map(|p| p.status.node_id)
            .collect()
    }

    /// The state of `address`, if registered.
    pub(crate) fn get_mut(&mut self, address: &str) -> Option<&mut PeerState> {
        self.map.get_mut(address)
    }

    /// The key to dial `address` with.
    pub(crate) fn key_index(&self, address: &str) -> usize {
        self.map.get(address).map_or(0, |p| p.key_index)
    }

    /// Refuses a second connection to the same node through another address.
    pub(crate) fn check_not_connected_elsewhere(&self, address: &str, id: NodeId) -> Result<()> {
        let elsewhere = self.map.values().any(|p| {
            p.status.address != address && p.status.connected && p.status.node_id == Some(id)
        });
        if elsewhere {
            return Err(Error::Protocol {
                peer: address.to_string(),
                detail: format!("node {id} is already connected through another address"),
            });
        }
        Ok(())
    }

    /// Every peer's status, in address order.
    pub(crate) fn statuses(&self) -> Vec<PeerStatus> {
        self.map.values().map(|p| p.status.clone()).collect()
    }
}

impl PeerState {
    /// The handshake succeeded with node `id`; its stored cursor is `cursor`.
    pub(crate) fn connected(&mut self, id: NodeId, cursor: Option<u64>) {
        self.round_done = false;
        self.status.node_id = Some(id);
        self.status.connected = true;
        self.status.cursor = cursor;
        self.status.last_error = None;
    }

    /// The peer's heartbeat: its last committed sequence.
    pub(crate) fn heartbeat(&mut self, last_seq: u64) {
        self.status.peer_last_seq = Some(last_seq);
        let cursor = self.status.cursor.unwrap_or(0);
        self.status.entries_behind = Some(last_seq.saturating_sub(cursor));
    }

    /// A batch of `received` entries was applied; the round so far holds `round_entries`.
    pub(crate) fn batch_applied(&mut self, received: u64, applied: &Applied, round_entries: u64) {
        self.status.entries_received += received;
        self.status.entries_applied += applied.applied;
        self.status.invalid_entries += applied.refused;
        if applied.refused > 0 {
            self.status.last_refusal.clone_from(&applied.reason);
        }
        self.status.round_entries = round_entries;
    }

    /// A round that ended at `high_seq` was committed and the applier stored the cursor `stored`
    /// (below `high_seq` while `unapplied` refused entries wait to be pulled again).
    pub(crate) fn round_ended(&mut self, stored: u64, high_seq: u64, unapplied: u64) {
        self.status.cursor = Some(stored);
        let last = self.status.peer_last_seq.unwrap_or(high_seq).max(high_seq);
        self.status.peer_last_seq = Some(last);
        self.status.entries_behind = Some(last.saturating_sub(stored));
        self.status.round_entries = 0;
        self.status.unapplied_entries = unapplied;
        self.round_done = true;
        self.failures = 0;
        self.attempted.send_replace(true);
    }

    /// An anti-entropy round with this peer ended with `result`.
    pub(crate) fn repaired(&mut self, result: &Result<crate::RepairReport>) {
        let r = &mut self.status.repair;
        match result {
            Ok(report) => {
                r.rounds += 1;
                r.differing_rounds += u64::from(!report.converged());
                r.fetched += report.fetched;
                r.applied += report.applied;
                r.pushed += report.pushed;
                r.last_round_bytes = report.bytes;
                r.last_error = None;
            }
            Err(e) => {
                r.failed_rounds += 1;
                r.last_error = Some(e.to_string());
            }
        }
    }

    /// A session ended with `result`; returns the text recorded as the last error.
    pub(crate) fn session_ended(&mut self, result: &Result<()>) -> String {
        let error = match result {
            Ok(()) => "connection closed".to_string(),
            Err(e) => e.to_string(),
        };
        self.status.connected = false;
        if !std::mem::take(&mut self.round_done) {
            self.failures = self.failures.saturating_add(1);
        }
        if matches!(
            result,
            Err(Error::Refused { .. }) | Err(Error::Handshake { .. })
        ) {
            self.status.refused += 1;
        }
        if matches!(result, Err(Error::Handshake { .. })) {
            // Perhaps the peer does not know this key (yet, or any more): try the next.
            self.key_index = self.key_index.wrapping_add(1);
        }
        self.status.last_error = Some(error.clone());
        self.attempted.send_replace(true);
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(a: &Admission) -> bool {
        matches!(a, Admission::New(_))
    }

    #[test]
    fn admission_rules() {
        let mut peers = Peers::new(Some("me:1".into()), 2);
        // (address, source, admitted as new?, what otherwise)
        let cases: [(&str, PeerSource, &str); 10] = [
            ("me:1", PeerSource::Configured, "own"),
            ("no-port", PeerSource::Configured, "malformed"),
            (":80", PeerSource::Configured, "malformed"),
            ("h:99999", PeerSource::Configured, "malformed"),
            ("a:1", PeerSource::Configured, "new"),
            ("a:1", PeerSource::Added, "known"),
            ("l1:1", PeerSource::Dialed, "new"),
            ("l2:1", PeerSource::Dialed, "new"),
            // The third learned address is over the cap; configured ones never are.
            ("l3:1", PeerSource::Dialed, "too many"),
            ("b:1", PeerSource::Added, "new"),
        ];
        for (address, source, want) in cases {
            let got = match peers.admit(address, source) {
                a if new(&a) => "new",
                Admission::Known => "known",
                Admission::Own => "own",
                Admission::Malformed => "malformed",
                Admission::TooManyLearned => "too many",
                Admission::New(_) => unreachable!(),
            };
            assert_eq!(got, want, "{address}");
        }
        let long = format!("{}:1", "h".repeat(260));
        assert!(matches!(
            peers.admit(&long, PeerSource::Added),
            Admission::Malformed
        ));
        let addresses: Vec<_> = peers.statuses().into_iter().map(|s| s.address).collect();
        assert_eq!(addresses, ["a:1", "b:1", "l1:1", "l2:1"]);
    }

    #[test]
    fn only_discovered_addresses_expire_and_a_learned_one_announced_becomes_discovered() {
        let mut peers = Peers::new(None, 8);
        let NewPeer { removed, .. } = match peers.admit("l:1", PeerSource::Dialed) {
            Admission::New(p) => p,
            other => panic!("{other:?}"),
        };
        peers.admit("c:1", PeerSource::Configured);
        // Announced: configured stays configured, learned becomes discovered.
        peers.admit("c:1", PeerSource::Discovered);
        peers.admit("l:1", PeerSource::Discovered);
        assert!(peers.expire("c:1").is_none());
        let gone = peers.expire("l:1").expect("discovered expires");
        assert_eq!(gone.status.source, PeerSource::Discovered);
        drop(gone);
        // Its puller hears of it.
        assert!(removed.has_changed().is_err());
        assert_eq!(peers.statuses().len(), 1);
    }

    #[test]
    fn the_cursor_moves_only_at_the_end_of_a_round() {
        let mut peers = Peers::new(None, 8);
        let Admission::New(NewPeer { attempted, .. }) = peers.admit("p:1", PeerSource::Added)
        else {
            panic!("new")
        };
        let p = peers.get_mut("p:1").unwrap();
        p.connected(NodeId([1; 16]), Some(10));
        p.heartbeat(50);
        assert_eq!(
            (p.status.cursor, p.status.entries_behind),
            (Some(10), Some(40))
        );
        let applied = Applied {
            applied: 3,
            refused: 1,
            lowest_refused: Some(12),
            reason: Some("too far ahead".into()),
        };
        p.batch_applied(5, &applied, 5);
        assert_eq!(p.status.cursor, Some(10), "a batch never moves the cursor");
        assert_eq!(
            (
                p.status.entries_received,
                p.status.entries_applied,
                p.status.invalid_entries
            ),
            (5, 3, 1)
        );
        assert_eq!(p.status.last_refusal.as_deref(), Some("too far ahead"));
        assert!(!*attempted.borrow());
        // Held below the refused entry: the cursor stops at 11, one entry waits.
        p.round_ended(11, 40, 1);
        assert_eq!(
            (
                p.status.cursor,
                p.status.entries_behind,
                p.status.unapplied_entries
            ),
            (Some(11), Some(39), 1)
        );
        p.round_ended(40, 40, 0);
        assert_eq!(
            (
                p.status.cursor,
                p.status.entries_behind,
                p.status.round_entries,
                p.status.unapplied_entries
            ),
            (Some(40), Some(10), 0, 0)
        );
        assert!(*attempted.borrow());
        // A round past the last heartbeat raises the peer's known position.
        p.round_ended(60, 60, 0);
        assert_eq!(
            (p.status.peer_last_seq, p.status.entries_behind),
            (Some(60), Some(0))
        );
    }

    #[test]
    fn a_failed_handshake_counts_as_refused_and_moves_to_the_next_key() {
        let mut peers = Peers::new(None, 8);
        peers.admit("p:1", PeerSource::Added);
        let id = NodeId([1; 16]);
        let p = peers.get_mut("p:1").unwrap();
        p.connected(id, None);
        // A second address of the same node is refused while the first is connected.
        assert!(peers.check_not_connected_elsewhere("p:1", id).is_ok());
        assert!(peers.check_not_connected_elsewhere("q:1", id).is_err());
        let p = peers.get_mut("p:1").unwrap();
        let results: [(Result<()>, u64, usize); 4] = [
            (Ok(()), 0, 0),
            (
                Err(Error::Refused {
                    peer: "p".into(),
                    reason: "x".into(),
                }),
                1,
                0,
            ),
            (
                Err(Error::Handshake {
                    peer: "p".into(),
                    detail: "x".into(),
                }),
                2,
                1,
            ),
            (Err(Error::EmptyKey), 2, 1),
        ];
        for (result, refused, key) in results {
            let text = p.session_ended(&result);
            assert!(!p.status.connected);
            assert_eq!(p.status.last_error.as_deref(), Some(text.as_str()));
            assert_eq!((p.status.refused, p.key_index), (refused, key), "{text}");
        }
        assert_eq!(peers.key_index("p:1"), 1);
        assert!(peers.check_not_connected_elsewhere("q:1", id).is_ok());
    }

    #[test]
    fn learned_addresses_that_keep_failing_are_forgotten_or_make_room() {
        let mut peers = Peers::new(None, 2);
        for a in ["junk1:1", "junk2:1"] {
            assert!(new(&peers.admit(a, PeerSource::Dialed)));
        }
        peers.admit("conf:1", PeerSource::Configured);
        // No learned address has failed yet: a newcomer waits.
        assert!(matches!(
            peers.admit("new:1", PeerSource::Dialed),
            Admission::TooManyLearned
        ));
        let fail = |peers: &mut Peers, a: &str, n: u32| {
            for _ in 0..n {
                peers
                    .get_mut(a)
                    .unwrap()
                    .session_ended(&Err(Error::EmptyKey));
            }
        };
        fail(&mut peers, "junk1:1", 3);
        fail(&mut peers, "junk2:1", 1);
        // The newcomer takes the place of the one that failed most.
        match peers.admit("new:1", PeerSource::Dialed) {
            Admission::New(NewPeer { evicted, .. }) => {
                assert_eq!(evicted.unwrap().status.address, "junk1:1");
            }
            other => panic!("{other:?}"),
        }
        // A session that completes a round clears the count.
        let p = peers.get_mut("junk2:1").unwrap();
        p.connected(NodeId([1; 16]), None);
        p.round_ended(5, 5, 0);
        p.session_ended(&Ok(()));
        assert_eq!(p.failures, 0);
        // Failing LEARNED_MAX_FAILURES times in a row forgets a learned address, never a
        // configured one.
        fail(&mut peers, "new:1", LEARNED_MAX_FAILURES - 1);
        assert!(peers.forget_failing("new:1").is_none());
        fail(&mut peers, "new:1", 1);
        assert!(peers.forget_failing("new:1").is_some());
        fail(&mut peers, "conf:1", 2 * LEARNED_MAX_FAILURES);
        assert!(peers.forget_failing("conf:1").is_none());
        let left: Vec<_> = peers.statuses().into_iter().map(|s| s.address).collect();
        assert_eq!(left, ["conf:1", "junk2:1"]);
    }
}
