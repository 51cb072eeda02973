//! Redis protocol settings: the RESP listener's address and limits ([`RespConfig`]).

use std::net::SocketAddr;

use super::error::{bad, loopback_unless_insecure, ConfigError};
use super::setting::settings;
use crate::server::resp::{self, RespConfig};
use crate::Options;

settings! {
    /// The RESP listener's settings; it runs when `resp_listen` is set.
    #[settings(heading = "Redis protocol (RESP)", table = "", values = RespValues, file = RespFile)]
    pub struct RespSettings {
        /// Redis protocol (RESP2) address; port 0 picks a free port. No authentication: a
        /// non-loopback address needs `allow_insecure`.
        #[setting(
            flag = "resp-listen",
            env = "MESHKV_RESP_LISTEN",
            value_name = "ADDR",
            shown = "none: off"
        )]
        resp_listen: SocketAddr => Option<SocketAddr> = None;

        /// Largest RESP bulk string (key or value) in bytes, 1 ..= 1 GiB; a larger one is a
        /// protocol error and closes the connection.
        #[setting(
            flag = "resp-max-bulk",
            env = "MESHKV_RESP_MAX_BULK",
            value_name = "BYTES",
            shown = "the larger of max_value_size and max_key_size"
        )]
        resp_max_bulk: usize => Option<usize> = None;

        /// Most arguments of one RESP request; 3 ..= 16777216.
        #[setting(flag = "resp-max-args", env = "MESHKV_RESP_MAX_ARGS", value_name = "N")]
        resp_max_args: usize = resp::DEFAULT_MAX_ARGS;

        /// Largest RESP request in bytes (all its arguments); resp_max_bulk + 64 ..= 4 GiB.
        #[setting(
            flag = "resp-max-request",
            env = "MESHKV_RESP_MAX_REQUEST",
            value_name = "BYTES",
            shown = format!(
                "the larger of {} MiB and resp_max_bulk + 1 MiB",
                resp::DEFAULT_MAX_REQUEST >> 20
            )
        )]
        resp_max_request: usize => Option<usize> = None;

        /// Most RESP connections open at once; the next gets `-ERR max number of clients
        /// reached` and is closed.
        #[setting(flag = "resp-max-clients", env = "MESHKV_RESP_MAX_CLIENTS", value_name = "N")]
        resp_max_clients: usize = resp::DEFAULT_MAX_CLIENTS;
    }
}

impl RespValues {
    /// The listener's configuration: `None` when `resp_listen` is not set (the limits are
    /// checked anyway). The defaults of the bulk and request limits follow `options`' key and
    /// value sizes; off loopback needs `allow_insecure`.
    pub fn resp_config(
        &self,
        options: &Options,
        allow_insecure: bool,
    ) -> Result<Option<RespConfig>, ConfigError> {
        let max_bulk = self
            .resp_max_bulk
            .unwrap_or(options.max_value_size.max(options.max_key_size));
        if !(1..=1 << 30).contains(&max_bulk) {
            return Err(bad(
                "resp_max_bulk",
                format!("{max_bulk} is not in 1 ..= 1 GiB"),
            ));
        }
        let max_args = self.resp_max_args;
        if !(3..=1 << 24).contains(&max_args) {
            return Err(bad(
                "resp_max_args",
                format!("{max_args} is not in 3 ..= 16777216"),
            ));
        }
        let max_request = self
            .resp_max_request
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
        let max_clients = self.resp_max_clients;
        if max_clients == 0 {
            return Err(bad("resp_max_clients", "must be at least 1"));
        }
        let Some(listen) = self.resp_listen else {
            return Ok(None);
        };
        loopback_unless_insecure("resp_listen", "RESP listener", listen, allow_insecure)?;
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
}
