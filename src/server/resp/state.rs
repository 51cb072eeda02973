//! What RESP connections share ([`Shared`], with its counters [`RespStats`]) and what each
//! keeps for itself ([`Session`]: its id, name and `SCAN` cursors).
//!
//! `SCAN` cursors: Redis clients read a cursor as an unsigned integer, and meshkv resumes a
//! scan after a key, which no integer can hold. So each connection keeps a small table from
//! cursor numbers to the key to resume after: at most [`MAX_CURSORS`] (the oldest is dropped
//! first), numbered from 1 upwards, never reused on the connection; `0` starts a scan and
//! ends one. A cursor is only good on the connection that got it, and once: an unknown,
//! already used or dropped cursor gets `-ERR invalid cursor`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

use crate::{Db, Node};

/// Most `SCAN` cursors a connection keeps open.
pub const MAX_CURSORS: usize = 16;

/// Counters of the RESP listener since the server started.
#[derive(Debug, Default)]
pub struct RespStats {
    /// Connections accepted and served.
    pub connections: AtomicU64,
    /// Connections refused because `resp_max_clients` were open.
    pub refused: AtomicU64,
    /// Connections open now.
    pub connected: AtomicU64,
    /// Commands executed (error replies included).
    pub commands: AtomicU64,
    /// Error replies sent (unknown commands, bad arguments, refused writes, protocol errors).
    pub errors: AtomicU64,
}

impl RespStats {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What every RESP connection of a server shares.
pub struct Shared {
    /// The database served.
    pub db: Db,
    /// Its node, for `INFO replication`.
    pub node: Arc<Node>,
    /// Writes from RESP take it shared; `SET NX|XX|GET` and `DEL` (which read, then write)
    /// take it exclusively, so no other RESP write slips between their check and their write.
    pub writes: RwLock<()>,
    /// The counters.
    pub stats: Arc<RespStats>,
    /// The bound RESP address.
    pub addr: SocketAddr,
    /// When the listener started (`INFO`'s uptime).
    pub started: Instant,
    next_id: AtomicU64,
}

impl Shared {
    /// The shared state of a listener bound at `addr`.
    pub fn new(db: Db, node: Arc<Node>, addr: SocketAddr, stats: Arc<RespStats>) -> Shared {
        Shared {
            db,
            node,
            writes: RwLock::new(()),
            stats,
            addr,
            started: Instant::now(),
            next_id: AtomicU64::new(1),
        }
    }

    /// A new connection's session, with the next client id.
    pub fn session(&self) -> Session {
        Session {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            name: None,
            cursors: VecDeque::new(),
            next_cursor: 1,
        }
    }
}

/// One connection's state.
#[derive(Debug, Clone)]
pub struct Session {
    /// Client id (`CLIENT ID`, `HELLO`).
    pub id: u64,
    /// Name from `CLIENT SETNAME` or `HELLO SETNAME`.
    pub name: Option<Vec<u8>>,
    cursors: VecDeque<(u64, Vec<u8>)>,
    next_cursor: u64,
}

impl Session {
    /// Stores the key a scan resumes after; returns its cursor number (never 0).
    pub fn open_cursor(&mut self, resume_after: Vec<u8>) -> u64 {
        if self.cursors.len() >= MAX_CURSORS {
            self.cursors.pop_front();
        }
        let id = self.next_cursor;
        self.next_cursor = self.next_cursor.checked_add(1).unwrap_or(1);
        self.cursors.push_back((id, resume_after));
        id
    }

    /// Takes the key of cursor `id`, if this connection holds it.
    pub fn take_cursor(&mut self, id: u64) -> Option<Vec<u8>> {
        let at = self.cursors.iter().position(|(c, _)| *c == id)?;
        self.cursors.remove(at).map(|(_, key)| key)
    }
}
