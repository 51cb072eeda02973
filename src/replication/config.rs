//! [`NodeConfig`]: how a [`Node`](super::Node) listens, whom it dials, and its limits.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::{Error, LastWriteWins, MulticastConfig, Resolver, Result};

/// Configuration of a replicating [`Node`](super::Node). `Default` plus the fields you need:
///
/// ```
/// use meshkv::NodeConfig;
/// let config = NodeConfig {
///     listen: "127.0.0.1:0".parse().unwrap(),
///     cluster: "prod-cache".into(),
///     ..NodeConfig::default()
/// };
/// config.validate().unwrap();
/// ```
#[derive(Clone)]
pub struct NodeConfig {
    /// Address to listen on for peers. Default `127.0.0.1:7070`; port 0 picks a free port
    /// (read it back with `Node::local_addr`).
    pub listen: SocketAddr,
    /// Address peers should dial to reach this node, if not `listen` (behind NAT, or when
    /// listening on a wildcard address). Default `None`.
    pub advertise: Option<String>,
    /// Peers to dial, `host:port`; names are resolved again on every reconnect. Default empty.
    pub peers: Vec<String>,
    /// Cluster name; peers of another cluster are refused. Default `"meshkv"`.
    pub cluster: String,
    /// Cluster keys: the first is used to dial, any is accepted (rotation). Empty (the default)
    /// means plaintext, which is refused on a non-loopback `listen` unless `allow_insecure`.
    /// Never logged or shown.
    pub cluster_keys: Vec<Vec<u8>>,
    /// Chooses between two writes of a key with equal clocks. Default [`LastWriteWins`].
    pub resolver: Arc<dyn Resolver>,
    /// How long `Node::start` waits for one sync round with each configured peer. Default 5 s.
    pub initial_sync_timeout: Duration,
    /// Heartbeat period; a connection silent for 3 periods is dead. Default 1 s.
    pub heartbeat_interval: Duration,
    /// First reconnect delay; doubles (with jitter) up to `reconnect_max`. Default 100 ms.
    pub reconnect_min: Duration,
    /// Longest reconnect delay. Default 10 s.
    pub reconnect_max: Duration,
    /// Largest message accepted from an authenticated peer, in bytes. Default 80 MiB (a 64 MiB
    /// value and its key fit).
    pub max_frame_size: usize,
    /// Target size of one sync batch, in bytes. Default 1 MiB.
    pub sync_batch_bytes: usize,
    /// Largest number of accepted connections at once. Default 256.
    pub max_connections: usize,
    /// Largest number of accepted connections still in their handshake (not yet
    /// authenticated), within `max_connections`. Connections over it are closed at once and
    /// counted (`NodeStatus::inbound_over_limit`), so half-open or slow connections cannot take
    /// every slot. Default 64.
    pub max_handshakes: usize,
    /// Time an accepted connection has to complete its handshake. Default 5 s.
    pub handshake_timeout: Duration,
    /// Allow plaintext on a non-loopback address. Default `false`.
    pub allow_insecure: bool,
    /// UDP multicast discovery: announce this node and dial the peers heard on the group.
    /// Default `None` (off); see [`MulticastConfig`].
    pub discovery: Option<MulticastConfig>,
    /// How far ahead of this node's wall clock a peer's timestamp may be. An entry further
    /// ahead is refused (and pulled again later, once this clock has caught up); this node's
    /// hybrid clock adopts remote timestamps only up to half of it, so its own writes stay
    /// acceptable to every peer whose clock is within half of it. 1 s ..= 1 day; default
    /// 15 minutes (see docs/design.md, "Clocks").
    pub max_clock_drift: Duration,
    /// How often this node compares its digests with each connected peer's and repairs what
    /// differs, both ways (docs/design.md, "Digests"); `None`: never (only
    /// `Node::verify_peer`). Each round runs on a connection of its own, jittered to 75–100 %
    /// of the interval. 100 ms ..= 1 day; default 5 s, so a divergence is found and repaired
    /// in under 10 s.
    pub anti_entropy_interval: Option<Duration>,
    /// How long a member may stay silent (no connection, no write of it, no peer that heard of
    /// it) before this node declares it gone and stops waiting for it (`Node::members` shows it
    /// `Gone`; heard again, it is active again). `None` (the default): wait forever, so that a
    /// member down for a week comes back to a cluster that forgot nothing it lacks. At least
    /// ten heartbeat intervals (member rows are relayed every five) and 1 s, at most 10 years.
    pub member_timeout: Option<Duration>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            advertise: None,
            peers: Vec::new(),
            cluster: "meshkv".into(),
            cluster_keys: Vec::new(),
            resolver: Arc::new(LastWriteWins),
            initial_sync_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(1),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            max_frame_size: 80 << 20,
            sync_batch_bytes: 1 << 20,
            max_connections: 256,
            max_handshakes: 64,
            handshake_timeout: Duration::from_secs(5),
            allow_insecure: false,
            discovery: None,
            max_clock_drift: crate::storage::DEFAULT_MAX_CLOCK_DRIFT,
            anti_entropy_interval: Some(Duration::from_secs(5)),
            member_timeout: None,
        }
    }
}

impl fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeConfig")
            .field("listen", &self.listen)
            .field("advertise", &self.advertise)
            .field("peers", &self.peers)
            .field("cluster", &self.cluster)
            .field(
                "cluster_keys",
                &format_args!("[{} keys, redacted]", self.cluster_keys.len()),
            )
            .field("initial_sync_timeout", &self.initial_sync_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("max_frame_size", &self.max_frame_size)
            .field("sync_batch_bytes", &self.sync_batch_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_handshakes", &self.max_handshakes)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("allow_insecure", &self.allow_insecure)
            .field("discovery", &self.discovery)
            .field("max_clock_drift", &self.max_clock_drift)
            .field("anti_entropy_interval", &self.anti_entropy_interval)
            .field("member_timeout", &self.member_timeout)
            .finish()
    }
}

impl NodeConfig {
    /// [`NodeConfig::validate`], and that the largest message this node can send with the
    /// database `options` (a sync batch, or the largest key and value alone) fits
    /// `max_frame_size`. [`Node::start`](super::Node::start) runs it.
    pub fn validate_for(&self, options: &crate::Options) -> Result<()> {
        self.validate()?;
        let limits = super::message::Limits::of(options, self);
        if limits.largest_message() > self.max_frame_size as u64 {
            return Err(Error::InvalidOptions {
                field: "max_frame_size",
                reason: format!(
                    "{} bytes cannot carry a value of max_value_size ({}) with a key of \
                     max_key_size ({}); raise max_frame_size or lower max_value_size",
                    self.max_frame_size, options.max_value_size, options.max_key_size
                ),
            });
        }
        Ok(())
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &'static str, reason: String| Err(Error::InvalidOptions { field, reason });
        if self.cluster.is_empty() || self.cluster.len() > 255 {
            return bad("cluster", "must hold 1 to 255 bytes".into());
        }
        if self.cluster_keys.iter().any(|k| k.len() < 16) {
            return bad(
                "cluster_keys",
                "every key must hold at least 16 bytes (use 32 random bytes)".into(),
            );
        }
        if self.cluster_keys.is_empty() && !self.listen.ip().is_loopback() && !self.allow_insecure {
            return bad(
                "cluster_keys",
                format!(
                    "no cluster key: refusing to serve plaintext on non-loopback address {}; set \
                     cluster keys, or allow_insecure to accept the risk",
                    self.listen
                ),
            );
        }
        if self.heartbeat_interval < Duration::from_millis(10) {
            return bad("heartbeat_interval", "must be at least 10 ms".into());
        }
        if self.reconnect_min.is_zero() || self.reconnect_min > self.reconnect_max {
            return bad(
                "reconnect_min",
                "must be above zero and at most reconnect_max".into(),
            );
        }
        if self.max_frame_size < 1 << 16 || self.max_frame_size > 1 << 30 {
            return bad("max_frame_size", "must be within 64 KiB ..= 1 GiB".into());
        }
        if self.sync_batch_bytes == 0 || self.sync_batch_bytes > self.max_frame_size / 2 {
            return bad(
                "sync_batch_bytes",
                "must be above zero and at most half of max_frame_size".into(),
            );
        }
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1".into());
        }
        if self.max_handshakes == 0 || self.max_handshakes > self.max_connections {
            return bad(
                "max_handshakes",
                "must be at least 1 and at most max_connections".into(),
            );
        }
        if self.handshake_timeout.is_zero() || self.initial_sync_timeout.is_zero() {
            return bad("handshake_timeout", "timeouts must be above zero".into());
        }
        if let Some(adv) = &self.advertise {
            if adv.len() > 255 || !is_host_port(adv) {
                return bad(
                    "advertise",
                    format!("{adv:?} is not host:port of at most 255 bytes"),
                );
            }
        }
        if let Some(discovery) = &self.discovery {
            discovery.validate()?;
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600))
            .contains(&self.max_clock_drift)
        {
            return bad("max_clock_drift", "must be within 1 s ..= 1 day".into());
        }
        if let Some(every) = self.anti_entropy_interval {
            if !(Duration::from_millis(100)..=Duration::from_secs(24 * 3600)).contains(&every) {
                return bad(
                    "anti_entropy_interval",
                    "must be within 100 ms ..= 1 day".into(),
                );
            }
        }
        if let Some(timeout) = self.member_timeout {
            let least = (self.heartbeat_interval * 10).max(Duration::from_secs(1));
            if timeout < least || timeout > Duration::from_secs(10 * 365 * 24 * 3600) {
                return bad(
                    "member_timeout",
                    format!("must be within {least:?} (ten heartbeat intervals, 1 s at least) ..= 10 years"),
                );
            }
        }
        for p in &self.peers {
            if !is_host_port(p) {
                return bad("peers", format!("{p:?} is not host:port"));
            }
        }
        Ok(())
    }
}

/// `host:port` with a non-empty host and a numeric port.
pub(super) fn is_host_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(c: NodeConfig) -> &'static str {
        match c.validate() {
            Err(Error::InvalidOptions { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_is_valid_and_bad_fields_are_named() {
        NodeConfig::default().validate().unwrap();
        let wild = NodeConfig {
            listen: "0.0.0.0:7070".parse().unwrap(),
            ..NodeConfig::default()
        };
        assert_eq!(field(wild.clone()), "cluster_keys");
        NodeConfig {
            allow_insecure: true,
            ..wild.clone()
        }
        .validate()
        .unwrap();
        NodeConfig {
            cluster_keys: vec![vec![1; 32]],
            ..wild
        }
        .validate()
        .unwrap();
        assert_eq!(
            field(NodeConfig {
                cluster: String::new(),
                ..NodeConfig::default()
            }),
            "cluster"
        );
        assert_eq!(
            field(NodeConfig {
                cluster_keys: vec![vec![1; 3]],
                ..NodeConfig::default()
            }),
            "cluster_keys"
        );
        assert_eq!(
            field(NodeConfig {
                peers: vec!["nope".into()],
                ..NodeConfig::default()
            }),
            "peers"
        );
        for drift in [
            Duration::from_millis(999),
            Duration::from_secs(24 * 3600 + 1),
        ] {
            assert_eq!(
                field(NodeConfig {
                    max_clock_drift: drift,
                    ..NodeConfig::default()
                }),
                "max_clock_drift"
            );
        }
        for every in [
            Duration::from_millis(99),
            Duration::from_secs(24 * 3600 + 1),
        ] {
            assert_eq!(
                field(NodeConfig {
                    anti_entropy_interval: Some(every),
                    ..NodeConfig::default()
                }),
                "anti_entropy_interval"
            );
        }
        NodeConfig {
            anti_entropy_interval: None,
            ..NodeConfig::default()
        }
        .validate()
        .unwrap();
        for timeout in [
            Duration::from_millis(999),
            Duration::from_secs(11 * 365 * 24 * 3600),
        ] {
            assert_eq!(
                field(NodeConfig {
                    member_timeout: Some(timeout),
                    ..NodeConfig::default()
                }),
                "member_timeout"
            );
        }
        assert_eq!(
            field(NodeConfig {
                member_timeout: Some(Duration::from_secs(9)),
                heartbeat_interval: Duration::from_secs(1),
                ..NodeConfig::default()
            }),
            "member_timeout"
        );
        NodeConfig {
            member_timeout: Some(Duration::from_secs(10)),
            heartbeat_interval: Duration::from_secs(1),
            ..NodeConfig::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            field(NodeConfig {
                discovery: Some(MulticastConfig {
                    expire_after: 0,
                    ..MulticastConfig::default()
                }),
                ..NodeConfig::default()
            }),
            "discovery.expire_after"
        );
        NodeConfig {
            discovery: Some(MulticastConfig::default()),
            ..NodeConfig::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            field(NodeConfig {
                advertise: Some("no-port".into()),
                ..NodeConfig::default()
            }),
            "advertise"
        );
        assert_eq!(
            field(NodeConfig {
                max_handshakes: 0,
                ..NodeConfig::default()
            }),
            "max_handshakes"
        );
        assert_eq!(
            field(NodeConfig {
                max_handshakes: 300,
                ..NodeConfig::default()
            }),
            "max_handshakes"
        );
        assert_eq!(
            field(NodeConfig {
                max_frame_size: 10,
                ..NodeConfig::default()
            }),
            "max_frame_size"
        );
    }

    #[test]
    fn debug_never_shows_keys() {
        let c = NodeConfig {
            cluster_keys: vec![b"super-secret-key-bytes".to_vec()],
            ..NodeConfig::default()
        };
        let text = format!("{c:?}");
        assert!(!text.contains("super-secret"));
        assert!(!text.contains("115, 117")); // nor as numbers
    }
}
