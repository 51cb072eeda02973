//! The RESP commands about expiry: the deadline options of `SET`, `SETEX`, `PSETEX` and
//! `GETEX`; `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` with `NX`/`XX`/`GT`/`LT`; `TTL`, `PTTL`,
//! `EXPIRETIME`, `PEXPIRETIME`; `PERSIST`. Decoding is a plain function of the arguments;
//! running reads the node's clock and writes through [`Db`](crate::Db)'s expiry calls.
//!
//! Redis's rules and replies, with these differences (docs/server.md):
//! - a deadline past 2^48 ms after the epoch (the year 10889) is refused with Redis's
//!   `invalid expire time` error, where Redis would accept it;
//! - a key reaching its deadline is not deleted: it reads as absent on each node from its
//!   deadline by that node's clock (docs/design.md, "Expiry"); `EXPIRE` to a time already
//!   past makes it absent at once, as in Redis (its record stays, as expired).

use std::time::{Duration, SystemTime};

use super::command::{is, not_integer, syntax, Command};
use super::parser::parse_i64;
use super::reply::Reply;
use super::state::Shared;
use crate::record::entry::{deadline_ms, deadline_time};
use crate::{Error, Expiry};

/// What a command does to a key's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// No option: `SET` clears the deadline, `GETEX` leaves it.
    Default,
    /// `KEEPTTL` (`SET`): keep the key's deadline.
    Keep,
    /// `PERSIST` (`GETEX`): remove it.
    Persist,
    /// `EX`/`PX`: this many milliseconds from now (at least 1).
    After(u64),
    /// `EXAT`/`PXAT`: at this time, ms since the Unix epoch (at least 1).
    At(u64),
}

/// The condition of an `EXPIRE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// No option: always.
    Always,
    /// `NX`: only when the key has no deadline.
    NoDeadline,
    /// `XX`: only when it has one.
    HasDeadline,
    /// `GT`: only when the new deadline is later (no deadline counts as infinitely late).
    Later,
    /// `LT`: only when the new deadline is earlier (no deadline counts as infinitely late).
    Earlier,
    /// `XX LT`: only when the key has a deadline and the new one is earlier.
    EarlierOfSome,
}

/// `EXPIRE` and its variants, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireArgs {
    /// The key.
    pub key: Vec<u8>,
    /// The new deadline: `Ok(ms)` relative (`EXPIRE`, `PEXPIRE`: may be negative) or absolute.
    pub at: ExpireAt,
    /// `NX`/`XX`/`GT`/`LT`.
    pub when: When,
    /// The command's name, for its error replies.
    pub name: &'static str,
}

/// The time argument of an `EXPIRE`, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireAt {
    /// From now (`EXPIRE`, `PEXPIRE`).
    In(i64),
    /// Since the Unix epoch (`EXPIREAT`, `PEXPIREAT`).
    Unix(i64),
}

/// What `TTL` and its variants report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlQuery {
    /// `TTL`: seconds left, rounded.
    Seconds,
    /// `PTTL`: milliseconds left.
    Millis,
    /// `EXPIRETIME`: the deadline in Unix seconds.
    UnixSeconds,
    /// `PEXPIRETIME`: the deadline in Unix milliseconds.
    UnixMillis,
}

/// Redis's reply to a time that is not positive or overflows.
pub fn invalid_time(name: &str) -> Reply {
    Reply::err(format!("invalid expire time in '{name}' command"))
}

/// A positive time argument of `SET`/`GETEX`/`SETEX` in `unit_ms` milliseconds, as ms.
fn positive(arg: &[u8], unit_ms: i64, name: &str) -> Result<u64, Reply> {
    let n = parse_i64(arg).ok_or_else(not_integer)?;
    if n <= 0 {
        return Err(invalid_time(name));
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(|| invalid_time(name))?;
    u64::try_from(ms).map_err(|_| invalid_time(name))
}

/// Parses the deadline options of `SET` (`KEEPTTL` allowed) or `GETEX` (`PERSIST` allowed):
/// `word` is the option at `args[i]`; returns the deadline and how many arguments it took, or
/// `None` when `word` is no deadline option.
pub fn deadline_option(
    args: &[Vec<u8>],
    i: usize,
    name: &str,
) -> Option<Result<(Deadline, usize), Reply>> {
    let word = &args[i];
    let timed: [(&str, i64, bool); 4] = [
        ("ex", 1000, false),
        ("px", 1, false),
        ("exat", 1000, true),
        ("pxat", 1, true),
    ];
    for (option, unit, absolute) in timed {
        if is(word, option) {
            let Some(arg) = args.get(i + 1) else {
                return Some(Err(syntax()));
            };
            return Some(positive(arg, unit, name).map(|ms| {
                let d = if absolute {
                    Deadline::At(ms)
                } else {
                    Deadline::After(ms)
                };
                (d, 2)
            }));
        }
    }
    if is(word, "keepttl") && name == "set" {
        return Some(Ok((Deadline::Keep, 1)));
    }
    if is(word, "persist") && name == "getex" {
        return Some(Ok((Deadline::Persist, 1)));
    }
    None
}

/// Decodes `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`.
pub fn getex(args: &[Vec<u8>]) -> Result<Command, Reply> {
    let mut deadline = Deadline::Default;
    let mut i = 1;
    while i < args.len() {
        match deadline_option(args, i, "getex") {
            Some(Ok((d, used))) if deadline == Deadline::Default => {
                deadline = d;
                i += used;
            }
            Some(Err(reply)) => return Err(reply),
            _ => return Err(syntax()),
        }
    }
    Ok(Command::GetEx(args[0].clone(), deadline))
}

/// Decodes `EXPIRE key seconds [NX | XX | GT | LT]` and its variants (`name`).
pub fn expire(args: &[Vec<u8>], name: &'static str) -> Result<Command, Reply> {
    let n = parse_i64(&args[1]).ok_or_else(not_integer)?;
    let (unit, absolute) = match name {
        "expire" => (1000, false),
        "pexpire" => (1, false),
        "expireat" => (1000, true),
        _ => (1, true),
    };
    let ms = n.checked_mul(unit).ok_or_else(|| invalid_time(name))?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for word in &args[2..] {
        if is(word, "nx") {
            nx = true;
        } else if is(word, "xx") {
            xx = true;
        } else if is(word, "gt") {
            gt = true;
        } else if is(word, "lt") {
            lt = true;
        } else {
            return Err(Reply::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(word)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    // `GT` already needs a deadline (none is infinitely late), so `XX GT` is `GT`.
    let when = match (nx, xx, gt, lt) {
        (true, ..) => When::NoDeadline,
        (_, _, true, _) => When::Later,
        (_, true, _, true) => When::EarlierOfSome,
        (_, _, _, true) => When::Earlier,
        (_, true, ..) => When::HasDeadline,
        _ => When::Always,
    };
    Ok(Command::Expire(ExpireArgs {
        key: args[0].clone(),
        at: if absolute {
            ExpireAt::Unix(ms)
        } else {
            ExpireAt::In(ms)
        },
        when,
        name,
    }))
}

/// This node's clock, ms since the Unix epoch.
pub fn now_ms(shared: &Shared) -> u64 {
    crate::hlc::millis(shared.db.options().clock.reading())
}

/// The deadline of `d` for a write at `now`, `None` for none (`Default` in `SET`, `Persist`).
fn absolute(d: Deadline, now: u64) -> Option<u64> {
    match d {
        Deadline::After(ms) => Some(now.saturating_add(ms)),
        Deadline::At(ms) => Some(ms),
        Deadline::Default | Deadline::Keep | Deadline::Persist => None,
    }
}

/// Writes `value` at `key` with the deadline `d` says (`Keep`: the key's own), the way `SET`
/// does. A deadline too late is [`Error::DeadlineTooLate`] (see [`too_late`]). Called under
/// the RESP write lock (shared or exclusive, as the caller needs).
pub fn put(shared: &Shared, key: &[u8], value: &[u8], d: Deadline) -> crate::Result<()> {
    let db = &shared.db;
    let at = match d {
        Deadline::Keep => match db.expiry(key)? {
            Expiry::At(t) => Some(deadline_ms(t)),
            _ => None,
        },
        other => absolute(other, now_ms(shared)),
    };
    match at {
        Some(at) => db.put_expiring_at(key, value, deadline_time(at)).map(drop),
        None => db.put(key, value).map(drop),
    }
}

/// Writes a new value of `key` keeping its deadline: `APPEND`, `SETRANGE` (Redis keeps the
/// time-to-live of a key they change).
pub fn put_keeping(shared: &Shared, key: &[u8], value: &[u8]) -> crate::Result<()> {
    put(shared, key, value, Deadline::Keep)
}

/// The reply to a failed write of command `name`: Redis's `invalid expire time` for a
/// deadline too late, the error itself otherwise.
pub fn too_late(e: Error, name: &str) -> crate::Result<Reply> {
    match e {
        Error::DeadlineTooLate { .. } => Ok(invalid_time(name)),
        e => Err(e),
    }
}

/// Runs `GETEX` under the exclusive write lock.
pub fn run_getex(shared: &Shared, key: &[u8], d: Deadline) -> crate::Result<Reply> {
    let db = &shared.db;
    let _exclusive = shared.writes.write();
    let Some(value) = db.get(key)? else {
        return Ok(Reply::Nil);
    };
    match d {
        Deadline::Default | Deadline::Keep => {}
        Deadline::Persist => {
            if matches!(db.expiry(key)?, Expiry::At(_)) {
                db.persist(key)?;
            }
        }
        timed => {
            let at = absolute(timed, now_ms(shared)).unwrap_or_default();
            if let Err(e) = db.expire_at(key, deadline_time(at)) {
                return too_late(e, "getex");
            }
        }
    }
    Ok(Reply::Bulk(value))
}

/// Runs `EXPIRE` and its variants under the exclusive write lock: 1 when the deadline was set
/// (or the key expired at once), 0 when the key holds no value or the condition fails.
pub fn run_expire(shared: &Shared, args: &ExpireArgs) -> crate::Result<Reply> {
    let db = &shared.db;
    let _exclusive = shared.writes.write();
    let now = i64::try_from(now_ms(shared)).unwrap_or(i64::MAX);
    let at = match args.at {
        ExpireAt::In(ms) => now.checked_add(ms),
        ExpireAt::Unix(ms) => Some(ms),
    };
    let Some(at) = at else {
        return Ok(invalid_time(args.name));
    };
    let current = match db.expiry(&args.key)? {
        Expiry::Missing => return Ok(Reply::Integer(0)),
        Expiry::Never => None,
        Expiry::At(t) => Some(i64::try_from(deadline_ms(t)).unwrap_or(i64::MAX)),
    };
    let allowed = match (args.when, current) {
        (When::Always, _) => true,
        (When::NoDeadline, c) => c.is_none(),
        (When::HasDeadline, c) => c.is_some(),
        // No deadline is an infinite one: never later than it, always earlier.
        (When::Later, c) => c.is_some_and(|c| at > c),
        (When::Earlier, None) => true,
        (When::Earlier | When::EarlierOfSome, Some(c)) => at < c,
        (When::EarlierOfSome, None) => false,
    };
    if !allowed {
        return Ok(Reply::Integer(0));
    }
    // A time at or before the epoch is simply in the past.
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(at).unwrap_or(0));
    match db.expire_at(&args.key, at) {
        Ok(done) => Ok(Reply::Integer(i64::from(done.is_some()))),
        Err(e) => too_late(e, args.name),
    }
}

/// Runs `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`: -2 for a key without a value, -1 for one
/// without a deadline.
pub fn run_ttl(shared: &Shared, key: &[u8], query: TtlQuery) -> crate::Result<Reply> {
    let at = match shared.db.expiry(key)? {
        Expiry::Missing => return Ok(Reply::Integer(-2)),
        Expiry::Never => return Ok(Reply::Integer(-1)),
        Expiry::At(t) => deadline_ms(t),
    };
    let left = at.saturating_sub(now_ms(shared));
    let n = match query {
        // Redis rounds the seconds left to the nearest.
        TtlQuery::Seconds => (left + 500) / 1000,
        TtlQuery::Millis => left,
        TtlQuery::UnixSeconds => at / 1000,
        TtlQuery::UnixMillis => at,
    };
    Ok(Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Runs `PERSIST` under the exclusive write lock: 1 when a deadline was removed.
pub fn run_persist(shared: &Shared, key: &[u8]) -> crate::Result<Reply> {
    let _exclusive = shared.writes.write();
    if !matches!(shared.db.expiry(key)?, Expiry::At(_)) {
        return Ok(Reply::Integer(0));
    }
    Ok(Reply::Integer(i64::from(shared.db.persist(key)?.is_some())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::resp::command::decode;
    use crate::server::resp::command::tests::{error, req};

    #[test]
    fn options_and_errors_in_redis_words() {
        assert_eq!(
            error(&["set", "k", "v", "ex", "0"]),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            error(&["set", "k", "v", "px", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&["set", "k", "v", "ex", "1", "px", "1"]),
            "ERR syntax error"
        );
        assert_eq!(
            error(&["set", "k", "v", "keepttl", "ex", "1"]),
            "ERR syntax error"
        );
        assert_eq!(
            error(&["getex", "k", "persist", "ex", "1"]),
            "ERR syntax error"
        );
        assert_eq!(
            error(&["setex", "k", "-1", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            error(&["expire", "k", "1", "nx", "gt"]),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            error(&["expire", "k", "1", "gt", "lt"]),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            error(&["expire", "k", "1", "zz"]),
            "ERR Unsupported option zz"
        );
        assert_eq!(
            error(&["expire", "k", "9223372036854775807"]),
            "ERR invalid expire time in 'expire' command"
        );
        assert_eq!(
            decode(&req(&["GETEX", "k", "PxAt", "5"])),
            Ok(Command::GetEx(b"k".to_vec(), Deadline::At(5)))
        );
        assert_eq!(
            decode(&req(&["pexpire", "k", "-5", "XX", "GT"])),
            Ok(Command::Expire(ExpireArgs {
                key: b"k".to_vec(),
                at: ExpireAt::In(-5),
                when: When::Later,
                name: "pexpire"
            }))
        );
    }
}
