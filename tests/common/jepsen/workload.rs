//! A seeded workload: which key each client writes next, and how: a put, a put with a
//! time-to-live, a delete, an expire or a persist.
//!
//! **Keys that expire.** Every mode mixes in the expiry operations at a modest ratio (of the
//! operations that are not deletes: 15% puts with a TTL, 8% expires, 5% persists; the delete
//! ratio of each mode is what it was), so every suite that runs a workload (the in-process
//! nemesis, the process cluster, the simulation, the negative controls) writes deadlines too.
//! A TTL is either *short* or *long* ([`Ttls`]), two classes far apart on purpose:
//! - short TTLs (two in three) are well under the run's length, so many keys expire while the
//!   run goes on, by a deadline that replicates, races other writes and crosses partitions;
//! - long TTLs (days) are longer than the run plus the worst clock error any node has in any
//!   suite (the simulation puts one node's clock up to 30 hours ahead for a few seconds): no
//!   node ever judges them expired, not even one whose clock is hours ahead while an entry
//!   reaches it.
//!
//! So at the end every deadline is either long past or far ahead, on every node: the harness
//! reads the final contents once every short deadline has passed on every node's clock
//! ([`super::checker::pending_deadline`]), and what each node reads as expired cannot flap.
//! Persists (and plain puts, which clear a deadline) keep keys that a TTL would have expired.
//!
//! Expires and persists in the unique-key mode go to one of the client's own recent keys, so
//! every key still has one writer (no conflicts).

use std::time::Duration;

use meshkv::{Db, Version};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::history::Outcome;

/// The shape of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A small key space (`keys` keys) shared by every client, 20% deletes: many conflicts.
    Conflicts { keys: u32 },
    /// Every put goes to a key nobody else writes; no deletes, no conflicts (an expire or a
    /// persist goes to one of the client's own keys).
    UniqueKeys,
    /// A small key space, half the operations deletes.
    DeleteHeavy { keys: u32 },
}

/// The time-to-live classes a workload draws from (a TTL is short two times in three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttls {
    /// Short TTLs, in ms (inclusive): keys that expire during the run.
    pub short_ms: (u64, u64),
    /// Long TTLs, in ms (inclusive): keys that never expire during the run, on any clock.
    pub long_ms: (u64, u64),
    /// Round every TTL up to whole seconds (what the HTTP API takes).
    pub whole_seconds: bool,
}

const HOUR_MS: u64 = 3_600_000;

impl Ttls {
    /// For in-process runs of a second or two: 50-800 ms, or 3-7 days.
    pub const IN_PROCESS: Ttls = Ttls {
        short_ms: (50, 800),
        long_ms: (72 * HOUR_MS, 168 * HOUR_MS),
        whole_seconds: false,
    };
    /// For the simulation's 20 s write phase: 0.2-5 s, or 3-7 days (a clock 30 h ahead still
    /// sees them live).
    pub const SIMULATION: Ttls = Ttls {
        short_ms: (200, 5_000),
        long_ms: (72 * HOUR_MS, 168 * HOUR_MS),
        whole_seconds: false,
    };
    /// For the HTTP API (whole seconds) and a 20 s fault phase: 1-3 s, or 3-7 days.
    pub const HTTP: Ttls = Ttls {
        short_ms: (1_000, 3_000),
        long_ms: (72 * HOUR_MS, 168 * HOUR_MS),
        whole_seconds: true,
    };
}

/// One operation a client will issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store `value` (unique to this write) at `key`, without a deadline.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Store `value` (unique to this write) at `key` until `ttl` from now, by the node's clock.
    PutTtl {
        key: Vec<u8>,
        value: Vec<u8>,
        ttl: Duration,
    },
    /// Delete `key`.
    Delete { key: Vec<u8> },
    /// Give the key's live value the deadline `ttl` from now (a new write of that value).
    Expire { key: Vec<u8>, ttl: Duration },
    /// Remove the key's deadline (a new write of its live value without one).
    Persist { key: Vec<u8> },
}

impl Op {
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. }
            | Op::PutTtl { key, .. }
            | Op::Delete { key }
            | Op::Expire { key, .. }
            | Op::Persist { key } => key,
        }
    }

    /// The value this write stores, if it brings one of its own (a put, with or without a TTL).
    /// An expire or a persist rewrites whatever live value the key held.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Op::Put { value, .. } | Op::PutTtl { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The time-to-live this write sets, if any.
    pub fn ttl(&self) -> Option<Duration> {
        match self {
            Op::PutTtl { ttl, .. } | Op::Expire { ttl, .. } => Some(*ttl),
            _ => None,
        }
    }

    /// True for an expire or a persist: a write only when the key held a live value.
    pub fn rewrites(&self) -> bool {
        matches!(self, Op::Expire { .. } | Op::Persist { .. })
    }

    /// Runs the operation on `db` (embedded, as a service calls it): its outcome, and `db`'s
    /// clock (ms) just before and just after the call.
    pub fn apply(&self, db: &Db) -> (Outcome, (u64, u64)) {
        let before = clock_ms(db);
        let outcome = Outcome::from(self.run(db));
        (outcome, (before, clock_ms(db)))
    }

    /// Runs the operation on `db`, with the library's result: `Ok(None)` for an expire or a
    /// persist of a key without a live value (nothing written).
    pub fn run(&self, db: &Db) -> meshkv::Result<Option<Version>> {
        match self {
            Op::Put { key, value } => db.put(key, value).map(Some),
            Op::PutTtl { key, value, ttl } => db.put_with_ttl(key, value, *ttl).map(Some),
            Op::Delete { key } => db.delete(key).map(Some),
            Op::Expire { key, ttl } => db.expire(key, *ttl),
            Op::Persist { key } => db.persist(key),
        }
    }
}

/// `db`'s clock (`Options::clock`), in ms since the Unix epoch: what its deadlines and its
/// judgement of them are made of.
pub fn clock_ms(db: &Db) -> u64 {
    meshkv::record::hlc::millis(db.options().clock.reading())
}

/// One client's stream of operations.
pub struct Workload {
    rng: StdRng,
    mode: Mode,
    ttls: Ttls,
    client: u32,
    n: u64,
    /// The numbers of this client's latest unique keys (the unique-key mode).
    own: Vec<u64>,
}

impl Workload {
    /// Client `client`'s workload from `seed` with in-process TTLs ([`Ttls::IN_PROCESS`]):
    /// the same seed and client give the same stream.
    pub fn new(seed: u64, client: u32, mode: Mode) -> Workload {
        Workload {
            rng: StdRng::seed_from_u64(seed ^ (u64::from(client) << 32 | 0x5eed)),
            mode,
            ttls: Ttls::IN_PROCESS,
            client,
            n: 0,
            own: Vec::new(),
        }
    }

    /// The same workload with TTLs drawn from `ttls`.
    pub fn with_ttls(mut self, ttls: Ttls) -> Workload {
        self.ttls = ttls;
        self
    }

    fn ttl(&mut self) -> Duration {
        let (lo, hi) = if self.rng.random_ratio(2, 3) {
            self.ttls.short_ms
        } else {
            self.ttls.long_ms
        };
        let mut ms = self.rng.random_range(lo..=hi);
        if self.ttls.whole_seconds {
            ms = ms.div_ceil(1000).max(1) * 1000;
        }
        Duration::from_millis(ms)
    }

    /// The next operation.
    pub fn next_op(&mut self) -> Op {
        self.n += 1;
        let value = format!("c{}-{}", self.client, self.n).into_bytes();
        // Of the operations that are not deletes: 15% puts with a TTL, 8% expires, 5% persists.
        let kind = self.rng.random_range(0..100u32);
        let (keys, delete_ratio) = match self.mode {
            Mode::UniqueKeys => {
                if (15..28).contains(&kind) && !self.own.is_empty() {
                    let i = self.rng.random_range(0..self.own.len());
                    let key = format!("u/c{}/{}", self.client, self.own[i]).into_bytes();
                    return if kind < 23 {
                        let ttl = self.ttl();
                        Op::Expire { key, ttl }
                    } else {
                        Op::Persist { key }
                    };
                }
                let key = format!("u/c{}/{}", self.client, self.n).into_bytes();
                // The latest few: recent keys are the likeliest to be live still.
                self.own.push(self.n);
                if self.own.len() > 8 {
                    self.own.remove(0);
                }
                return if kind < 15 {
                    let ttl = self.ttl();
                    Op::PutTtl { key, value, ttl }
                } else {
                    Op::Put { key, value }
                };
            }
            Mode::Conflicts { keys } => (keys, 5),
            Mode::DeleteHeavy { keys } => (keys, 2),
        };
        let key = format!("k{}", self.rng.random_range(0..keys.max(1))).into_bytes();
        if self.rng.random_ratio(1, delete_ratio) {
            return Op::Delete { key };
        }
        match kind {
            0..15 => {
                let ttl = self.ttl();
                Op::PutTtl { key, value, ttl }
            }
            15..23 => {
                let ttl = self.ttl();
                Op::Expire { key, ttl }
            }
            23..28 => Op::Persist { key },
            _ => Op::Put { key, value },
        }
    }
}
