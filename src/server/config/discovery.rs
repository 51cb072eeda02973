//! Discovery settings: UDP multicast discovery ([`MulticastConfig`]), the `[discovery]` table
//! of the config file and the `--discovery*` flags.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::error::ConfigError;
use super::setting::settings;
use crate::{MulticastConfig, NodeConfig};

settings! {
    /// UDP multicast discovery's settings, off unless turned on.
    #[settings(
        heading = "Discovery",
        table = "discovery.",
        values = DiscoveryValues,
        file = DiscoveryFile,
        deny_unknown_fields
    )]
    pub struct DiscoverySettings {
        /// Turn on UDP multicast discovery; a `[discovery]` table in the config file turns it
        /// on too, unless it sets `enabled = false`.
        #[setting(flag = "discovery", env = "MESHKV_DISCOVERY", value_name = "BOOL")]
        enabled: bool = NodeConfig::default().discovery.is_some();

        /// Multicast group and port of discovery.
        #[setting(flag = "discovery-group", env = "MESHKV_DISCOVERY_GROUP", value_name = "ADDR")]
        group: SocketAddrV4 = MulticastConfig::default().group;

        /// Local interface address that joins the group and sends.
        #[setting(
            flag = "discovery-interface",
            env = "MESHKV_DISCOVERY_INTERFACE",
            value_name = "IP"
        )]
        interface: Ipv4Addr = MulticastConfig::default().interface;

        /// Announcement period; 10ms ..= 1h.
        #[setting(
            flag = "discovery-interval",
            env = "MESHKV_DISCOVERY_INTERVAL",
            value_name = "DURATION"
        )]
        interval: Duration = MulticastConfig::default().interval;

        /// Announcements a discovered peer may miss before it is dropped; at least 1.
        #[setting(
            flag = "discovery-expire-after",
            env = "MESHKV_DISCOVERY_EXPIRE_AFTER",
            value_name = "N"
        )]
        expire_after: u32 = MulticastConfig::default().expire_after;

        /// IP TTL of announcements: 0 keeps them on this host; at most 255.
        #[setting(flag = "discovery-ttl", env = "MESHKV_DISCOVERY_TTL", value_name = "N")]
        ttl: u32 = MulticastConfig::default().ttl;
    }
}

impl DiscoverySettings {
    /// Discovery's configuration from these settings (flags and environment) and the file's
    /// `[discovery]` table: `None` when it is off. The table's other fields are read only when it
    /// is on; [`NodeConfig::validate`] checks them.
    pub(super) fn multicast(
        &self,
        table: Option<DiscoveryFile>,
    ) -> Result<Option<MulticastConfig>, ConfigError> {
        // A table without `enabled` turns discovery on.
        let table = table.map(|mut t| {
            t.enabled.get_or_insert(true);
            t
        });
        let enabled = table.as_ref().and_then(|t| t.enabled);
        let on = DiscoverySettings {
            enabled: self.enabled.or(enabled),
            ..DiscoverySettings::default()
        }
        .resolve()
        .enabled;
        if !on {
            return Ok(None);
        }
        let v = self.layered(table.unwrap_or_default())?;
        Ok(Some(MulticastConfig {
            group: v.group,
            interface: v.interface,
            interval: v.interval,
            expire_after: v.expire_after,
            ttl: v.ttl,
        }))
    }
}
