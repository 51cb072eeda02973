//! [`Membership`]: the discovered set and the receiver's decisions, as a plain state machine.
//!
//! It is driven by explicit times — the wall clock in milliseconds (for announcement
//! timestamps) and a monotonic [`Instant`] (for expiry) — so its unit tests need neither
//! sockets nor clocks. The multicast task feeds it datagrams and expiry ticks and acts on what
//! it returns.
//!
//! Invariants:
//! - a datagram is accepted only if it decodes, names our cluster, is authenticated under our
//!   keys, is not ours, carries a timestamp within the replay window of our wall clock, and is
//!   strictly newer than the last one accepted from the same node id; every other datagram
//!   bumps exactly one counter and changes nothing else;
//! - a peer (by node id) stays in the set while heard within [`MulticastConfig::expiry`]; when
//!   it expires its address is handed back once, for the node to drop;
//! - the set holds at most `max_peers` node ids, so strangers on an unkeyed group cannot make
//!   it grow without bound.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::announcement::{self, Rejection};
use super::MulticastConfig;
use crate::NodeId;

/// Discovery counters and state, as shown in `NodeStatus::discovery`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryStatus {
    /// The multicast group and port.
    pub group: Option<SocketAddrV4>,
    /// The address this node announces.
    pub advertise: String,
    /// Peers in the discovered set now (heard within the expiry time).
    pub peers: usize,
    /// Announcements sent.
    pub announcements_sent: u64,
    /// Announcements that could not be sent (an error from the socket).
    pub send_errors: u64,
    /// Datagrams accepted: well-formed, ours, authentic, fresh announcements of other nodes.
    pub accepted: u64,
    /// Datagrams dropped as not well-formed (garbage, truncated, unknown version).
    pub malformed: u64,
    /// Datagrams dropped as over the size limit.
    pub too_large: u64,
    /// Announcements of another cluster name.
    pub foreign_cluster: u64,
    /// Announcements without a valid HMAC under any of our keys (another key, none, or one
    /// where we have none).
    pub unauthenticated: u64,
    /// Announcements with a timestamp outside the replay window, or not newer than the last
    /// one accepted from that node.
    pub replayed: u64,
    /// Our own announcements, looped back.
    pub own: u64,
    /// Announcements of new nodes dropped because the discovered set was full.
    pub over_limit: u64,
    /// Peers dropped because they were not heard for the expiry time.
    pub expired: u64,
}

impl DiscoveryStatus {
    /// Every dropped datagram, whatever the reason.
    pub fn rejected(&self) -> u64 {
        self.malformed
            + self.too_large
            + self.foreign_cluster
            + self.unauthenticated
            + self.replayed
            + self.own
            + self.over_limit
    }

    fn count(&mut self, rejection: Rejection) {
        let counter = match rejection {
            Rejection::TooLarge => &mut self.too_large,
            Rejection::Malformed(_) => &mut self.malformed,
            Rejection::ForeignCluster => &mut self.foreign_cluster,
            Rejection::Unauthenticated => &mut self.unauthenticated,
            Rejection::Replayed => &mut self.replayed,
            Rejection::Own => &mut self.own,
            Rejection::OverLimit => &mut self.over_limit,
        };
        *counter += 1;
    }
}

/// What the node should do after a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A node not in the set: dial `address`.
    New {
        /// Its advertised address.
        address: String,
    },
    /// A known node now announces another address (it restarted elsewhere): drop `from`, dial
    /// `to`.
    Moved {
        /// The address it announced before.
        from: String,
        /// The address it announces now.
        to: String,
    },
    /// A known node, still there.
    Refreshed,
    /// Dropped and counted.
    Rejected(Rejection),
}

#[derive(Debug)]
struct Peer {
    address: String,
    last_heard: Instant,
    last_timestamp_ms: u64,
}

/// The discovered set, the receiver's checks and the counters.
#[derive(Debug)]
pub struct Membership {
    cluster: String,
    own_id: NodeId,
    keys: Vec<[u8; 32]>,
    expiry: Duration,
    window_ms: u64,
    max_peers: usize,
    peers: BTreeMap<NodeId, Peer>,
    status: DiscoveryStatus,
}

impl Membership {
    /// An empty set for node `own_id` of `cluster`, accepting announcements signed under any of
    /// `keys` (outputs of [`announcement::derive_key`]; empty: unsigned only).
    pub fn new(
        config: &MulticastConfig,
        cluster: String,
        own_id: NodeId,
        keys: Vec<[u8; 32]>,
        advertise: String,
        max_peers: usize,
    ) -> Self {
        Membership {
            cluster,
            own_id,
            keys,
            expiry: config.expiry(),
            window_ms: config
                .replay_window()
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
            max_peers,
            peers: BTreeMap::new(),
            status: DiscoveryStatus {
                group: Some(config.group),
                advertise,
                ..DiscoveryStatus::default()
            },
        }
    }

    /// Takes one datagram received at wall-clock `wall_ms` (ms since the Unix epoch) and
    /// monotonic time `now`.
    pub fn receive(&mut self, datagram: &[u8], wall_ms: u64, now: Instant) -> Heard {
        match self.judge(datagram, wall_ms, now) {
            Ok(heard) => {
                self.status.accepted += 1;
                heard
            }
            Err(rejection) => {
                self.status.count(rejection);
                Heard::Rejected(rejection)
            }
        }
    }

    fn judge(&mut self, datagram: &[u8], wall_ms: u64, now: Instant) -> Result<Heard, Rejection> {
        let a = announcement::check(datagram, &self.cluster, &self.keys)?;
        if a.node_id == self.own_id {
            return Err(Rejection::Own);
        }
        if a.timestamp_ms.abs_diff(wall_ms) > self.window_ms {
            return Err(Rejection::Replayed);
        }
        if let Some(peer) = self.peers.get_mut(&a.node_id) {
            if a.timestamp_ms <= peer.last_timestamp_ms {
                return Err(Rejection::Replayed);
            }
            peer.last_timestamp_ms = a.timestamp_ms;
            peer.last_heard = now;
            if peer.address == a.advertise {
                return Ok(Heard::Refreshed);
            }
            let from = std::mem::replace(&mut peer.address, a.advertise.clone());
            return Ok(Heard::Moved {
                from,
                to: a.advertise,
            });
        }
        if self.peers.len() >= self.max_peers {
            return Err(Rejection::OverLimit);
        }
        self.peers.insert(
            a.node_id,
            Peer {
                address: a.advertise.clone(),
                last_heard: now,
                last_timestamp_ms: a.timestamp_ms,
            },
        );
        Ok(Heard::New {
            address: a.advertise,
        })
    }

    /// Removes the peers not heard within the expiry time as of `now`; returns their
    /// addresses. A peer heard again later is [`Heard::New`] again.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let expiry = self.expiry;
        let mut gone = Vec::new();
        self.peers.retain(|_, p| {
            let alive = now.saturating_duration_since(p.last_heard) < expiry;
            if !alive {
                gone.push(std::mem::take(&mut p.address));
            }
            alive
        });
        self.status.expired += gone.len() as u64;
        gone
    }

    /// When the next peer expires, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.peers
            .values()
            .map(|p| p.last_heard + self.expiry)
            .min()
    }

    /// Counts an announcement sent, or one the socket refused.
    pub fn sent(&mut self, ok: bool) {
        if ok {
            self.status.announcements_sent += 1;
        } else {
            self.status.send_errors += 1;
        }
    }

    /// The counters and the size of the set.
    pub fn status(&self) -> DiscoveryStatus {
        DiscoveryStatus {
            peers: self.peers.len(),
            ..self.status.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::announcement::{derive_key, Announcement};

    const WALL: u64 = 1_800_000_000_000;
    const ME: NodeId = NodeId([1; 16]);
    const B: NodeId = NodeId([2; 16]);

    fn config() -> MulticastConfig {
        MulticastConfig {
            interval: Duration::from_millis(100),
            expire_after: 3,
            ..MulticastConfig::default()
        }
    }

    fn membership(keys: &[&[u8]]) -> Membership {
        Membership::new(
            &config(),
            "c".into(),
            ME,
            keys.iter().map(|k| derive_key(k)).collect(),
            "127.0.0.1:1".into(),
            2,
        )
    }

    fn datagram(id: NodeId, address: &str, ts: u64, key: Option<&[u8]>) -> Vec<u8> {
        Announcement {
            cluster: "c".into(),
            node_id: id,
            advertise: address.into(),
            timestamp_ms: ts,
        }
        .encode(key.map(derive_key).as_ref())
    }

    fn new(address: &str) -> Heard {
        Heard::New {
            address: address.into(),
        }
    }

    #[test]
    fn new_refreshed_moved_expired_and_back() {
        let mut m = membership(&[]);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(
            m.receive(&datagram(B, "h:1", WALL, None), WALL, t0),
            new("h:1")
        );
        assert_eq!(m.next_expiry(), Some(t0 + ms(350)));
        assert_eq!(
            m.receive(
                &datagram(B, "h:1", WALL + 100, None),
                WALL + 100,
                t0 + ms(100)
            ),
            Heard::Refreshed
        );
        assert_eq!(
            m.receive(
                &datagram(B, "h:2", WALL + 200, None),
                WALL + 200,
                t0 + ms(200)
            ),
            Heard::Moved {
                from: "h:1".into(),
                to: "h:2".into()
            }
        );
        // Expiry counts from the last time heard: 3 intervals and a half.
        assert!(m.expire(t0 + ms(549)).is_empty());
        assert_eq!(m.expire(t0 + ms(550)), vec!["h:2".to_string()]);
        assert!(m.expire(t0 + ms(10_000)).is_empty());
        assert_eq!(m.next_expiry(), None);
        // Heard again: new again.
        assert_eq!(
            m.receive(
                &datagram(B, "h:2", WALL + 900, None),
                WALL + 900,
                t0 + ms(900)
            ),
            new("h:2")
        );
        let s = m.status();
        assert_eq!((s.accepted, s.expired, s.peers, s.rejected()), (4, 1, 1, 0));
    }

    #[test]
    fn each_rejection_has_its_counter_and_changes_nothing() {
        let mut m = membership(&[b"k1", b"k2"]);
        let t = Instant::now();
        let good = |ts| datagram(B, "h:1", ts, Some(b"k2"));
        assert_eq!(m.receive(&good(WALL), WALL, t), new("h:1"));
        let cases: Vec<(Vec<u8>, Rejection)> = vec![
            (b"garbage".to_vec(), Rejection::Malformed("magic")),
            (
                good(WALL + 1)[..20].to_vec(),
                Rejection::Malformed("node id"),
            ),
            (vec![0; 5000], Rejection::TooLarge),
            (
                Announcement {
                    cluster: "other".into(),
                    node_id: B,
                    advertise: "h:1".into(),
                    timestamp_ms: WALL + 1,
                }
                .encode(Some(&derive_key(b"k1"))),
                Rejection::ForeignCluster,
            ),
            (
                datagram(B, "h:1", WALL + 1, Some(b"k3")),
                Rejection::Unauthenticated,
            ),
            (
                datagram(B, "h:1", WALL + 1, None),
                Rejection::Unauthenticated,
            ),
            (good(WALL), Rejection::Replayed),
            (good(WALL - 1), Rejection::Replayed),
            (good(WALL + 10_001), Rejection::Replayed),
            (datagram(ME, "h:9", WALL + 1, Some(b"k1")), Rejection::Own),
        ];
        for (bytes, why) in cases {
            assert_eq!(m.receive(&bytes, WALL, t), Heard::Rejected(why), "{why}");
        }
        let s = m.status();
        assert_eq!(
            (
                s.malformed,
                s.too_large,
                s.foreign_cluster,
                s.unauthenticated,
                s.replayed,
                s.own,
                s.accepted,
                s.peers
            ),
            (2, 1, 1, 2, 3, 1, 1, 1)
        );
        // The first key signs, any key is accepted: k1 still works after k2.
        assert_eq!(
            m.receive(&datagram(B, "h:1", WALL + 5, Some(b"k1")), WALL, t),
            Heard::Refreshed
        );
    }

    #[test]
    fn a_first_announcement_outside_the_window_is_replayed() {
        let mut m = membership(&[]);
        let t = Instant::now();
        let old = datagram(B, "h:1", WALL - 10_001, None);
        assert_eq!(
            m.receive(&old, WALL, t),
            Heard::Rejected(Rejection::Replayed)
        );
        let skewed = datagram(B, "h:1", WALL - 9_000, None);
        assert_eq!(m.receive(&skewed, WALL, t), new("h:1"));
    }

    #[test]
    fn the_set_is_bounded() {
        let mut m = membership(&[]);
        let t = Instant::now();
        for i in 2..4u8 {
            let d = datagram(NodeId([i; 16]), &format!("h:{i}"), WALL, None);
            assert!(matches!(m.receive(&d, WALL, t), Heard::New { .. }));
        }
        let d = datagram(NodeId([9; 16]), "h:9", WALL, None);
        assert_eq!(
            m.receive(&d, WALL, t),
            Heard::Rejected(Rejection::OverLimit)
        );
        assert_eq!(m.status().over_limit, 1);
        // Known peers are still refreshed.
        let d = datagram(NodeId([2; 16]), "h:2", WALL + 1, None);
        assert_eq!(m.receive(&d, WALL, t), Heard::Refreshed);
    }
}
