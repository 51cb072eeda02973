//! [`decode`]: a parsed request to a typed [`Command`], with Redis's arity and option rules
//! and its error texts. Plain functions: no database, no socket.
//!
//! Names and option words are case-insensitive; keys and values are bytes, taken as they are.
//! What is refused, and how:
//!
//! - an unknown command: `-ERR unknown command 'foo', with args beginning with: 'a' 'b' `
//!   (Redis's exact wording: the name and the first arguments quoted, 128 bytes at most);
//! - a wrong argument count: `-ERR wrong number of arguments for 'get' command`;
//! - a bad or conflicting option: `-ERR syntax error`; a bad number: `-ERR value is not an
//!   integer or out of range`; a bad `SCAN` cursor: `-ERR invalid cursor`;
//! - a time that is not positive (`SET ... EX 0`) or overflows: `-ERR invalid expire time in
//!   'set' command` (see [`super::expiry`]).
//!
//! A refusal is a reply, never a closed connection.

use super::expiry::{self, Deadline, ExpireArgs, TtlQuery};
use super::parser::parse_i64;
use super::reply::Reply;

/// When `SET` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Always (no `NX`/`XX`).
    Always,
    /// `NX`: only when the key holds no value.
    IfAbsent,
    /// `XX`: only when the key holds a value.
    IfPresent,
}

/// The `SCAN` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanArgs {
    /// The cursor: 0 starts, any other is one a previous `SCAN` of this connection returned.
    pub cursor: u64,
    /// `MATCH` glob pattern, if given.
    pub pattern: Option<Vec<u8>>,
    /// `COUNT`: how many keys to examine (default 10).
    pub count: usize,
    /// False when `TYPE` names a type other than `string`: nothing can match.
    pub type_matches: bool,
}

/// What `COMMAND` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspect {
    /// `COMMAND`: every command's info.
    List,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND DOCS [name ...]`: answered with an empty map.
    Docs,
    /// `COMMAND INFO name ...`.
    Info(Vec<Vec<u8>>),
}

/// What `CLIENT` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCmd {
    /// `CLIENT SETNAME name`.
    SetName(Vec<u8>),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT ID`.
    Id,
    /// `CLIENT SETINFO attr value`: accepted and ignored.
    SetInfo,
}

/// One decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `PING [message]`.
    Ping(Option<Vec<u8>>),
    /// `ECHO message`.
    Echo(Vec<u8>),
    /// `GET key`.
    Get(Vec<u8>),
    /// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`, and `SETEX`, `PSETEX`,
    /// `GETSET`.
    Set {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// `NX`/`XX`.
        condition: Condition,
        /// `GET`: answer the old value instead of `OK`.
        get: bool,
        /// The deadline options.
        deadline: Deadline,
        /// The command's name, for its error replies.
        name: &'static str,
    },
    /// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`.
    GetEx(Vec<u8>, Deadline),
    /// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT`.
    Expire(ExpireArgs),
    /// `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`.
    Ttl(Vec<u8>, TtlQuery),
    /// `PERSIST key`.
    Persist(Vec<u8>),
    /// `FLUSHALL [ASYNC|SYNC]`, `FLUSHDB [ASYNC|SYNC]`: delete every key (see `exec`).
    FlushAll,
    /// `FUNCTION FLUSH [ASYNC|SYNC]`: there are no functions; `OK`.
    FunctionFlush,
    /// `TIME`: this node's clock.
    Time,
    /// `DEBUG LOG message`: logged; what Redis's test harness sends before each test.
    DebugLog(Vec<u8>),
    /// `MGET key [key ...]`.
    MGet(Vec<Vec<u8>>),
    /// `MSET key value [key value ...]`.
    MSet(Vec<(Vec<u8>, Vec<u8>)>),
    /// `DEL key [key ...]`.
    Del(Vec<Vec<u8>>),
    /// `EXISTS key [key ...]`, and `TOUCH` (the same count).
    Exists(Vec<Vec<u8>>),
    /// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]`.
    Scan(ScanArgs),
    /// `DBSIZE`.
    DbSize,
    /// `INFO [section ...]`, sections lower-cased.
    Info(Vec<String>),
    /// `COMMAND [COUNT|DOCS|INFO ...]`.
    Command(Introspect),
    /// `HELLO [2] [SETNAME name]`.
    Hello(Option<Vec<u8>>),
    /// `SELECT 0`.
    Select,
    /// `CLIENT ...`.
    Client(ClientCmd),
    /// `QUIT`: `+OK`, then the connection closes.
    Quit,
    /// `APPEND key value`.
    Append(Vec<u8>, Vec<u8>),
    /// `STRLEN key`.
    StrLen(Vec<u8>),
    /// `GETRANGE key start end`.
    GetRange(Vec<u8>, i64, i64),
    /// `SETRANGE key offset value` (offset checked non-negative).
    SetRange(Vec<u8>, u64, Vec<u8>),
    /// `SETNX key value`.
    SetNx(Vec<u8>, Vec<u8>),
    /// `MSETNX key value [key value ...]`.
    MSetNx(Vec<(Vec<u8>, Vec<u8>)>),
    /// `GETDEL key`.
    GetDel(Vec<u8>),
    /// `TYPE key`.
    Type(Vec<u8>),
    /// `KEYS pattern`.
    Keys(Vec<u8>),
    /// `RANDOMKEY`.
    RandomKey,
    /// `RENAME key newkey` (`nx`: `RENAMENX`).
    Rename {
        /// The key renamed.
        from: Vec<u8>,
        /// Its new name.
        to: Vec<u8>,
        /// `RENAMENX`: only when `to` holds no value.
        nx: bool,
    },
}

/// A command's name, arity (Redis's rule: `n` exactly n arguments with the name, `-n` at
/// least n), flags and key positions (first, last, step), as `COMMAND` reports them.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Arity, name included.
    pub arity: i64,
    /// Redis command flags.
    pub flags: &'static [&'static str],
    /// First key argument, last (-1: the last argument), step; zeros for none.
    pub keys: (i64, i64, i64),
}

const NO_KEYS: (i64, i64, i64) = (0, 0, 0);

/// Every command served.
pub const SPECS: &[Spec] = &[
    spec("ping", -1, &["fast"], NO_KEYS),
    spec("echo", 2, &["fast"], NO_KEYS),
    spec("get", 2, &["readonly", "fast"], (1, 1, 1)),
    spec("set", -3, &["write", "denyoom"], (1, 1, 1)),
    spec("mget", -2, &["readonly", "fast"], (1, -1, 1)),
    spec("mset", -3, &["write", "denyoom"], (1, -1, 2)),
    spec("del", -2, &["write"], (1, -1, 1)),
    spec("exists", -2, &["readonly", "fast"], (1, -1, 1)),
    spec("scan", -2, &["readonly"], NO_KEYS),
    spec("dbsize", 1, &["readonly", "fast"], NO_KEYS),
    spec("info", -1, &["loading", "stale"], NO_KEYS),
    spec("command", -1, &["loading", "stale"], NO_KEYS),
    spec(
        "hello",
        -1,
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
    ),
    spec("select", 2, &["loading", "stale", "fast"], NO_KEYS),
    spec("client", -2, &["loading", "stale"], NO_KEYS),
    spec("quit", -1, &["fast"], NO_KEYS),
    spec(
        "auth",
        -2,
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
    ),
    spec("append", 3, &["write", "denyoom", "fast"], (1, 1, 1)),
    spec("strlen", 2, &["readonly", "fast"], (1, 1, 1)),
    spec("getrange", 4, &["readonly"], (1, 1, 1)),
    spec("setrange", 4, &["write", "denyoom"], (1, 1, 1)),
    spec("getset", 3, &["write", "denyoom", "fast"], (1, 1, 1)),
    spec("setnx", 3, &["write", "denyoom", "fast"], (1, 1, 1)),
    spec("msetnx", -3, &["write", "denyoom"], (1, -1, 2)),
    spec("getdel", 2, &["write", "fast"], (1, 1, 1)),
    spec("type", 2, &["readonly", "fast"], (1, 1, 1)),
    spec("keys", 2, &["readonly"], NO_KEYS),
    spec("unlink", -2, &["write", "fast"], (1, -1, 1)),
    spec("touch", -2, &["readonly", "fast"], (1, -1, 1)),
    spec("randomkey", 1, &["readonly"], NO_KEYS),
    spec("rename", 3, &["write"], (1, 2, 1)),
    spec("renamenx", 3, &["write", "fast"], (1, 2, 1)),
    spec("setex", 4, &["write", "denyoom"], (1, 1, 1)),
    spec("psetex", 4, &["write", "denyoom"], (1, 1, 1)),
    spec("getex", -2, &["write", "fast"], (1, 1, 1)),
    spec("expire", -3, &["write", "fast"], (1, 1, 1)),
    spec("pexpire", -3, &["write", "fast"], (1, 1, 1)),
    spec("expireat", -3, &["write", "fast"], (1, 1, 1)),
    spec("pexpireat", -3, &["write", "fast"], (1, 1, 1)),
    spec("ttl", 2, &["readonly", "fast"], (1, 1, 1)),
    spec("pttl", 2, &["readonly", "fast"], (1, 1, 1)),
    spec("expiretime", 2, &["readonly", "fast"], (1, 1, 1)),
    spec("pexpiretime", 2, &["readonly", "fast"], (1, 1, 1)),
    spec("persist", 2, &["write", "fast"], (1, 1, 1)),
    spec("flushall", -1, &["write"], NO_KEYS),
    spec("flushdb", -1, &["write"], NO_KEYS),
    spec("function", -2, &["noscript"], NO_KEYS),
    spec("time", 1, &["loading", "stale", "fast"], NO_KEYS),
    spec(
        "debug",
        -2,
        &["admin", "noscript", "loading", "stale"],
        NO_KEYS,
    ),
];

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
    }
}

/// The spec of a command name, any case.
pub fn find(name: &[u8]) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// `-ERR unknown command ...` in Redis's words.
pub fn unknown_command(request: &[Vec<u8>]) -> Reply {
    let name = request.first().map(Vec::as_slice).unwrap_or_default();
    let mut args = String::new();
    for arg in request.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push_str(&format!("'{}' ", lossy(&arg[..arg.len().min(room)])));
    }
    Reply::err(format!(
        "unknown command '{}', with args beginning with: {args}",
        lossy(&name[..name.len().min(128)])
    ))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(super) fn syntax() -> Reply {
    Reply::err("syntax error")
}

pub(super) fn not_integer() -> Reply {
    Reply::err("value is not an integer or out of range")
}

/// `ERR unknown subcommand`, as Redis words it.
fn unknown_subcommand(command: &str, sub: &[u8]) -> Reply {
    Reply::err(format!(
        "unknown subcommand '{}'. Try {} HELP.",
        lossy(&sub[..sub.len().min(128)]),
        command.to_ascii_uppercase()
    ))
}

/// Is `word` the option `name`, any case?
pub(super) fn is(word: &[u8], name: &str) -> bool {
    word.eq_ignore_ascii_case(name.as_bytes())
}

/// Decodes a non-empty request; `Err` is the error reply to send.
pub fn decode(request: &[Vec<u8>]) -> Result<Command, Reply> {
    let Some(spec) = request.first().and_then(|name| find(name)) else {
        return Err(unknown_command(request));
    };
    let argc = i64::try_from(request.len()).unwrap_or(i64::MAX);
    if (spec.arity >= 0 && argc != spec.arity) || (spec.arity < 0 && argc < -spec.arity) {
        return Err(Reply::err(format!(
            "wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    let args = &request[1..];
    let owned = |i: usize| args.get(i).cloned().unwrap_or_default();
    match spec.name {
        "ping" => match args.len() {
            0 => Ok(Command::Ping(None)),
            1 => Ok(Command::Ping(Some(owned(0)))),
            _ => Err(Reply::err("wrong number of arguments for 'ping' command")),
        },
        "echo" => Ok(Command::Echo(owned(0))),
        "get" => Ok(Command::Get(owned(0))),
        "set" => set(args),
        "mget" => Ok(Command::MGet(args.to_vec())),
        "mset" | "msetnx" => {
            if args.len() % 2 != 0 {
                return Err(Reply::err(format!(
                    "wrong number of arguments for '{}' command",
                    spec.name
                )));
            }
            let pairs = args
                .chunks_exact(2)
                .map(|kv| (kv[0].clone(), kv[1].clone()))
                .collect();
            Ok(match spec.name {
                "mset" => Command::MSet(pairs),
                _ => Command::MSetNx(pairs),
            })
        }
        "del" | "unlink" => Ok(Command::Del(args.to_vec())),
        "append" => Ok(Command::Append(owned(0), owned(1))),
        "strlen" => Ok(Command::StrLen(owned(0))),
        "getrange" => {
            let start = parse_i64(&args[1]).ok_or_else(not_integer)?;
            let end = parse_i64(&args[2]).ok_or_else(not_integer)?;
            Ok(Command::GetRange(owned(0), start, end))
        }
        "setrange" => {
            let offset = parse_i64(&args[1]).ok_or_else(not_integer)?;
            let offset = u64::try_from(offset).map_err(|_| Reply::err("offset is out of range"))?;
            Ok(Command::SetRange(owned(0), offset, owned(2)))
        }
        // `SET key value GET` under its old name.
        "getset" => Ok(Command::Set {
            key: owned(0),
            value: owned(1),
            condition: Condition::Always,
            get: true,
            deadline: Deadline::Default,
            name: "getset",
        }),
        "setex" | "psetex" => {
            let unit = if spec.name == "setex" { 1000 } else { 1 };
            let n = parse_i64(&args[1]).ok_or_else(not_integer)?;
            let ms = n
                .checked_mul(unit)
                .filter(|&ms| n > 0 && ms > 0)
                .ok_or_else(|| expiry::invalid_time(spec.name))?;
            Ok(Command::Set {
                key: owned(0),
                value: owned(2),
                condition: Condition::Always,
                get: false,
                deadline: Deadline::After(ms.unsigned_abs()),
                name: spec.name,
            })
        }
        "getex" => expiry::getex(args),
        "expire" | "pexpire" | "expireat" | "pexpireat" => expiry::expire(args, spec.name),
        "ttl" => Ok(Command::Ttl(owned(0), TtlQuery::Seconds)),
        "pttl" => Ok(Command::Ttl(owned(0), TtlQuery::Millis)),
        "expiretime" => Ok(Command::Ttl(owned(0), TtlQuery::UnixSeconds)),
        "pexpiretime" => Ok(Command::Ttl(owned(0), TtlQuery::UnixMillis)),
        "persist" => Ok(Command::Persist(owned(0))),
        "flushall" | "flushdb" => match args {
            [] => Ok(Command::FlushAll),
            [mode] if is(mode, "async") || is(mode, "sync") => Ok(Command::FlushAll),
            _ => Err(syntax()),
        },
        "function" => match args {
            [sub] if is(sub, "flush") => Ok(Command::FunctionFlush),
            [sub, mode] if is(sub, "flush") && (is(mode, "async") || is(mode, "sync")) => {
                Ok(Command::FunctionFlush)
            }
            [sub, ..] if is(sub, "flush") => Err(syntax()),
            [sub, ..] => Err(unknown_subcommand("function", sub)),
            [] => Err(Reply::err(
                "wrong number of arguments for 'function' command",
            )),
        },
        "time" => Ok(Command::Time),
        "debug" => match args {
            [sub, message] if is(sub, "log") => Ok(Command::DebugLog(message.clone())),
            [sub, ..] => Err(Reply::err(format!(
                "DEBUG {} is not supported by meshkv (only DEBUG LOG)",
                lossy(sub).to_ascii_uppercase()
            ))),
            [] => Err(Reply::err("wrong number of arguments for 'debug' command")),
        },
        "setnx" => Ok(Command::SetNx(owned(0), owned(1))),
        "getdel" => Ok(Command::GetDel(owned(0))),
        "type" => Ok(Command::Type(owned(0))),
        "keys" => Ok(Command::Keys(owned(0))),
        "touch" => Ok(Command::Exists(args.to_vec())),
        "randomkey" => Ok(Command::RandomKey),
        "rename" | "renamenx" => Ok(Command::Rename {
            from: owned(0),
            to: owned(1),
            nx: spec.name == "renamenx",
        }),
        "exists" => Ok(Command::Exists(args.to_vec())),
        "scan" => scan(args),
        "dbsize" => Ok(Command::DbSize),
        "info" => Ok(Command::Info(
            args.iter().map(|a| lossy(a).to_ascii_lowercase()).collect(),
        )),
        "command" => introspect(args),
        "hello" => hello(args),
        "select" => match parse_i64(&owned(0)) {
            Some(0) => Ok(Command::Select),
            Some(_) => Err(Reply::err("DB index is out of range")),
            None => Err(not_integer()),
        },
        "client" => client(args),
        "quit" => Ok(Command::Quit),
        "auth" => Err(no_auth()),
        _ => Err(unknown_command(request)),
    }
}

fn set(args: &[Vec<u8>]) -> Result<Command, Reply> {
    let mut condition = Condition::Always;
    let mut get = false;
    let mut deadline = Deadline::Default;
    let mut i = 2;
    while let Some(word) = args.get(i) {
        if let Some(option) = expiry::deadline_option(args, i, "set") {
            let (d, used) = option?;
            if deadline != Deadline::Default {
                return Err(syntax());
            }
            deadline = d;
            i += used;
            continue;
        }
        if is(word, "nx") || is(word, "xx") {
            let wanted = if is(word, "nx") {
                Condition::IfAbsent
            } else {
                Condition::IfPresent
            };
            if condition != Condition::Always && condition != wanted {
                return Err(syntax());
            }
            condition = wanted;
        } else if is(word, "get") {
            get = true;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    Ok(Command::Set {
        key: args[0].clone(),
        value: args[1].clone(),
        condition,
        get,
        deadline,
        name: "set",
    })
}

/// Default `SCAN COUNT`.
pub const DEFAULT_SCAN_COUNT: usize = 10;

fn scan(args: &[Vec<u8>]) -> Result<Command, Reply> {
    let cursor = std::str::from_utf8(&args[0])
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| Reply::err("invalid cursor"))?;
    let mut out = ScanArgs {
        cursor,
        pattern: None,
        count: DEFAULT_SCAN_COUNT,
        type_matches: true,
    };
    let mut i = 1;
    while let Some(word) = args.get(i) {
        let Some(value) = args.get(i + 1) else {
            return Err(syntax());
        };
        if is(word, "match") {
            out.pattern = Some(value.clone());
        } else if is(word, "count") {
            let n = parse_i64(value).ok_or_else(not_integer)?;
            if n < 1 {
                return Err(syntax());
            }
            out.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(word, "type") {
            out.type_matches = is(value, "string");
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    Ok(Command::Scan(out))
}

fn introspect(args: &[Vec<u8>]) -> Result<Command, Reply> {
    let Some(sub) = args.first() else {
        return Ok(Command::Command(Introspect::List));
    };
    if is(sub, "count") && args.len() == 1 {
        Ok(Command::Command(Introspect::Count))
    } else if is(sub, "docs") {
        Ok(Command::Command(Introspect::Docs))
    } else if is(sub, "info") {
        Ok(Command::Command(Introspect::Info(args[1..].to_vec())))
    } else {
        Err(unknown_subcommand("command", sub))
    }
}

fn hello(args: &[Vec<u8>]) -> Result<Command, Reply> {
    let mut name = None;
    let Some(version) = args.first() else {
        return Ok(Command::Hello(None));
    };
    match parse_i64(version) {
        Some(2) => {}
        Some(_) => return Err(Reply::Error("NOPROTO unsupported protocol version".into())),
        None => {
            return Err(Reply::err(
                "Protocol version is not an integer or out of range",
            ))
        }
    }
    let mut i = 1;
    while let Some(word) = args.get(i) {
        if is(word, "setname") {
            name = Some(args.get(i + 1).ok_or_else(syntax)?.clone());
            i += 2;
        } else if is(word, "auth") {
            return Err(no_auth());
        } else {
            return Err(syntax());
        }
    }
    Ok(Command::Hello(name))
}

/// The reply to `AUTH`, or `HELLO ... AUTH`: there is no password to check.
pub fn no_auth() -> Reply {
    Reply::err(
        "AUTH <password> called without any password configured for the default user. \
         meshkv's RESP listener has no authentication",
    )
}

fn client(args: &[Vec<u8>]) -> Result<Command, Reply> {
    let sub = &args[0];
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(Reply::err(format!(
                "wrong number of arguments for 'client|{}' command",
                lossy(sub).to_ascii_lowercase()
            )))
        }
    };
    if is(sub, "setname") {
        arity(2)?;
        Ok(Command::Client(ClientCmd::SetName(args[1].clone())))
    } else if is(sub, "getname") {
        arity(1)?;
        Ok(Command::Client(ClientCmd::GetName))
    } else if is(sub, "id") {
        arity(1)?;
        Ok(Command::Client(ClientCmd::Id))
    } else if is(sub, "setinfo") {
        arity(3)?;
        Ok(Command::Client(ClientCmd::SetInfo))
    } else {
        Err(unknown_subcommand("client", sub))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A request of `items`.
    pub(crate) fn req(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// The error reply `items` decode to (panics on anything else).
    pub(crate) fn error(items: &[&str]) -> String {
        match decode(&req(items)) {
            Err(Reply::Error(e)) => e,
            other => panic!("{items:?} decoded to {other:?}"),
        }
    }

    #[test]
    fn unknown_command_has_redis_wording() {
        assert_eq!(
            error(&["foo", "a", "b"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            error(&["FOO"]),
            "ERR unknown command 'FOO', with args beginning with: "
        );
    }

    #[test]
    fn arity_and_options() {
        assert_eq!(
            error(&["get"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            error(&["mset", "a", "1", "b"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(error(&["set", "k", "v", "nx", "xx"]), "ERR syntax error");
        assert_eq!(error(&["set", "k", "v", "ex"]), "ERR syntax error");
        assert_eq!(error(&["scan", "x"]), "ERR invalid cursor");
        assert_eq!(error(&["scan", "0", "count", "0"]), "ERR syntax error");
        assert_eq!(error(&["select", "1"]), "ERR DB index is out of range");
        assert_eq!(
            error(&["hello", "3"]),
            "NOPROTO unsupported protocol version"
        );
        assert_eq!(
            decode(&req(&["SeT", "k", "v", "Nx", "GET"])),
            Ok(Command::Set {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                condition: Condition::IfAbsent,
                get: true,
                deadline: Deadline::Default,
                name: "set"
            })
        );
        assert_eq!(
            decode(&req(&["scan", "7", "MATCH", "a*", "COUNT", "3"])),
            Ok(Command::Scan(ScanArgs {
                cursor: 7,
                pattern: Some(b"a*".to_vec()),
                count: 3,
                type_matches: true
            }))
        );
    }
}
