//! Replication settings: the [`NodeConfig`] of the node, its cluster keys included.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{named, ConfigError};
use super::keys;
use super::setting::settings;
use crate::{MulticastConfig, NodeConfig};

settings! {
    /// The replicating node's settings (discovery aside: [`DiscoverySettings`]).
    ///
    /// [`DiscoverySettings`]: super::DiscoverySettings
    #[settings(heading = "Replication", table = "", values = NodeValues, file = NodeFile)]
    pub struct NodeSettings {
        /// Replication address (TCP); port 0 picks a free port.
        #[setting(flag = "listen", env = "MESHKV_LISTEN", value_name = "ADDR")]
        listen: SocketAddr = NodeConfig::default().listen;

        /// Address peers dial to reach this node, host:port.
        #[setting(
            flag = "advertise",
            env = "MESHKV_ADVERTISE",
            value_name = "HOST:PORT",
            shown = "the listen address"
        )]
        advertise: String => Option<String> = NodeConfig::default().advertise;

        /// Peer to pull from, host:port (may be repeated; comma-separated in the environment).
        #[setting(flag = "peer", env = "MESHKV_PEERS", value_name = "HOST:PORT", shown = "none")]
        peers: Vec<String> = NodeConfig::default().peers;

        /// Cluster name; peers of another cluster are refused.
        #[setting(flag = "cluster", env = "MESHKV_CLUSTER", value_name = "NAME")]
        cluster: String = NodeConfig::default().cluster;

        /// Files of cluster keys, hex, one per line, `#` comments (may be repeated;
        /// comma-separated in the environment): the first key dials, every key is accepted.
        /// The keys themselves never come from a flag.
        #[setting(
            flag = "cluster-key-file",
            env = "MESHKV_CLUSTER_KEY_FILE",
            value_name = "FILE",
            shown = "none: plaintext"
        )]
        cluster_key_file: Vec<PathBuf> = Vec::new();

        /// How long start-up waits for one sync round with each configured peer.
        #[setting(
            flag = "initial-sync-timeout",
            env = "MESHKV_INITIAL_SYNC_TIMEOUT",
            value_name = "DURATION"
        )]
        initial_sync_timeout: Duration = NodeConfig::default().initial_sync_timeout;

        /// Heartbeat period; a connection silent for 3 periods is dead.
        #[setting(
            flag = "heartbeat-interval",
            env = "MESHKV_HEARTBEAT_INTERVAL",
            value_name = "DURATION"
        )]
        heartbeat_interval: Duration = NodeConfig::default().heartbeat_interval;

        /// First reconnect delay (doubles with jitter up to reconnect_max).
        #[setting(flag = "reconnect-min", env = "MESHKV_RECONNECT_MIN", value_name = "DURATION")]
        reconnect_min: Duration = NodeConfig::default().reconnect_min;

        /// Longest reconnect delay.
        #[setting(flag = "reconnect-max", env = "MESHKV_RECONNECT_MAX", value_name = "DURATION")]
        reconnect_max: Duration = NodeConfig::default().reconnect_max;

        /// Largest replication message accepted, in bytes; 64 KiB ..= 1 GiB.
        #[setting(flag = "max-frame-size", env = "MESHKV_MAX_FRAME_SIZE", value_name = "BYTES")]
        max_frame_size: usize = NodeConfig::default().max_frame_size;

        /// Target size of one sync batch in bytes; at most half of max_frame_size.
        #[setting(
            flag = "sync-batch-bytes",
            env = "MESHKV_SYNC_BATCH_BYTES",
            value_name = "BYTES"
        )]
        sync_batch_bytes: usize = NodeConfig::default().sync_batch_bytes;

        /// Most replication connections accepted at once.
        #[setting(flag = "max-connections", env = "MESHKV_MAX_CONNECTIONS", value_name = "N")]
        max_connections: usize = NodeConfig::default().max_connections;

        /// Most accepted connections still in their handshake (before authentication), at
        /// most max_connections; the rest are closed on arrival.
        #[setting(flag = "max-handshakes", env = "MESHKV_MAX_HANDSHAKES", value_name = "N")]
        max_handshakes: usize = NodeConfig::default().max_handshakes;

        /// Time an accepted connection has to complete its handshake.
        #[setting(
            flag = "handshake-timeout",
            env = "MESHKV_HANDSHAKE_TIMEOUT",
            value_name = "DURATION"
        )]
        handshake_timeout: Duration = NodeConfig::default().handshake_timeout;

        /// How far ahead of this node's clock a peer's timestamp may be, 1 s ..= 1 day; entries
        /// further ahead wait until this clock catches up.
        #[setting(
            flag = "max-clock-drift",
            env = "MESHKV_MAX_CLOCK_DRIFT",
            value_name = "DURATION"
        )]
        max_clock_drift: Duration = NodeConfig::default().max_clock_drift;

        /// How often to compare digests with each connected peer and repair what differs, 100ms
        /// ..= 1 day; 0 turns the rounds off.
        #[setting(
            flag = "anti-entropy-interval",
            env = "MESHKV_ANTI_ENTROPY_INTERVAL",
            value_name = "DURATION"
        )]
        anti_entropy_interval: Duration = NodeConfig::default()
            .anti_entropy_interval
            .unwrap_or_default();

        /// How long a member may stay silent before this node declares it gone and stops
        /// waiting for it, at least ten heartbeat intervals; 0 (the default) waits forever.
        #[setting(
            flag = "member-timeout",
            env = "MESHKV_MEMBER_TIMEOUT",
            value_name = "DURATION"
        )]
        member_timeout: Duration = NodeConfig::default()
            .member_timeout
            .unwrap_or_default();

        /// Allow plaintext replication, the HTTP API and the RESP listener on a non-loopback
        /// address.
        #[setting(flag = "allow-insecure", env = "MESHKV_ALLOW_INSECURE", value_name = "BOOL")]
        allow_insecure: bool = NodeConfig::default().allow_insecure;
    }
}

impl NodeValues {
    /// The node's configuration with its cluster keys (`env_keys`, the value of
    /// [`CLUSTER_KEY_ENV`](super::CLUSTER_KEY_ENV), else the key files) and `discovery`,
    /// validated ([`NodeConfig::validate`]).
    pub fn node_config(
        self,
        env_keys: Option<&str>,
        discovery: Option<MulticastConfig>,
    ) -> Result<NodeConfig, ConfigError> {
        let cluster_keys = keys::cluster_keys(env_keys, &self.cluster_key_file)?;
        let node = NodeConfig {
            listen: self.listen,
            advertise: self.advertise,
            peers: self.peers,
            cluster: self.cluster,
            cluster_keys,
            initial_sync_timeout: self.initial_sync_timeout,
            heartbeat_interval: self.heartbeat_interval,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
            max_frame_size: self.max_frame_size,
            sync_batch_bytes: self.sync_batch_bytes,
            max_connections: self.max_connections,
            max_handshakes: self.max_handshakes,
            handshake_timeout: self.handshake_timeout,
            allow_insecure: self.allow_insecure,
            max_clock_drift: self.max_clock_drift,
            anti_entropy_interval: (!self.anti_entropy_interval.is_zero())
                .then_some(self.anti_entropy_interval),
            member_timeout: (!self.member_timeout.is_zero()).then_some(self.member_timeout),
            discovery,
            // The resolver: last-writer-wins (custom resolvers are a library feature).
            ..NodeConfig::default()
        };
        node.validate().map_err(named)?;
        Ok(node)
    }
}
