//! The Redis protocol (RESP2) front-end of `meshkv serve`: off unless `resp_listen` is set.
//!
//! Redis clients (`redis-cli`, client libraries) read and write the same database as the HTTP
//! API, through the same [`Db`](crate::Db) calls, and their writes replicate like any other.
//! Commands: `PING`, `ECHO`, `GET`, `SET` (`NX`, `XX`, `GET`, deadlines), `MGET`, `MSET`, `DEL`,
//! `EXISTS`, `SCAN` (`MATCH`, `COUNT`, `TYPE`), `DBSIZE`, `INFO`, `COMMAND` (`COUNT`,
//! `DOCS`, `INFO`), `HELLO` (protocol 2 only: `HELLO 3` gets `-NOPROTO`), `SELECT 0`,
//! `CLIENT SETNAME|GETNAME|ID|SETINFO`, `QUIT`, and the string and keyspace commands `APPEND`,
//! `STRLEN`, `GETRANGE`, `SETRANGE`, `GETSET`, `SETNX`, `MSETNX`, `GETDEL`, `TYPE`, `KEYS`,
//! `UNLINK`, `TOUCH`, `RANDOMKEY`, `RENAME`, `RENAMENX`, the expiry commands (`SET` with `EX`,
//! `PX`, `EXAT`, `PXAT`, `KEEPTTL`; `SETEX`, `PSETEX`, `GETEX`, `EXPIRE`, `PEXPIRE`, `EXPIREAT`,
//! `PEXPIREAT`, `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`, `PERSIST`: [`expiry`]), `FLUSHALL`,
//! `FLUSHDB`, and `FUNCTION FLUSH`, `DEBUG LOG`, `TIME` (their replies are compared with a real
//! `redis-server`'s in `tests/server/resp_replies_match_redis.rs`). Anything else gets Redis's
//! `-ERR unknown command ...` and the connection stays usable. The semantics and the
//! differences from Redis (multi-master, local `NX`/`XX`, expiry by each node's clock,
//! per-connection `SCAN` cursors) are in [`exec`] and [`expiry`].
//!
//! There is no authentication (`AUTH` is refused): like the HTTP API, a non-loopback
//! `resp_listen` needs `allow_insecure`.
//!
//! | file | what |
//! |---|---|
//! | [`parser`] | bounded incremental request parser (multibulk and inline), its [`Limits`] |
//! | [`command`] | request → [`Command`](command::Command), arity and options, Redis's error texts |
//! | [`exec`] | a command against the database → [`Reply`] |
//! | [`pattern`] | `SCAN MATCH` globs and their literal prefixes |
//! | [`info`] | the `INFO` sections |
//! | [`reply`] | [`Reply`] and its encoding |
//! | [`state`] | what connections share ([`Shared`], [`RespStats`]) and keep ([`Session`]) |
//! | [`connection`] | one connection's task: bytes in, replies out, pipelining |
//! | [`listener`] | the accept loop, the client cap, shutdown |

use std::net::SocketAddr;

pub mod command;
pub mod connection;
pub mod exec;
pub mod expiry;
pub mod info;
pub mod listener;
pub mod parser;
pub mod pattern;
pub mod reply;
pub mod state;

pub use parser::{Limits, ParseError, Parser};
pub use reply::Reply;
pub use state::{RespStats, Session, Shared};

/// Default `resp_max_args`: most arguments of one request (Redis's limit for clients that
/// have not authenticated).
pub const DEFAULT_MAX_ARGS: usize = 1024 * 1024;
/// Default `resp_max_clients`.
pub const DEFAULT_MAX_CLIENTS: usize = 1024;
/// Default `resp_max_request` floor: 256 MiB, raised to `resp_max_bulk` + 1 MiB when that is
/// larger.
pub const DEFAULT_MAX_REQUEST: usize = 256 << 20;

/// The RESP listener's settings (`resp_*` in the server config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespConfig {
    /// The address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The parser's bounds.
    pub limits: Limits,
    /// Most connections open at once.
    pub max_clients: usize,
}
