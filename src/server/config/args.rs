//! [`ServeArgs`]: the flags of `meshkv serve`, one group per subsystem.

use std::path::PathBuf;

use super::discovery::DiscoverySettings;
use super::http::HttpSettings;
use super::node::NodeSettings;
use super::resp::RespSettings;
use super::setting::Setting;
use super::storage::StorageSettings;

/// The flags of `meshkv serve`, each also read from its `MESHKV_*` environment variable.
/// Every setting is optional here: what is not given falls back to the config file, then to
/// the default stated in its help.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (fields named as the flags, with `_` for `-`; discovery settings in a
    /// `[discovery]` table).
    #[arg(long, env = "MESHKV_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The database's folder and options.
    #[command(flatten)]
    pub storage: StorageSettings,
    /// The HTTP API.
    #[command(flatten)]
    pub http: HttpSettings,
    /// Replication.
    #[command(flatten)]
    pub node: NodeSettings,
    /// The Redis protocol listener.
    #[command(flatten)]
    pub resp: RespSettings,
    /// UDP multicast discovery.
    #[command(flatten)]
    pub discovery: DiscoverySettings,
}

/// Every setting of `meshkv serve`, in the order of [`ServeArgs`] (and of `--help`).
pub fn settings() -> Vec<Setting> {
    [
        StorageSettings::declared(),
        HttpSettings::declared(),
        NodeSettings::declared(),
        RespSettings::declared(),
        DiscoverySettings::declared(),
    ]
    .concat()
}
