//! A seeded workload: which key each client writes next, and whether it puts or deletes.

use meshkv::Db;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::history::Outcome;

/// The shape of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A small key space (`keys` keys) shared by every client, 20% deletes: many conflicts.
    Conflicts { keys: u32 },
    /// Every put goes to a key nobody else writes; no deletes, no conflicts.
    UniqueKeys,
    /// A small key space, half the operations deletes.
    DeleteHeavy { keys: u32 },
}

/// One operation a client will issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store `value` (unique to this write) at `key`.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Delete `key`.
    Delete { key: Vec<u8> },
}

impl Op {
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }

    /// Runs the operation on `db` (embedded, as a service calls it): ok with its version, or
    /// fail.
    pub fn apply(&self, db: &Db) -> Outcome {
        Outcome::from(self.run(db))
    }

    /// Runs the operation on `db`, with the library's result.
    pub fn run(&self, db: &Db) -> meshkv::Result<meshkv::Version> {
        match self {
            Op::Put { key, value } => db.put(key, value),
            Op::Delete { key } => db.delete(key),
        }
    }
}

/// One client's stream of operations.
pub struct Workload {
    rng: StdRng,
    mode: Mode,
    client: u32,
    n: u64,
}

impl Workload {
    /// Client `client`'s workload from `seed`: the same seed and client give the same stream.
    pub fn new(seed: u64, client: u32, mode: Mode) -> Workload {
        Workload {
            rng: StdRng::seed_from_u64(seed ^ (u64::from(client) << 32 | 0x5eed)),
            mode,
            client,
            n: 0,
        }
    }

    /// The next operation.
    pub fn next_op(&mut self) -> Op {
        self.n += 1;
        let value = format!("c{}-{}", self.client, self.n).into_bytes();
        let (keys, delete_ratio) = match self.mode {
            Mode::UniqueKeys => {
                let key = format!("u/c{}/{}", self.client, self.n).into_bytes();
                return Op::Put { key, value };
            }
            Mode::Conflicts { keys } => (keys, 5),
            Mode::DeleteHeavy { keys } => (keys, 2),
        };
        let key = format!("k{}", self.rng.random_range(0..keys.max(1))).into_bytes();
        if self.rng.random_ratio(1, delete_ratio) {
            Op::Delete { key }
        } else {
            Op::Put { key, value }
        }
    }
}
