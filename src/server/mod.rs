//! The `meshkv` server (feature `server`, on by default): what `meshkv serve` runs, and the
//! thin HTTP client behind `meshkv get|put|del|ls|status|watch`.
//!
//! - [`config`]: one [`ServerConfig`] from a TOML file, `MESHKV_*` environment variables and
//!   command-line flags (flag > environment > file > default), each setting declared once per
//!   subsystem; cluster keys only from a file or the environment.
//! - [`http`]: the HTTP API (axum): `/v1/kv/{key}`, `/v1/kv?prefix=`, `/v1/watch` (server-sent
//!   events), `/v1/status`, `/metrics`; every error is JSON `{"code", "message"}`.
//! - [`metrics`]: the Prometheus text exposition of `/metrics`.
//! - [`resp`]: the Redis protocol (RESP2) listener, when `resp_listen` is set.
//! - [`urlkey`]: how binary keys and prefixes travel in URLs (percent-encoding).
//! - [`run`]: [`Server`]: opens the database, starts the node, serves HTTP, and shuts down
//!   gracefully.
//! - [`client`]: [`Client`], a small HTTP/1.1 client of that API.
//!
//! Library users who only embed [`Db`](crate::Db) and [`Node`](crate::Node) can build
//! without it: `default-features = false`.

pub mod client;
pub mod config;
pub mod http;
pub mod metrics;
pub mod resp;
pub mod run;
pub mod status;
pub mod urlkey;

pub use client::{Client, ClientError};
pub use config::{ConfigError, ServeArgs, ServerConfig};
pub use run::Server;
