//! [`ServerConfig`]: everything `meshkv serve` needs, from a TOML file, `MESHKV_*` environment
//! variables and flags.
//!
//! Precedence, per field: flag > environment variable > config file > default. Clap reads the
//! flags and the environment ([`ServeArgs`]); [`ServerConfig::load`] reads the file (unknown
//! fields are an error), merges, reads the cluster keys and validates everything with
//! [`Options::validate`] and [`NodeConfig::validate`]. Every problem is a [`ConfigError`] that
//! names the field (`meshkv serve` exits with code 2).
//!
//! Cluster keys never come from a flag (flags show in `ps`): from `cluster_key_file` (one or
//! several files; each non-empty line not starting with `#` is one key in hex, at least 32 hex
//! digits; the first key of the first file dials, every key is accepted: rotation) or from the
//! environment variable `MESHKV_CLUSTER_KEY` (hex keys separated by commas), which wins over
//! the files. They are never logged: `NodeConfig`'s `Debug` redacts them.
//!
//! Durations are written with a unit: `250ms`, `5s`, `2m`, `1h`. Sizes are integers in bytes.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::resp::{self, RespConfig};
use crate::{Durability, MulticastConfig, NodeConfig, NodeId, Options};

/// Environment variable holding cluster keys (hex, comma-separated).
pub const CLUSTER_KEY_ENV: &str = "MESHKV_CLUSTER_KEY";

/// A configuration problem: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as named in the config file (`listen`, `discovery.ttl`, ...).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid config: `{}`: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn bad(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// The flags of `meshkv serve`, each also read from its `MESHKV_*` environment variable.
/// Every field is optional here: what is not given falls back to the config file, then to the
/// default stated in its help.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (fields named as the flags, with `_` for `-`; discovery settings in a
    /// `[discovery]` table).
    #[arg(long, env = "MESHKV_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database folder, created if missing. [default: meshkv-data]
    #[arg(long, env = "MESHKV_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP API address; port 0 picks a free port. The API has no authentication: a
    /// non-loopback address needs --allow-insecure. [default: 127.0.0.1:8080]
    #[arg(long, env = "MESHKV_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// Files of cluster keys, hex, one per line (may be repeated; comma-separated in the
    /// environment). The keys themselves never come from a flag. [default: none: plaintext]
    #[arg(
        long = "cluster-key-file",
        env = "MESHKV_CLUSTER_KEY_FILE",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub cluster_key_file: Vec<PathBuf>,

    /// `buffered` (WAL without fsync: survives a process crash) or `sync` (fsync before a
    /// write returns: survives power loss). [default: buffered]
    #[arg(long, env = "MESHKV_DURABILITY", value_name = "MODE")]
    pub durability: Option<String>,
    /// Node id of a new database, 32 hex digits. [default: random at creation]
    #[arg(long, env = "MESHKV_NODE_ID", value_name = "HEX")]
    pub node_id: Option<String>,
    /// Largest key in bytes; 1 ..= 16 MiB. Larger keys get HTTP 413. [default: 65536]
    #[arg(long, env = "MESHKV_MAX_KEY_SIZE", value_name = "BYTES")]
    pub max_key_size: Option<usize>,
    /// Largest value in bytes; at most 1 GiB. Larger bodies get HTTP 413. [default: 67108864]
    #[arg(long, env = "MESHKV_MAX_VALUE_SIZE", value_name = "BYTES")]
    pub max_value_size: Option<usize>,
    /// RocksDB block cache in bytes; at least 1 MiB. [default: 67108864]
    #[arg(long, env = "MESHKV_CACHE_SIZE", value_name = "BYTES")]
    pub cache_size: Option<usize>,
    /// RocksDB memtable budget in bytes; at least 4 MiB. [default: 67108864]
    #[arg(long, env = "MESHKV_WRITE_BUFFER_SIZE", value_name = "BYTES")]
    pub write_buffer_size: Option<usize>,
    /// Changes a watcher may fall behind before it gets `lagged`; 1 ..= 1048576.
    /// [default: 4096]
    #[arg(long, env = "MESHKV_WATCH_BUFFER", value_name = "CHANGES")]
    pub watch_buffer: Option<usize>,

    /// Replication address (TCP); port 0 picks a free port. [default: 127.0.0.1:7070]
    #[arg(long, env = "MESHKV_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address peers should dial to reach this node, host:port. [default: the listen address]
    #[arg(long, env = "MESHKV_ADVERTISE", value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Peer to pull from, host:port (may be repeated; comma-separated in the environment).
    /// [default: none]
    #[arg(
        long = "peer",
        env = "MESHKV_PEERS",
        value_name = "HOST:PORT",
        value_delimiter = ','
    )]
    pub peers: Vec<String>,
    /// Cluster name; peers of another cluster are refused. [default: meshkv]
    #[arg(long, env = "MESHKV_CLUSTER", value_name = "NAME")]
    pub cluster: Option<String>,
    /// How long start-up waits for one sync round with each configured peer. [default: 5s]
    #[arg(long, env = "MESHKV_INITIAL_SYNC_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub initial_sync_timeout: Option<Duration>,
    /// Heartbeat period; a connection silent for 3 periods is dead. [default: 1s]
    #[arg(long, env = "MESHKV_HEARTBEAT_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub heartbeat_interval: Option<Duration>,
    /// First reconnect delay (doubles with jitter up to reconnect-max). [default: 100ms]
    #[arg(long, env = "MESHKV_RECONNECT_MIN", value_name = "DURATION", value_parser = parse_duration)]
    pub reconnect_min: Option<Duration>,
    /// Longest reconnect delay. [default: 10s]
    #[arg(long, env = "MESHKV_RECONNECT_MAX", value_name = "DURATION", value_parser = parse_duration)]
    pub reconnect_max: Option<Duration>,
    /// Largest replication message accepted, in bytes; 64 KiB ..= 1 GiB. [default: 83886080]
    #[arg(long, env = "MESHKV_MAX_FRAME_SIZE", value_name = "BYTES")]
    pub max_frame_size: Option<usize>,
    /// Target size of one sync batch in bytes; at most half of max-frame-size.
    /// [default: 1048576]
    #[arg(long, env = "MESHKV_SYNC_BATCH_BYTES", value_name = "BYTES")]
    pub sync_batch_bytes: Option<usize>,
    /// Most replication connections accepted at once. [default: 256]
    #[arg(long, env = "MESHKV_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Most accepted connections still in their handshake (before authentication); the rest
    /// are closed on arrival. [default: 64]
    #[arg(long, env = "MESHKV_MAX_HANDSHAKES", value_name = "N")]
    pub max_handshakes: Option<usize>,
    /// Time an accepted connection has to complete its handshake. [default: 5s]
    #[arg(long, env = "MESHKV_HANDSHAKE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub handshake_timeout: Option<Duration>,
    /// Allow plaintext replication, the HTTP API and the RESP listener on a non-loopback
    /// address.
    /// [default: false]
    #[arg(long, env = "MESHKV_ALLOW_INSECURE", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_insecure: Option<bool>,

    /// Redis protocol (RESP2) address; port 0 picks a free port. No authentication: a
    /// non-loopback address needs --allow-insecure. [default: none: off]
    #[arg(long, env = "MESHKV_RESP_LISTEN", value_name = "ADDR")]
    pub resp_listen: Option<SocketAddr>,
    /// Largest RESP bulk string (key or value) in bytes; 1 ..= 1 GiB.
    /// [default: the larger of max-value-size and max-key-size]
    #[arg(long, env = "MESHKV_RESP_MAX_BULK", value_name = "BYTES")]
    pub resp_max_bulk: Option<usize>,
    /// Most arguments of one RESP request; 3 ..= 16777216. [default: 1048576]
    #[arg(long, env = "MESHKV_RESP_MAX_ARGS", value_name = "N")]
    pub resp_max_args: Option<usize>,
    /// Largest RESP request in bytes (all its arguments); at least resp-max-bulk + 64, at
    /// most 4 GiB. [default: the larger of 256 MiB and resp-max-bulk + 1 MiB]
    #[arg(long, env = "MESHKV_RESP_MAX_REQUEST", value_name = "BYTES")]
    pub resp_max_request: Option<usize>,
    /// Most RESP connections open at once; the rest get an error and are closed.
    /// [default: 1024]
    #[arg(long, env = "MESHKV_RESP_MAX_CLIENTS", value_name = "N")]
    pub resp_max_clients: Option<usize>,

    /// Turn on UDP multicast discovery. [default: false; true when the file has a
    /// [discovery] table]
    #[arg(long, env = "MESHKV_DISCOVERY", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub discovery: Option<bool>,
    /// Multicast group and port of discovery. [default: 239.255.70.70:7946]
    #[arg(long, env = "MESHKV_DISCOVERY_GROUP", value_name = "ADDR")]
    pub discovery_group: Option<SocketAddrV4>,
    /// Local interface address that joins the group and sends. [default: 0.0.0.0]
    #[arg(long, env = "MESHKV_DISCOVERY_INTERFACE", value_name = "IP")]
    pub discovery_interface: Option<Ipv4Addr>,
    /// Announcement period; 10ms ..= 1h. [default: 1s]
    #[arg(long, env = "MESHKV_DISCOVERY_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub discovery_interval: Option<Duration>,
    /// Announcements a discovered peer may miss before it is dropped; at least 1. [default: 5]
    #[arg(long, env = "MESHKV_DISCOVERY_EXPIRE_AFTER", value_name = "N")]
    pub discovery_expire_after: Option<u32>,
    /// IP TTL of announcements: 0 keeps them on this host; at most 255. [default: 1]
    #[arg(long, env = "MESHKV_DISCOVERY_TTL", value_name = "N")]
    pub discovery_ttl: Option<u32>,
}

/// The config file: the same fields as [`ServeArgs`], `snake_case`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http_listen: Option<String>,
    cluster_key_file: Option<OneOrMany<PathBuf>>,
    durability: Option<String>,
    node_id: Option<String>,
    max_key_size: Option<usize>,
    max_value_size: Option<usize>,
    cache_size: Option<usize>,
    write_buffer_size: Option<usize>,
    watch_buffer: Option<usize>,
    listen: Option<String>,
    advertise: Option<String>,
    peers: Option<Vec<String>>,
    cluster: Option<String>,
    initial_sync_timeout: Option<String>,
    heartbeat_interval: Option<String>,
    reconnect_min: Option<String>,
    reconnect_max: Option<String>,
    max_frame_size: Option<usize>,
    sync_batch_bytes: Option<usize>,
    max_connections: Option<usize>,
    max_handshakes: Option<usize>,
    handshake_timeout: Option<String>,
    allow_insecure: Option<bool>,
    resp_listen: Option<String>,
    resp_max_bulk: Option<usize>,
    resp_max_args: Option<usize>,
    resp_max_request: Option<usize>,
    resp_max_clients: Option<usize>,
    discovery: Option<FileDiscovery>,
}

/// The `[discovery]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDiscovery {
    enabled: Option<bool>,
    group: Option<String>,
    interface: Option<String>,
    interval: Option<String>,
    expire_after: Option<u32>,
    ttl: Option<u32>,
}

/// A path or a list of paths.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Everything `meshkv serve` runs with, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The database folder.
    pub data_dir: PathBuf,
    /// The HTTP API's address.
    pub http_listen: SocketAddr,
    /// Options for [`Db::open`](crate::Db::open).
    pub options: Options,
    /// The replicating node's configuration (discovery included).
    pub node: NodeConfig,
    /// The Redis protocol listener, when `resp_listen` is set.
    pub resp: Option<RespConfig>,
}

/// Default `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "meshkv-data";
/// Default `http_listen`.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";

impl ServerConfig {
    /// Merges flags and environment (`args`), the config file `args.config` names, and the
    /// defaults; reads the cluster keys (`MESHKV_CLUSTER_KEY`, else `cluster_key_file`); checks
    /// everything. The error names the first bad field.
    pub fn load(args: &ServeArgs) -> Result<ServerConfig, ConfigError> {
        let env_keys = std::env::var(CLUSTER_KEY_ENV).ok();
        Self::load_with(args, env_keys.as_deref())
    }

    /// [`ServerConfig::load`] with the cluster-key variable's value given (for tests).
    pub fn load_with(
        args: &ServeArgs,
        env_keys: Option<&str>,
    ) -> Result<ServerConfig, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let a = args;
        let defaults = Options::default();
        let options = Options {
            durability: match a.durability.as_deref().or(file.durability.as_deref()) {
                None => Durability::Buffered,
                Some(s) => parse_durability(s)?,
            },
            node_id: match a.node_id.as_deref().or(file.node_id.as_deref()) {
                None => None,
                Some(s) => Some(
                    s.parse::<NodeId>()
                        .map_err(|_| bad("node_id", format!("{s:?} is not 32 hex digits")))?,
                ),
            },
            max_key_size: a
                .max_key_size
                .or(file.max_key_size)
                .unwrap_or(defaults.max_key_size),
            max_value_size: a
                .max_value_size
                .or(file.max_value_size)
                .unwrap_or(defaults.max_value_size),
            cache_size: a
                .cache_size
                .or(file.cache_size)
                .unwrap_or(defaults.cache_size),
            write_buffer_size: a
                .write_buffer_size
                .or(file.write_buffer_size)
                .unwrap_or(defaults.write_buffer_size),
            watch_buffer: a
                .watch_buffer
                .or(file.watch_buffer)
                .unwrap_or(defaults.watch_buffer),
            clock: crate::Clock::system(),
        };
        options.validate().map_err(named)?;

        let d = NodeConfig::default();
        let duration = |flag: Option<Duration>, text: &Option<String>, field: &str, default| match (
            flag, text,
        ) {
            (Some(v), _) => Ok(v),
            (None, Some(t)) => parse_duration(t).map_err(|e| bad(field, e)),
            (None, None) => Ok(default),
        };
        let address = |flag: Option<SocketAddr>, text: &Option<String>, field: &str, default| match (
            flag, text,
        ) {
            (Some(v), _) => Ok(v),
            (None, Some(t)) => parse_addr(t, field),
            (None, None) => Ok(default),
        };
        let allow_insecure = a.allow_insecure.or(file.allow_insecure).unwrap_or(false);
        let resp = resp_config(a, &file, &options, allow_insecure)?;
        let key_files: Vec<PathBuf> = if a.cluster_key_file.is_empty() {
            file.cluster_key_file
                .map(OneOrMany::into_vec)
                .unwrap_or_default()
        } else {
            a.cluster_key_file.clone()
        };
        let cluster_keys = match env_keys {
            Some(text) => parse_keys(text, ',', CLUSTER_KEY_ENV)?,
            None => read_key_files(&key_files)?,
        };
        let file_d = file.discovery.as_ref();
        let discovery_on = a
            .discovery
            .or(file_d.map(|t| t.enabled.unwrap_or(true)))
            .unwrap_or(false);
        let discovery = match discovery_on {
            false => None,
            true => {
                let md = MulticastConfig::default();
                let empty = FileDiscovery::default();
                let fd = file_d.unwrap_or(&empty);
                Some(MulticastConfig {
                    group: match (a.discovery_group, &fd.group) {
                        (Some(g), _) => g,
                        (None, Some(t)) => t.parse().map_err(|_| {
                            bad(
                                "discovery.group",
                                format!("{t:?} is not an IPv4 address and port"),
                            )
                        })?,
                        (None, None) => md.group,
                    },
                    interface: match (a.discovery_interface, &fd.interface) {
                        (Some(i), _) => i,
                        (None, Some(t)) => t.parse().map_err(|_| {
                            bad(
                                "discovery.interface",
                                format!("{t:?} is not an IPv4 address"),
                            )
                        })?,
                        (None, None) => md.interface,
                    },
                    interval: duration(
                        a.discovery_interval,
                        &fd.interval,
                        "discovery.interval",
                        md.interval,
                    )?,
                    expire_after: a
                        .discovery_expire_after
                        .or(fd.expire_after)
                        .unwrap_or(md.expire_after),
                    ttl: a.discovery_ttl.or(fd.ttl).unwrap_or(md.ttl),
                })
            }
        };
        let node = NodeConfig {
            listen: address(a.listen, &file.listen, "listen", d.listen)?,
            advertise: a.advertise.clone().or(file.advertise.clone()),
            peers: if a.peers.is_empty() {
                file.peers.clone().unwrap_or_default()
            } else {
                a.peers.clone()
            },
            cluster: a
                .cluster
                .clone()
                .or(file.cluster.clone())
                .unwrap_or(d.cluster.clone()),
            cluster_keys,
            resolver: d.resolver.clone(),
            initial_sync_timeout: duration(
                a.initial_sync_timeout,
                &file.initial_sync_timeout,
                "initial_sync_timeout",
                d.initial_sync_timeout,
            )?,
            heartbeat_interval: duration(
                a.heartbeat_interval,
                &file.heartbeat_interval,
                "heartbeat_interval",
                d.heartbeat_interval,
            )?,
            reconnect_min: duration(
                a.reconnect_min,
                &file.reconnect_min,
                "reconnect_min",
                d.reconnect_min,
            )?,
            reconnect_max: duration(
                a.reconnect_max,
                &file.reconnect_max,
                "reconnect_max",
                d.reconnect_max,
            )?,
            max_frame_size: a
                .max_frame_size
                .or(file.max_frame_size)
                .unwrap_or(d.max_frame_size),
            sync_batch_bytes: a
                .sync_batch_bytes
                .or(file.sync_batch_bytes)
                .unwrap_or(d.sync_batch_bytes),
            max_connections: a
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
            max_handshakes: a
                .max_handshakes
                .or(file.max_handshakes)
                .unwrap_or(d.max_handshakes),
            handshake_timeout: duration(
                a.handshake_timeout,
                &file.handshake_timeout,
                "handshake_timeout",
                d.handshake_timeout,
            )?,
            allow_insecure,
            discovery,
        };
        node.validate().map_err(named)?;

        let http_listen = address(
            a.http_listen,
            &file.http_listen,
            "http_listen",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
        )?;
        if !http_listen.ip().is_loopback() && !allow_insecure {
            return Err(bad(
                "http_listen",
                format!(
                    "{http_listen} is not a loopback address and the HTTP API has no \
                     authentication; set allow_insecure to accept the risk"
                ),
            ));
        }
        let data_dir = a
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir", "must not be empty"));
        }
        Ok(ServerConfig {
            data_dir,
            http_listen,
            options,
            node,
            resp,
        })
    }
}

/// The `resp_*` fields: `None` when `resp_listen` is not set (the limits are checked anyway).
fn resp_config(
    a: &ServeArgs,
    file: &FileConfig,
    options: &Options,
    allow_insecure: bool,
) -> Result<Option<RespConfig>, ConfigError> {
    let max_bulk = a
        .resp_max_bulk
        .or(file.resp_max_bulk)
        .unwrap_or(options.max_value_size.max(options.max_key_size));
    if !(1..=1 << 30).contains(&max_bulk) {
        return Err(bad(
            "resp_max_bulk",
            format!("{max_bulk} is not in 1 ..= 1 GiB"),
        ));
    }
    let max_args = a
        .resp_max_args
        .or(file.resp_max_args)
        .unwrap_or(resp::DEFAULT_MAX_ARGS);
    if !(3..=1 << 24).contains(&max_args) {
        return Err(bad(
            "resp_max_args",
            format!("{max_args} is not in 3 ..= 16777216"),
        ));
    }
    let max_request = a
        .resp_max_request
        .or(file.resp_max_request)
        .unwrap_or(resp::DEFAULT_MAX_REQUEST.max(max_bulk + (1 << 20)));
    if max_request < max_bulk + 64 || max_request as u64 > 1 << 32 {
        return Err(bad(
            "resp_max_request",
            format!(
                "{max_request} is not in resp_max_bulk + 64 ({}) ..= 4 GiB",
                max_bulk + 64
            ),
        ));
    }
    let max_clients = a
        .resp_max_clients
        .or(file.resp_max_clients)
        .unwrap_or(resp::DEFAULT_MAX_CLIENTS);
    if max_clients == 0 {
        return Err(bad("resp_max_clients", "must be at least 1"));
    }
    let listen = match (a.resp_listen, &file.resp_listen) {
        (Some(v), _) => v,
        (None, Some(t)) => parse_addr(t, "resp_listen")?,
        (None, None) => return Ok(None),
    };
    if !listen.ip().is_loopback() && !allow_insecure {
        return Err(bad(
            "resp_listen",
            format!(
                "{listen} is not a loopback address and the RESP listener has no \
                 authentication; set allow_insecure to accept the risk"
            ),
        ));
    }
    Ok(Some(RespConfig {
        listen,
        limits: resp::Limits {
            max_bulk,
            max_args,
            max_inline: resp::parser::DEFAULT_MAX_INLINE,
            max_request,
        },
        max_clients,
    }))
}

/// A library validation error as a config error naming the same field.
fn named(e: crate::Error) -> ConfigError {
    match e {
        crate::Error::InvalidOptions { field, reason } => bad(field, reason),
        other => bad("config", other.to_string()),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad("config", format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        // toml names the unknown or mistyped field and its line.
        // The field is the key on the line the error points at.
        let message = e.message().to_string();
        let field = e
            .span()
            .and_then(|s| {
                let start = text.get(..s.start)?.rfind('\n').map_or(0, |i| i + 1);
                let line = text.get(start..)?.lines().next()?;
                let key = line.split('=').next()?.trim().trim_matches('"');
                (!key.is_empty() && !key.starts_with('[') && key.len() < 64)
                    .then(|| key.to_string())
            })
            .unwrap_or_else(|| "config".to_string());
        bad(&field, format!("{message} (in {})", path.display()))
    })
}

fn parse_addr(text: &str, field: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| {
        bad(
            field,
            format!("{text:?} is not an address: expected ip:port, e.g. 127.0.0.1:7070"),
        )
    })
}

fn parse_durability(text: &str) -> Result<Durability, ConfigError> {
    match text {
        "buffered" => Ok(Durability::Buffered),
        "sync" => Ok(Durability::Sync),
        other => Err(bad(
            "durability",
            format!("{other:?} is neither \"buffered\" nor \"sync\""),
        )),
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 250ms, 5s, 2m or 1h"))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    };
    ms.map(Duration::from_millis).ok_or_else(|| {
        format!("{text:?} is not a duration such as 250ms, 5s, 2m or 1h (units: ms, s, m, h)")
    })
}

/// Hex keys separated by `sep`; blank items and `#` comment lines are skipped.
fn parse_keys(text: &str, sep: char, field: &str) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut keys = Vec::new();
    for (i, item) in text.split(sep).enumerate() {
        let item = item.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        let key = decode_hex(item).ok_or_else(|| {
            bad(
                field,
                format!(
                    "key {} is not hex (expected e.g. `openssl rand -hex 32`)",
                    i + 1
                ),
            )
        })?;
        if key.len() < 16 {
            return Err(bad(
                field,
                format!(
                    "key {} holds {} bytes; at least 16 are needed",
                    i + 1,
                    key.len()
                ),
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

fn read_key_files(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut keys = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(
                "cluster_key_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let found = parse_keys(&text, '\n', "cluster_key_file").map_err(|e| {
            bad(
                "cluster_key_file",
                format!("{}: {}", path.display(), e.problem),
            )
        })?;
        if found.is_empty() {
            return Err(bad(
                "cluster_key_file",
                format!("{} holds no key", path.display()),
            ));
        }
        keys.extend(found);
    }
    Ok(keys)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, ServeArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meshkv.toml");
        std::fs::write(&path, text).unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        (dir, args)
    }

    #[test]
    fn defaults_are_the_library_defaults() {
        let c = ServerConfig::load_with(&ServeArgs::default(), None).unwrap();
        assert_eq!(c.options, Options::default());
        assert_eq!(c.node.listen, NodeConfig::default().listen);
        assert_eq!(c.http_listen.to_string(), DEFAULT_HTTP_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(c.node.discovery.is_none());
        assert!(c.resp.is_none());
    }

    #[test]
    fn resp_listener_options() {
        let (_d, args) = with_file("resp_listen = \"127.0.0.1:0\"\nresp_max_args = 16\n");
        let r = ServerConfig::load_with(&args, None).unwrap().resp.unwrap();
        assert_eq!(r.listen.to_string(), "127.0.0.1:0");
        assert_eq!(r.limits.max_args, 16);
        assert_eq!(r.limits.max_bulk, Options::default().max_value_size);
        assert_eq!(r.max_clients, resp::DEFAULT_MAX_CLIENTS);
        let (_d, args) = with_file("resp_listen = \"0.0.0.0:0\"\nallow_insecure = true\n");
        assert!(ServerConfig::load_with(&args, None).unwrap().resp.is_some());
    }

    #[test]
    fn flag_wins_over_file() {
        let (_d, mut args) =
            with_file("cluster = \"file\"\nheartbeat_interval = \"250ms\"\n[discovery]\nttl = 0\n");
        args.cluster = Some("flag".into());
        let c = ServerConfig::load_with(&args, None).unwrap();
        assert_eq!(c.node.cluster, "flag");
        assert_eq!(c.node.heartbeat_interval, Duration::from_millis(250));
        assert_eq!(c.node.discovery.unwrap().ttl, 0);
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |text: &str| {
            let (_d, args) = with_file(text);
            ServerConfig::load_with(&args, None).unwrap_err().field
        };
        assert_eq!(field("bogus = 1\n"), "bogus");
        assert_eq!(field("listen = \"nowhere\"\n"), "listen");
        assert_eq!(
            field("heartbeat_interval = \"5 parsecs\"\n"),
            "heartbeat_interval"
        );
        assert_eq!(field("durability = \"maybe\"\n"), "durability");
        assert_eq!(field("cache_size = 1\n"), "cache_size");
        assert_eq!(field("listen = \"0.0.0.0:7070\"\n"), "cluster_keys");
        assert_eq!(field("http_listen = \"0.0.0.0:8080\"\n"), "http_listen");
        assert_eq!(
            field("cluster_key_file = \"/nonexistent/key\"\n"),
            "cluster_key_file"
        );
        assert_eq!(field("[discovery]\nttl = 300\n"), "discovery.ttl");
        assert_eq!(field("resp_listen = \"0.0.0.0:6379\"\n"), "resp_listen");
        assert_eq!(field("resp_listen = \"x\"\n"), "resp_listen");
        assert_eq!(field("resp_max_bulk = 0\n"), "resp_max_bulk");
        assert_eq!(field("resp_max_args = 2\n"), "resp_max_args");
        assert_eq!(
            field("resp_max_bulk = 100\nresp_max_request = 100\n"),
            "resp_max_request"
        );
        assert_eq!(field("resp_max_clients = 0\n"), "resp_max_clients");
    }

    #[test]
    fn keys_from_files_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = dir.path().join("k1");
        std::fs::write(
            &k1,
            format!("# new key\n{}\n\n{}\n", "ab".repeat(32), "cd".repeat(16)),
        )
        .unwrap();
        let args = ServeArgs {
            cluster_key_file: vec![k1],
            ..ServeArgs::default()
        };
        let c = ServerConfig::load_with(&args, None).unwrap();
        assert_eq!(c.node.cluster_keys, vec![vec![0xab; 32], vec![0xcd; 16]]);
        let env = format!("{},{}", "01".repeat(16), "02".repeat(16));
        let c = ServerConfig::load_with(&args, Some(&env)).unwrap();
        assert_eq!(c.node.cluster_keys, vec![vec![1; 16], vec![2; 16]]);
        let e = ServerConfig::load_with(&args, Some("xyz")).unwrap_err();
        assert_eq!(e.field, CLUSTER_KEY_ENV);
        assert!(!format!("{:?}", c.node).contains("0101"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
    }
}
