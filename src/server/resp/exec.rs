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
//! - `MSET` is one atomic batch ([`Db::write`](crate::Db::write)): all keys or none, on this
//!   node and on every peer.
//! - `DEL` counts the keys that held a value and deletes only those (a missing key leaves no
//!   tombstone); `EXISTS` counts every argument that holds a value, repeats included.
//! - Keys are non-empty and at most `max_key_size` bytes, values at most `max_value_size`:
//!   anything else gets `-ERR` with the reason, and nothing of the command is written.
//! - `SCAN`: cursors are per connection (see [`super::state`]); `COUNT` keys are examined per
//!   call (at most [`MAX_SCAN_COUNT`]), and `MATCH` filters them (see [`super::pattern`]).
//!   A key present from a scan's start to its end is returned once; keys are in byte order.
//! - `DBSIZE` and `INFO keyspace` count the live keys by walking them: O(keys).

use super::command::{self, ClientCmd, Command, Condition, Introspect, ScanArgs, SPECS};
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
        } => {
            if condition == Condition::Always && !get {
                let _shared = shared.writes.read();
                db.put(&key, &value)?;
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
                db.put(&key, &value)?;
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
        Command::DbSize => Reply::Integer(i64::try_from(db.live_keys()?).unwrap_or(i64::MAX)),
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
    })
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
