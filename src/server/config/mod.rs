//! [`ServerConfig`]: everything `meshkv serve` needs, from a TOML file, `MESHKV_*` environment
//! variables and flags.
//!
//! Each setting is declared once, in the file of its subsystem, by the `settings!` macro
//! (`setting.rs`): its name (the file field), type, default, help, flag and environment
//! variable. From that one declaration come the clap flags and their environment variables
//! ([`ServeArgs`] flattens one struct per subsystem), the config file's fields (serde), the
//! merge with its precedence, the `[default: ...]` of `--help`, and the table of
//! `docs/server.md` ([`settings_table`], checked by a test).
//!
//! - [`storage`](StorageSettings): the database folder and its [`Options`].
//! - [`http`](HttpSettings): the HTTP API's address.
//! - [`node`](NodeSettings): replication ([`NodeConfig`]), cluster keys included (`keys.rs`).
//! - [`resp`](RespSettings): the Redis protocol listener.
//! - [`discovery`](DiscoverySettings): UDP multicast discovery, the `[discovery]` table.
//!
//! Precedence, per field: flag > environment variable > config file > default. Clap reads the
//! flags and the environment (flag over environment); [`ServerConfig::load`] reads the file
//! (`file.rs`; unknown fields are an error), puts each subsystem's flags over its file fields
//! over its declared defaults, reads the cluster keys and validates everything with
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

mod args;
mod discovery;
mod error;
mod file;
mod http;
mod keys;
mod node;
mod resp;
mod setting;
mod storage;
mod table;
mod value;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use args::{settings, ServeArgs};
pub use discovery::{DiscoverySettings, DiscoveryValues};
pub use error::ConfigError;
pub use http::{HttpSettings, HttpValues, DEFAULT_HTTP_LISTEN};
pub use keys::{CLUSTER_KEY_ENV, CLUSTER_KEY_HELP};
pub use node::{NodeSettings, NodeValues};
pub use resp::{RespSettings, RespValues};
pub use setting::Setting;
pub use storage::{StorageSettings, StorageValues, DEFAULT_DATA_DIR};
pub use table::settings_table;
pub use value::parse_duration;

use super::resp::RespConfig;
use crate::{NodeConfig, Options};
use file::ConfigFile;

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
            Some(path) => ConfigFile::read(path)?,
            None => ConfigFile::default(),
        };
        let storage = args.storage.layered(file.storage)?;
        let options = storage.options()?;
        let node = args.node.layered(file.node)?;
        let allow_insecure = node.allow_insecure;
        let resp = args
            .resp
            .layered(file.resp)?
            .resp_config(&options, allow_insecure)?;
        let discovery = args.discovery.multicast(file.discovery)?;
        let node = node.node_config(env_keys, discovery)?;
        // The largest value must fit a replication frame.
        node.validate_for(&options).map_err(error::named)?;
        let http_listen = args.http.layered(file.http)?.listen(allow_insecure)?;
        let data_dir = storage.data_dir()?;
        Ok(ServerConfig {
            data_dir,
            http_listen,
            options,
            node,
            resp,
        })
    }
}
