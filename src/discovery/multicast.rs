//! The discovery task. It only moves bytes and timers: what a datagram means is
//! [`Membership`]'s decision, what a found or lost peer means is the node's. Its sockets come
//! from the [`Transport`] (`crate::net`; the operating system's in production).
//!
//! The task announces at once, then every interval and right after hearing a new peer. It
//! reads datagrams into a buffer one byte larger than the largest announcement (an oversized
//! datagram is seen as such, never allocated), expires peers at their deadline, and on shutdown
//! leaves the group and closes both sockets. A bad datagram or a socket error is logged and
//! counted; it never ends the task.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::announcement::{self, Announcement, Rejection, MAX_DATAGRAM};
use super::membership::{Heard, Membership};
use super::MulticastConfig;
use crate::net::{stopped, LogThrottle, Transport, REFUSAL_LOG_INTERVAL};
use crate::{hlc, Clock, Error, NodeId, Result};

/// What the discovery task tells the node.
pub(crate) trait PeerSet: Send + Sync + 'static {
    /// A peer was heard for the first time (or again after it expired): dial it.
    fn discovered(&self, address: &str);
    /// A discovered peer was not heard for the expiry time: stop dialing it, close its
    /// connection (unless it is also known another way).
    fn expired(&self, address: &str);
}

/// The two sockets of a node's discovery, ready for the task.
pub(crate) struct Sockets<T: Transport> {
    receiver: T::Datagram,
    sender: T::Datagram,
    group: SocketAddrV4,
    interface: Ipv4Addr,
}

/// The address to announce when `advertise` is unset and the node listens on a wildcard
/// address: the interface address with the listen port; with no interface set either, the
/// source address the kernel picks for the group (the local address of a UDP socket
/// "connected" to it — the interface announcements leave by). Never a hard-coded address.
pub(crate) fn wildcard_advertise(config: &MulticastConfig, listen: SocketAddr) -> Result<String> {
    if !config.interface.is_unspecified() {
        return Ok(SocketAddr::new(config.interface.into(), listen.port()).to_string());
    }
    let routed = || -> io::Result<IpAddr> {
        let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        probe.connect(config.group)?;
        Ok(probe.local_addr()?.ip())
    };
    match routed() {
        Ok(ip) if !ip.is_unspecified() => Ok(SocketAddr::new(ip, listen.port()).to_string()),
        other => Err(Error::InvalidOptions {
            field: "discovery.interface",
            reason: format!(
                "listen {listen} is a wildcard address and advertise is not set, and no \
                 interface routes to {} ({}): set NodeConfig::advertise or discovery.interface",
                config.group,
                other
                    .err()
                    .map_or("no source address".into(), |e| e.to_string()),
            ),
        }),
    }
}

/// The runtime's monotonic time as a std `Instant` (simulated time in a simulation).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// What the task announces, and how.
struct Announcer {
    /// This node's announcement; its timestamp is set at each send.
    template: Announcement,
    /// The signing key (from the first cluster key), if any.
    key: Option<[u8; 32]>,
    /// Announcement period.
    interval: Duration,
    /// The node's clock (its database's): announcement timestamps and the replay window.
    clock: Clock,
}

/// A node's discovery, set up and ready to run: sockets open, group joined.
pub(crate) struct Discovery<T: Transport> {
    sockets: Sockets<T>,
    announcer: Announcer,
    /// Shared with the node, which reads its status.
    pub(crate) membership: Arc<Mutex<Membership>>,
}

/// Who a node is, for its discovery.
pub(crate) struct Identity<'a> {
    pub(crate) cluster: &'a str,
    pub(crate) node_id: NodeId,
    pub(crate) cluster_keys: &'a [Vec<u8>],
    pub(crate) advertise: &'a str,
    pub(crate) clock: Clock,
}

impl<T: Transport> Discovery<T> {
    /// Opens the sockets through `transport` and builds the state for node `me.node_id` of
    /// `me.cluster`, announcing `me.advertise`, signing with the first of `me.cluster_keys` and
    /// accepting any of them.
    pub(crate) async fn prepare(
        transport: &T,
        config: &MulticastConfig,
        me: Identity<'_>,
        max_peers: usize,
    ) -> Result<Discovery<T>> {
        let Identity {
            cluster,
            node_id,
            cluster_keys,
            advertise,
            clock,
        } = me;
        let (receiver, sender) = transport.multicast(&config.group_spec()).await?;
        let sockets = Sockets {
            receiver,
            sender,
            group: config.group,
            interface: config.interface,
        };
        let keys: Vec<[u8; 32]> = cluster_keys
            .iter()
            .map(|k| announcement::derive_key(k))
            .collect();
        let announcer = Announcer {
            template: Announcement {
                cluster: cluster.to_string(),
                node_id,
                advertise: advertise.to_string(),
                timestamp_ms: 0,
            },
            key: keys.first().copied(),
            interval: config.interval,
            clock,
        };
        let membership = Membership::new(
            config,
            cluster.to_string(),
            node_id,
            keys,
            advertise.to_string(),
            max_peers,
        );
        Ok(Discovery {
            sockets,
            announcer,
            membership: Arc::new(Mutex::new(membership)),
        })
    }

    /// Runs the task (see [`run`]).
    pub(crate) async fn run<P: PeerSet>(self, peers: P, shutdown: watch::Receiver<bool>) {
        run(
            self.sockets,
            self.membership,
            self.announcer,
            peers,
            shutdown,
        )
        .await
    }
}

/// The discovery task: announces, listens, expires, until `shutdown` turns true (or its sender
/// is dropped).
async fn run<T: Transport, P: PeerSet>(
    sockets: Sockets<T>,
    membership: Arc<Mutex<Membership>>,
    mut announcer: Announcer,
    peers: P,
    mut shutdown: watch::Receiver<bool>,
) {
    let Sockets {
        receiver,
        sender,
        group,
        interface,
    } = sockets;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut tick = tokio::time::interval(announcer.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(%group, %interface, advertise = %announcer.template.advertise, "multicast discovery started");
    // After a receive error, a short pause so that a persistent one cannot spin the task.
    let mut pause = false;
    let mut refusals = LogThrottle::new(REFUSAL_LOG_INTERVAL, 1024);
    let clock = announcer.clock.clone();
    let wall_ms = || hlc::millis(clock.reading());
    loop {
        if std::mem::take(&mut pause) {
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let next_expiry = membership
            .lock()
            .next_expiry()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            _ = tick.tick() => {
                // Strictly increasing, even if the wall clock steps back a little: receivers
                // take only newer timestamps from one node.
                let ts = wall_ms().max(announcer.template.timestamp_ms.saturating_add(1));
                announcer.template.timestamp_ms = ts;
                let datagram = announcer.template.encode(announcer.key.as_ref());
                let sent = T::send_to(&sender, &datagram, group.into()).await;
                if let Err(e) = &sent {
                    tracing::warn!(%group, error = %e, "could not send a discovery announcement");
                }
                membership.lock().sent(sent.is_ok());
            }
            received = T::recv_from(&receiver, &mut buf) => match received {
                Ok((n, from)) => {
                    let n = n.min(buf.len());
                    let heard = membership
                        .lock()
                        .receive(&buf[..n], wall_ms(), now());
                    match heard {
                        Heard::New { address } => {
                            tracing::info!(peer = %address, %from, "discovered a peer");
                            peers.discovered(&address);
                            // Answer a newcomer at once rather than an interval later, so it
                            // learns of us quickly (resets coalesce into one announcement).
                            tick.reset_immediately();
                        }
                        Heard::Moved { from: old, to } => {
                            tracing::info!(old = %old, new = %to, "a discovered peer moved");
                            peers.expired(&old);
                            peers.discovered(&to);
                        }
                        Heard::Refreshed => {}
                        // Our own announcements come back on loopback every interval.
                        Heard::Rejected(why @ Rejection::Own) => {
                            tracing::trace!(%from, reason = %why, "dropped a discovery datagram");
                        }
                        // Counted in status every time; logged once per sender per interval.
                        Heard::Rejected(why) => {
                            if let Some(suppressed) = refusals.allow(&from.ip(), now()) {
                                tracing::warn!(%from, bytes = n, reason = %why, suppressed, "dropped a discovery datagram");
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%group, error = %e, "discovery receive failed");
                    pause = true;
                }
            },
            _ = tokio::time::sleep_until(next_expiry.unwrap_or_else(tokio::time::Instant::now)),
                if next_expiry.is_some() => {
                let gone = membership.lock().expire(now());
                for address in gone {
                    tracing::info!(peer = %address, "a discovered peer expired");
                    peers.expired(&address);
                }
            }
        }
    }
    if let Err(e) = T::leave_multicast(&receiver, *group.ip(), interface) {
        tracing::debug!(%group, error = %e, "leaving the multicast group failed");
    }
    drop((receiver, sender));
    tracing::info!(%group, "multicast discovery stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_takes_the_interface_address() {
        let config = MulticastConfig {
            interface: Ipv4Addr::LOCALHOST,
            ..MulticastConfig::default()
        };
        let listen: SocketAddr = "0.0.0.0:7070".parse().unwrap();
        assert_eq!(
            wildcard_advertise(&config, listen).unwrap(),
            "127.0.0.1:7070"
        );
    }

    #[test]
    fn with_no_interface_the_kernel_route_decides_or_the_error_says_what_to_set() {
        // A connected UDP socket sends nothing: this only asks the routing table.
        let listen: SocketAddr = "0.0.0.0:7070".parse().unwrap();
        match wildcard_advertise(&MulticastConfig::default(), listen) {
            Ok(address) => {
                let addr: SocketAddr = address.parse().unwrap();
                assert!(!addr.ip().is_unspecified());
                assert_eq!(addr.port(), 7070);
            }
            Err(Error::InvalidOptions { field, reason }) => {
                assert_eq!(field, "discovery.interface");
                assert!(reason.contains("advertise"), "{reason}");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}
