//! [`execute`]: one request against the database, to its reply. Synchronous (RocksDB calls
//! block): the connection runs it off the async workers.
//!
//! Semantics, and where they differ from Redis:
//!
//! - Every node takes writes (multi-master): a `SET` here and a `SET` of the same key on a
//!   peer both succeed, and replication's resolver (last writer wins by default) decides
//!   which value every node ends with.
//! - `SET NX|XX` (and `SET ... GET`, `DEL`) check and write atomically against the other
//!   RESP commands of this server (an exclusive lock, see [`Shared::writes`]), but not against
//!   HTTP writes or entries replicated from peers: the condition is a local decision, and a
//!   concurrent write elsewhere is settled by the resolver like any other conflict.
//! - The read-modify-write commands (`APPEND`, `SETRANGE`, `GETSET`, `GETDEL`, `SETNX`,
//!   `MSETNX`, `RENAME`, `RENAMENX`) take the same exclusive lock. On other masters they are
//!   plain writes of their result: concurrent `APPEND`s of one key on two nodes each write their
//!   own result and the resolver keeps one (never a merge); a `RENAME` racing a write of its
//!   source elsewhere may leave both keys. `MSETNX` and `RENAME` commit as one batch.
//! - `MSET` is one atomic batch ([`Db::write`](crate::Db::write)): all keys or none, on this
//!   node and on every peer.
//! - `DEL` counts the keys that held a value and deletes only those (a missing key leaves no
//!   tombstone); `EXISTS` counts every argument that holds a value, repeats included.
//! - Keys are non-empty and at most `max_key_size` bytes, values at most `max_value_size`:
//!   anything else gets `-ERR` with the reason, and nothing of the command is written.
//! - `SCAN`: cursors are per connection (see [`super::state`]); `COUNT` keys are examined per
//!   call (at most [`MAX_SCAN_COUNT`]), and `MATCH` filters them (see [`super::pattern`]).
//!   A key present from a scan's start to its end is returned once; keys are in byte order.
//! - `DBSIZE` and `INFO keyspace` answer from counts every commit keeps: constant time. A key
//!   past its deadline counts until the sweeper removes its value (100 ms by default), as a
//!   Redis key counts until it is evicted.

use super::command::{self, ClientCmd, Command, Condition, Introspect, ScanArgs, SPECS};
use super::expiry::{self, Deadline};
use super::info;
use super::pattern;
use super::reply::Reply;
use super::state::{Session, Shared};
use crate::Error;

/// Most keys one `SCAN` call examines, whatever its `COUNT`.
pub const MAX_SCAN_COUNT: usize = 100_000;

/// What the connection does after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The reply to send.
    pub reply: Reply,
    /// Close the connection once the reply is sent (`QUIT`).
    pub close: bool,
}

/// The key and value of a plain `SET key value` (no option), which can join a batch.
pub fn plain_set(request: &[Vec<u8>]) -> Option<(&[u8], &[u8])> {
    match request {
        [name, key, value] if name.eq_ignore_ascii_case(b"SET") => Some((key, value)),
        _ => None,
    }
}

/// Commits plain `SET`s (see [`plain_set`]) as one atomic batch, in order (a key set twice
/// keeps its last value); a bad key or value refuses all of them.
pub fn set_all(shared: &Shared, requests: &[Vec<Vec<u8>>]) -> crate::Result<()> {
    let mut batch = shared.db.batch();
    for (key, value) in requests.iter().filter_map(|r| plain_set(r)) {
        batch.put(key, value);
    }
    let _shared = shared.writes.read();
    shared.db.write(batch).map(|_| ())
}

/// Decodes and runs one non-empty request.
pub fn execute(shared: &Shared, session: &mut Session, request: &[Vec<u8>]) -> Outcome {
    let close = false;
    let reply = match command::decode(request) {
        Err(reply) => reply,
        Ok(Command::Quit) => {
            return Outcome {
                reply: Reply::ok(),
                close: true,
            }
        }
        Ok(cmd) => run(shared, session, cmd).unwrap_or_else(Reply::err),
    };
    Outcome { reply, close }
}

fn run(shared: &Shared, session: &mut Session, cmd: Command) -> crate::Result<Reply> {
    let db = &shared.db;
    Ok(match cmd {
        Command::Ping(None) => Reply::Simple("PONG".into()),
        Command::Ping(Some(m)) | Command::Echo(m) => Reply::Bulk(m),
        Command::Get(key) => db.get(&key)?.map_or(Reply::Nil, Reply::Bulk),
        Command::Set {
            key,
            value,
            condition,
            get,
            deadline,
            name,
        } => {
            if condition == Condition::Always && !get && deadline != Deadline::Keep {
                let _shared = shared.writes.read();
                if let Err(e) = expiry::put(shared, &key, &value, deadline) {
                    return expiry::too_late(e, name);
                }
                return Ok(Reply::ok());
            }
            let _exclusive = shared.writes.write();
            let old = db.get(&key)?;
            let write = match condition {
                Condition::Always => true,
                Condition::IfAbsent => old.is_none(),
                Condition::IfPresent => old.is_some(),
            };
            if write {
                if let Err(e) = expiry::put(shared, &key, &value, deadline) {
                    return expiry::too_late(e, name);
                }
            } else {
                // A write that is not made still has to be a valid one.
                check_value(shared, &value)?;
            }
            match (get, write) {
                (true, _) => old.map_or(Reply::Nil, Reply::Bulk),
                (false, true) => Reply::ok(),
                (false, false) => Reply::Nil,
            }
        }
        Command::MGet(keys) => Reply::Array(
            keys.iter()
                .map(|k| Ok(db.get(k)?.map_or(Reply::Nil, Reply::Bulk)))
                .collect::<crate::Result<_>>()?,
        ),
        Command::MSet(pairs) => {
            let mut batch = db.batch();
            for (k, v) in &pairs {
                batch.put(k, v);
            }
            let _shared = shared.writes.read();
            db.write(batch)?;
            Reply::ok()
        }
        Command::Del(keys) => {
            let _exclusive = shared.writes.write();
            let mut batch = db.batch();
            let mut present: std::collections::HashSet<&[u8]> = Default::default();
            for k in &keys {
                if !present.contains(k.as_slice()) && db.get(k)?.is_some() {
                    present.insert(k);
                    batch.delete(k);
                }
            }
            db.write(batch)?;
            Reply::count(present.len())
        }
        Command::Exists(keys) => {
            let mut n = 0;
            for k in &keys {
                n += usize::from(db.get(k)?.is_some());
            }
            Reply::count(n)
        }
        Command::Scan(args) => scan(shared, session, args)?,
        Command::DbSize => Reply::Integer(i64::try_from(db.key_count()).unwrap_or(i64::MAX)),
        Command::Info(sections) => Reply::Bulk(info::render(shared, &sections)?.into_bytes()),
        Command::Command(what) => introspect(what),
        Command::Hello(name) => {
            if name.is_some() {
                session.name = name;
            }
            hello(session)
        }
        Command::Select => Reply::ok(),
        Command::Client(ClientCmd::SetName(name)) => {
            session.name = (!name.is_empty()).then_some(name);
            Reply::ok()
        }
        Command::Client(ClientCmd::GetName) => session.name.clone().map_or(Reply::Nil, Reply::Bulk),
        Command::Client(ClientCmd::Id) => Reply::Integer(i64::try_from(session.id).unwrap_or(0)),
        Command::Client(ClientCmd::SetInfo) => Reply::ok(),
        Command::Quit => Reply::ok(),
        Command::Append(key, value) => {
            let _exclusive = shared.writes.write();
            let mut new = db.get(&key)?.unwrap_or_default();
            new.extend_from_slice(&value);
            check_value(shared, &new)?;
            expiry::put_keeping(shared, &key, &new)?;
            Reply::count(new.len())
        }
        Command::GetEx(key, deadline) => expiry::run_getex(shared, &key, deadline)?,
        Command::Expire(args) => expiry::run_expire(shared, &args)?,
        Command::Ttl(key, query) => expiry::run_ttl(shared, &key, query)?,
        Command::Persist(key) => expiry::run_persist(shared, &key)?,
        Command::FlushAll => {
            flush_all(shared)?;
            Reply::ok()
        }
        Command::FunctionFlush => Reply::ok(),
        Command::Time => {
            let us = u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_micros())
                    .unwrap_or(0),
            )
            .unwrap_or(u64::MAX);
            // This node's clock (`Options::clock`) when it is a custom one, in whole ms.
            let us = if db.options().clock.is_system() {
                us
            } else {
                expiry::now_ms(shared).saturating_mul(1000)
            };
            Reply::Array(vec![
                Reply::Bulk((us / 1_000_000).to_string().into_bytes()),
                Reply::Bulk((us % 1_000_000).to_string().into_bytes()),
            ])
        }
        Command::DebugLog(message) => {
            tracing::info!(message = %String::from_utf8_lossy(&message), "DEBUG LOG");
            Reply::ok()
        }
        Command::StrLen(key) => Reply::count(db.get(&key)?.map_or(0, |v| v.len())),
        Command::GetRange(key, start, end) => {
            let value = db.get(&key)?.unwrap_or_default();
            Reply::Bulk(range(&value, start, end).to_vec())
        }
        Command::SetRange(key, offset, value) => {
            let _exclusive = shared.writes.write();
            let old = db.get(&key)?;
            if value.is_empty() {
                // Nothing to write (and a missing key stays missing), as Redis does.
                return Ok(Reply::count(old.map_or(0, |v| v.len())));
            }
            let max = db.options().max_value_size;
            let end = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .saturating_add(value.len());
            if end > max {
                return Err(Error::ValueTooLarge { len: end, max });
            }
            let mut new = old.unwrap_or_default();
            if new.len() < end {
                new.resize(end, 0);
            }
            let at = end - value.len();
            new[at..end].copy_from_slice(&value);
            expiry::put_keeping(shared, &key, &new)?;
            Reply::count(new.len())
        }
        Command::SetNx(key, value) => {
            let _exclusive = shared.writes.write();
            if db.get(&key)?.is_some() {
                check_value(shared, &value)?;
                return Ok(Reply::Integer(0));
            }
            db.put(&key, &value)?;
            Reply::Integer(1)
        }
        Command::MSetNx(pairs) => {
            let _exclusive = shared.writes.write();
            for (k, _) in &pairs {
                if db.get(k)?.is_some() {
                    return Ok(Reply::Integer(0));
                }
            }
            let mut batch = db.batch();
            for (k, v) in &pairs {
                batch.put(k, v);
            }
            db.write(batch)?;
            Reply::Integer(1)
        }
        Command::GetDel(key) => {
            let _exclusive = shared.writes.write();
            let old = db.get(&key)?;
            if old.is_some() {
                db.delete(&key)?;
            }
            old.map_or(Reply::Nil, Reply::Bulk)
        }
        Command::Type(key) => Reply::Simple(
            if db.get(&key)?.is_some() {
                "string"
            } else {
                "none"
            }
            .into(),
        ),
        Command::Keys(pattern) => keys(shared, &pattern)?,
        Command::RandomKey => random_key(shared)?,
        Command::Rename { from, to, nx } => {
            let _exclusive = shared.writes.write();
            let Some(value) = db.get(&from)? else {
                return Ok(Reply::err("no such key"));
            };
            if from == to {
                return Ok(if nx { Reply::Integer(0) } else { Reply::ok() });
            }
            if nx && db.get(&to)?.is_some() {
                return Ok(Reply::Integer(0));
            }
            // The new name keeps the source's deadline, as in Redis.
            let mut batch = db.batch();
            match db.expiry(&from)? {
                crate::Expiry::At(at) => batch.put_expiring_at(&to, &value, at),
                _ => batch.put(&to, &value),
            };
            batch.delete(&from);
            db.write(batch)?;
            if nx {
                Reply::Integer(1)
            } else {
                Reply::ok()
            }
        }
    })
}

/// `FLUSHALL`/`FLUSHDB`: [`Db::delete_all`](crate::Db::delete_all) under the exclusive RESP
/// write lock, so no other RESP command of this server interleaves with it.
fn flush_all(shared: &Shared) -> crate::Result<u64> {
    let _exclusive = shared.writes.write();
    shared.db.delete_all()
}

/// `GETRANGE`'s bytes of `value` from `start` to `end` inclusive, negative counting from the
/// end, clamped: Redis's rules (an empty range when start passes end).
fn range(value: &[u8], start: i64, end: i64) -> &[u8] {
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if len == 0 || start > end {
        return &[];
    }
    // Both within 0..len here.
    &value[start as usize..=end as usize]
}

/// `KEYS pattern`: every live key that matches, in byte order (Redis's order is its hash
/// table's; clients must not rely on either).
fn keys(shared: &Shared, pattern: &[u8]) -> crate::Result<Reply> {
    let prefix = pattern::literal_prefix(pattern);
    let filter = !pattern::is_prefix_only(pattern);
    let mut out = Vec::new();
    for item in shared.db.scan_prefix(&prefix) {
        let (key, _) = item?;
        if !filter || pattern::matches(pattern, &key) {
            out.push(Reply::Bulk(key));
        }
    }
    Ok(Reply::Array(out))
}

/// `RANDOMKEY`: the first live key at or after a random point of the key space (wrapping to
/// the first key), or nil when there is none. Keys after long gaps come up more often: a
/// sample, not a uniform draw.
fn random_key(shared: &Shared) -> crate::Result<Reply> {
    let point: [u8; 8] = rand::random();
    let first_from = |lower: std::ops::Bound<&[u8]>| -> crate::Result<Option<Vec<u8>>> {
        let bounds = (lower, std::ops::Bound::<&[u8]>::Unbounded);
        match shared.db.scan(bounds).next() {
            Some(item) => Ok(Some(item?.0)),
            None => Ok(None),
        }
    };
    let found = match first_from(std::ops::Bound::Included(&point[..]))? {
        Some(k) => Some(k),
        None => first_from(std::ops::Bound::Unbounded)?,
    };
    Ok(found.map_or(Reply::Nil, Reply::Bulk))
}

fn check_value(shared: &Shared, value: &[u8]) -> crate::Result<()> {
    let max = shared.db.options().max_value_size;
    if value.len() > max {
        return Err(Error::ValueTooLarge {
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn scan(shared: &Shared, session: &mut Session, args: ScanArgs) -> crate::Result<Reply> {
    let resume = match args.cursor {
        0 => None,
        c => match session.take_cursor(c) {
            Some(key) => Some(key),
            None => return Ok(Reply::err("invalid cursor")),
        },
    };
    let done = |keys: Vec<Vec<u8>>, cursor: u64| {
        Reply::Array(vec![
            Reply::text(cursor.to_string()),
            Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
        ])
    };
    if !args.type_matches {
        return Ok(done(Vec::new(), 0));
    }
    let pattern = args.pattern.unwrap_or_else(|| b"*".to_vec());
    let prefix = pattern::literal_prefix(&pattern);
    let filter = !pattern::is_prefix_only(&pattern);
    let end = crate::storage::scan::prefix_end(&prefix);
    let lower = match &resume {
        Some(k) => std::ops::Bound::Excluded(k.as_slice()),
        None => std::ops::Bound::Included(prefix.as_slice()),
    };
    let upper = match &end {
        Some(e) => std::ops::Bound::Excluded(e.as_slice()),
        None => std::ops::Bound::Unbounded,
    };
    let count = args.count.min(MAX_SCAN_COUNT);
    let mut keys = Vec::new();
    let mut last = None;
    for (examined, item) in shared.db.scan((lower, upper)).enumerate() {
        let (key, _) = item?;
        if examined == count {
            let cursor = last.map_or(0, |k| session.open_cursor(k));
            return Ok(done(keys, cursor));
        }
        if !filter || pattern::matches(&pattern, &key) {
            keys.push(key.clone());
        }
        last = Some(key);
    }
    Ok(done(keys, 0))
}

fn introspect(what: Introspect) -> Reply {
    let entry = |s: &command::Spec| {
        Reply::Array(vec![
            Reply::text(s.name),
            Reply::Integer(s.arity),
            Reply::Array(s.flags.iter().map(|f| Reply::Simple((*f).into())).collect()),
            Reply::Integer(s.keys.0),
            Reply::Integer(s.keys.1),
            Reply::Integer(s.keys.2),
            Reply::Array(Vec::new()),
            Reply::Array(Vec::new()),
            Reply::Array(Vec::new()),
            Reply::Array(Vec::new()),
        ])
    };
    match what {
        Introspect::List => Reply::Array(SPECS.iter().map(entry).collect()),
        Introspect::Count => Reply::count(SPECS.len()),
        Introspect::Docs => Reply::Array(Vec::new()),
        Introspect::Info(names) => Reply::Array(
            names
                .iter()
                .map(|n| command::find(n).map_or(Reply::Nil, entry))
                .collect(),
        ),
    }
}

/// `HELLO`'s server map, flattened as RESP2 does.
fn hello(session: &Session) -> Reply {
    Reply::Array(vec![
        Reply::text("server"),
        Reply::text("redis"),
        Reply::text("version"),
        Reply::text(info::REDIS_VERSION),
        Reply::text("proto"),
        Reply::Integer(2),
        Reply::text("id"),
        Reply::Integer(i64::try_from(session.id).unwrap_or(0)),
        Reply::text("mode"),
        Reply::text("standalone"),
        Reply::text("role"),
        Reply::text("master"),
        Reply::text("modules"),
        Reply::Array(Vec::new()),
    ])
}

#[cfg(test)]
mod tests {
    use super::range;

    #[test]
    fn getrange_follows_redis_rules() {
        let v = b"hello world";
        assert_eq!(range(v, 0, 4), b"hello");
        assert_eq!(range(v, -5, -1), b"world");
        assert_eq!(range(v, 5, 2), b"");
        assert_eq!(range(v, -100, 100), v);
        assert_eq!(range(v, -1, -5), b"");
        assert_eq!(range(v, 3, -1), b"lo world");
        assert_eq!(range(b"", 0, -1), b"");
        assert_eq!(range(v, i64::MIN, i64::MAX), v);
        assert_eq!(range(v, i64::MAX, i64::MAX), b"");
    }
}
