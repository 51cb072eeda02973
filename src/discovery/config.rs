//! [`MulticastConfig`]: where and how often a node announces itself, and when it forgets peers.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::{Error, Result};

/// UDP multicast discovery settings (`NodeConfig::discovery`). `Default` gives the values below:
///
/// ```
/// use std::net::Ipv4Addr;
/// use std::time::Duration;
/// use meshkv::MulticastConfig;
///
/// let config = MulticastConfig {
///     group: "239.255.70.70:7946".parse().unwrap(), // default group and port
///     interface: Ipv4Addr::UNSPECIFIED,            // which interface joins and sends
///     interval: Duration::from_secs(1),            // announcement period
///     expire_after: 5,                             // missed announcements before a peer is dropped
///     ttl: 1,
/// };
/// assert_eq!(config, MulticastConfig::default());
/// config.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MulticastConfig {
    /// The multicast group and UDP port announcements go to and are heard on. Default
    /// `239.255.70.70:7946` (IPv4 organisation-local scope).
    pub group: SocketAddrV4,
    /// The local interface address that joins the group and sends (`IP_MULTICAST_IF`).
    /// Default `0.0.0.0`: the interface the kernel routes the group to. Tests name `127.0.0.1`.
    pub interface: Ipv4Addr,
    /// Announcement period. Default 1 s; 10 ms ..= 1 h.
    pub interval: Duration,
    /// Announcements a discovered peer may miss before it is dropped (its connection closed):
    /// it expires `expire_after` intervals, plus half an interval of grace for jitter, after it
    /// was last heard. Default 5; at least 1.
    pub expire_after: u32,
    /// IP time-to-live of announcements (`IP_MULTICAST_TTL`): 0 keeps them on this host, 1 on
    /// the local network. Default 1; at most 255.
    pub ttl: u32,
}

impl Default for MulticastConfig {
    fn default() -> Self {
        MulticastConfig {
            group: SocketAddrV4::new(Ipv4Addr::new(239, 255, 70, 70), 7946),
            interface: Ipv4Addr::UNSPECIFIED,
            interval: Duration::from_secs(1),
            expire_after: 5,
            ttl: 1,
        }
    }
}

impl MulticastConfig {
    /// The socket settings the transport opens its multicast sockets with.
    pub fn group_spec(&self) -> crate::net::MulticastGroup {
        crate::net::MulticastGroup {
            group: self.group,
            interface: self.interface,
            ttl: self.ttl,
        }
    }

    /// Checks every field; the error names the first bad one (`discovery.<field>`).
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &'static str, reason: String| Err(Error::InvalidOptions { field, reason });
        if !self.group.ip().is_multicast() {
            return bad(
                "discovery.group",
                format!(
                    "{} is not an IPv4 multicast address (224.0.0.0/4)",
                    self.group.ip()
                ),
            );
        }
        if self.group.port() == 0 {
            return bad("discovery.group", "the port must not be 0".into());
        }
        if self.interface.is_multicast() || self.interface.is_broadcast() {
            return bad(
                "discovery.interface",
                format!("{} is not a local interface address", self.interface),
            );
        }
        if self.interval < Duration::from_millis(10) || self.interval > Duration::from_secs(3600) {
            return bad("discovery.interval", "must be within 10 ms ..= 1 h".into());
        }
        if self.expire_after == 0 {
            return bad("discovery.expire_after", "must be at least 1".into());
        }
        if self.ttl > 255 {
            return bad("discovery.ttl", "must be at most 255".into());
        }
        Ok(())
    }

    /// How long a discovered peer lives after it was last heard: `expire_after` intervals plus
    /// half an interval, so that a peer is dropped once its `expire_after`-th announcement is
    /// late, not while it is on its way.
    pub fn expiry(&self) -> Duration {
        self.interval
            .saturating_mul(self.expire_after)
            .saturating_add(self.interval / 2)
    }

    /// How far an announcement's timestamp may be from the receiver's clock before it counts
    /// as replayed: twice the interval, and never less than 10 s (clocks of different machines
    /// disagree a little).
    pub fn replay_window(&self) -> Duration {
        self.interval.saturating_mul(2).max(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(c: MulticastConfig) -> &'static str {
        match c.validate() {
            Err(Error::InvalidOptions { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_is_the_documented_one_and_valid() {
        let d = MulticastConfig::default();
        assert_eq!(d.group, "239.255.70.70:7946".parse().unwrap());
        assert_eq!(d.interface, Ipv4Addr::UNSPECIFIED);
        assert_eq!(d.interval, Duration::from_secs(1));
        assert_eq!((d.expire_after, d.ttl), (5, 1));
        d.validate().unwrap();
        assert_eq!(d.expiry(), Duration::from_millis(5500));
        assert_eq!(d.replay_window(), Duration::from_secs(10));
    }

    #[test]
    fn bad_fields_are_named() {
        let d = MulticastConfig::default;
        assert_eq!(
            field(MulticastConfig {
                group: "10.0.0.1:7946".parse().unwrap(),
                ..d()
            }),
            "discovery.group"
        );
        assert_eq!(
            field(MulticastConfig {
                group: "239.1.1.1:0".parse().unwrap(),
                ..d()
            }),
            "discovery.group"
        );
        assert_eq!(
            field(MulticastConfig {
                interface: Ipv4Addr::new(239, 1, 1, 1),
                ..d()
            }),
            "discovery.interface"
        );
        assert_eq!(
            field(MulticastConfig {
                interval: Duration::ZERO,
                ..d()
            }),
            "discovery.interval"
        );
        assert_eq!(
            field(MulticastConfig {
                expire_after: 0,
                ..d()
            }),
            "discovery.expire_after"
        );
        assert_eq!(field(MulticastConfig { ttl: 256, ..d() }), "discovery.ttl");
        MulticastConfig {
            interface: Ipv4Addr::LOCALHOST,
            ttl: 0,
            interval: Duration::from_millis(10),
            expire_after: 1,
            ..d()
        }
        .validate()
        .unwrap();
    }
}
