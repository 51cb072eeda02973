//! HTTP API settings: where the API listens.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::error::{loopback_unless_insecure, ConfigError};
use super::setting::settings;

/// Default `http_listen`.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";

/// [`DEFAULT_HTTP_LISTEN`] as an address (a test checks that they agree).
const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 8080));

settings! {
    /// The HTTP API's settings.
    #[settings(heading = "HTTP API", table = "", values = HttpValues, file = HttpFile)]
    pub struct HttpSettings {
        /// HTTP API address; port 0 picks a free port. The API has no authentication: a
        /// non-loopback address needs `allow_insecure`.
        #[setting(flag = "http-listen", env = "MESHKV_HTTP_LISTEN", value_name = "ADDR")]
        http_listen: SocketAddr = DEFAULT_HTTP_ADDR;
    }
}

impl HttpValues {
    /// The address to bind, refused off loopback unless `allow_insecure`.
    pub fn listen(&self, allow_insecure: bool) -> Result<SocketAddr, ConfigError> {
        let listen = self.http_listen;
        loopback_unless_insecure("http_listen", "HTTP API", listen, allow_insecure)?;
        Ok(listen)
    }
}
