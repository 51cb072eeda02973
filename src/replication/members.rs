//! [`Members`]: the cluster's members as this node knows them, and how far this node holds the
//! writes of each, without I/O.
//!
//! A member is every node this one has heard of: directly (a hello on either side of a
//! connection), through the origin of an entry it applied, or through a peer's `Members`
//! message (relayed rows). Each has its last known address and when it was last heard; the
//! records are durable (`storage::members`) and bounded ([`MAX_MEMBERS`]).
//!
//! **The applied frontier.** Besides the rows, each node keeps a vector `F` over origins, in
//! hybrid-clock units: `F[O] = t` claims "this node holds every write by `O` with a timestamp at
//! or below `t`, or a later write of its key". It is kept so:
//! - its own entry is its clock's last reading, taken with its last sequence under the commit
//!   lock ([`Replica::applied_point`](crate::replica::Replica::applied_point));
//! - a serving node sends `Members { through, applied, .. }`: its vector, captured when its last
//!   committed sequence was `through`. The puller merges it (entry-wise maximum) once its
//!   stored cursor for that peer is at or above `through` ([`FrontierGate`]): it then holds
//!   every entry of the peer's log up to `through` (or later versions of their keys; invariant
//!   8 keeps the cursor below any refused entry), so it holds what the peer's vector claimed.
//!   By induction the claim holds on every node, relays included;
//! - a node sends only a vector captured *before* a sync of its write-ahead log, so that a
//!   power cut cannot take back what it claimed (under `Durability::Sync` every commit is
//!   synced already).
//!
//! What it is for: a decommission checks that every remaining member holds the decommissioned
//! node's writes ([`Members::decommission`]), and collection (docs/design.md) waits until every
//! member holds a tombstone.
//!
//! **Decommissioned ids** are sticky: a row that says so is believed from any peer (a peer holding
//! the cluster key may already delete every key), they are refused at the handshake (an address
//! an operator configured is still dialed, and refused), their cursors and learned addresses are
//! deleted, and they leave the frontier. A row decommissioning this
//! node itself stops its replication (a new id, `renew-id`, joins as a new node).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::message::bounded;
use crate::replica::MemberRecord;
use crate::{hlc, NodeId};

/// The nil id: no node has it (an entry's origin is never nil, `Error::InvalidEntry`).
const NIL: NodeId = NodeId([0; 16]);

/// The most members a node keeps (and rows or vector entries a `Members` message may carry).
pub const MAX_MEMBERS: usize = 1024;

/// A member's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberState {
    /// A member: collection waits for it.
    Active,
    /// Silent for longer than `NodeConfig::member_timeout`: declared gone, no longer waited for;
    /// heard again, it is active again.
    Gone,
    /// Removed for good: refused from then on.
    Decommissioned,
}

impl MemberState {
    /// The state's name: `active`, `gone` or `decommissioned`.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Active => "active",
            MemberState::Gone => "gone",
            MemberState::Decommissioned => "decommissioned",
        }
    }
}

/// A member of the cluster as this node knows it ([`Node::members`](crate::Node::members)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// Its node id.
    pub node_id: NodeId,
    /// This node itself.
    pub is_self: bool,
    /// The last address it was heard at, if any.
    pub address: Option<String>,
    /// Active, gone or decommissioned.
    pub state: MemberState,
    /// When it was last heard (a connection, one of its writes, a peer's row), ms since the
    /// epoch; 0: never.
    pub last_heard_ms: u64,
    /// True while this node pulls from it.
    pub connected: bool,
    /// How far this node holds its writes: the physical milliseconds of this node's applied
    /// frontier for it (every write it made before then is here, or a later write of its key);
    /// `None`: nothing of it is known to be held yet.
    pub held_through_ms: Option<u64>,
    /// How far it holds its own least-held origin's writes, from the vector it last sent this
    /// node (ms); `None` until it sent one.
    pub holds_all_through_ms: Option<u64>,
}

/// One member as a `Members` message carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    /// Its node id.
    pub node_id: NodeId,
    /// Its last known address.
    #[serde(deserialize_with = "bounded::opt_string")]
    pub address: Option<String>,
    /// Removed for good.
    pub decommissioned: bool,
    /// When the sender last heard of it (ms since the epoch).
    pub last_heard_ms: u64,
}

/// What a peer's rows changed ([`Members::rows`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Relayed {
    /// A row says this node itself is decommissioned.
    pub(crate) own_decommissioned: bool,
    /// Members decommissioned by these rows (new here).
    pub(crate) decommissioned: Vec<NodeId>,
}

/// Why a node or a row was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The id is decommissioned.
    Decommissioned,
    /// The member table is full.
    Full,
}

impl std::fmt::Display for NotDecommissioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotDecommissioned::Unknown => write!(f, "no member has this id"),
            NotDecommissioned::Own => {
                write!(f, "it is this node; decommission it from another member")
            }
            NotDecommissioned::WritesMissing(missing) => {
                let who: Vec<String> = missing
                    .iter()
                    .map(|(m, why)| format!("{m} ({why})"))
                    .collect();
                write!(
                    f,
                    "{} member(s) may lack some of its writes: {}; stop it and wait until they \
                     catch up, or force it (its writes they lack are lost)",
                    missing.len(),
                    who.join(", ")
                )
            }
        }
    }
}

/// Why [`Members::decommission`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NotDecommissioned {
    /// No member has that id.
    Unknown,
    /// The id is this node's own.
    Own,
    /// Some members may lack its writes: (member, why), one per member.
    WritesMissing(Vec<(NodeId, String)>),
}

/// What a node knows of one member.
#[derive(Clone, Debug)]
struct Known {
    record: MemberRecord,
    gone: bool,
    /// The vector it last sent this node (its own claim), if it sent one.
    vector: Option<BTreeMap<NodeId, u64>>,
}

impl Known {
    /// A member as first heard of, or as its folder kept it.
    fn new(record: MemberRecord) -> Known {
        Known {
            record,
            gone: false,
            vector: None,
        }
    }
}

/// The member table and this node's applied frontier.
#[derive(Debug)]
pub(crate) struct Members {
    own: NodeId,
    own_address: Option<String>,
    known: BTreeMap<NodeId, Known>,
    /// This node's frontier for every origin but itself.
    frontier: BTreeMap<NodeId, u64>,
    /// Records changed since [`Members::take_writes`].
    dirty: BTreeSet<NodeId>,
    /// Decommissioned since [`Members::take_writes`]: their cursors go.
    forget: Vec<NodeId>,
    max: usize,
}

impl Members {
    /// The table of node `own` (advertising `own_address`), from the records its folder kept.
    pub(crate) fn new(
        own: NodeId,
        own_address: Option<String>,
        records: Vec<(NodeId, MemberRecord)>,
        max: usize,
    ) -> Members {
        let known = records
            .into_iter()
            .filter(|(id, _)| *id != own)
            .take(max)
            .map(|(id, record)| (id, Known::new(record)))
            .collect();
        Members {
            own,
            own_address,
            known,
            frontier: BTreeMap::new(),
            dirty: BTreeSet::new(),
            forget: Vec::new(),
            max,
        }
    }

    /// How many members this node knows, itself included.
    pub(crate) fn len(&self) -> usize {
        self.known.len() + 1
    }

    /// Whether `id` is decommissioned.
    pub(crate) fn is_decommissioned(&self, id: NodeId) -> bool {
        self.known.get(&id).is_some_and(|k| k.record.decommissioned)
    }

    /// The decommissioned ids (refused at the handshake).
    pub(crate) fn decommissioned(&self) -> std::collections::BTreeSet<NodeId> {
        self.known
            .iter()
            .filter(|(_, k)| k.record.decommissioned)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The entry for `id`, made if there is room.
    fn entry(&mut self, id: NodeId) -> Result<&mut Known, Refused> {
        if !self.known.contains_key(&id) {
            if self.known.len() >= self.max {
                return Err(Refused::Full);
            }
            self.dirty.insert(id);
            self.known.insert(id, Known::new(MemberRecord::unheard()));
        }
        Ok(self.known.get_mut(&id).expect("inserted above"))
    }

    /// `id` was heard directly at `now_ms` (a hello), at `address` if it gave one.
    pub(crate) fn heard(
        &mut self,
        id: NodeId,
        address: Option<&str>,
        now_ms: u64,
    ) -> Result<(), Refused> {
        if id == self.own || id == NIL {
            return Ok(());
        }
        if self.is_decommissioned(id) {
            return Err(Refused::Decommissioned);
        }
        // A hello's address is the peer's word: kept only when it is one a row could carry.
        let address = address.filter(|a| well_formed(a));
        let known = self.entry(id)?;
        let moved = address.is_some_and(|a| known.record.address.as_deref() != Some(a));
        if moved {
            known.record.address = address.map(str::to_string);
        }
        known.record.last_heard_ms = known.record.last_heard_ms.max(now_ms);
        known.gone = false;
        if moved {
            self.dirty.insert(id);
        }
        Ok(())
    }

    /// Entries this node applied came from these origins, the newest of each at `newest_ms`
    /// (physical ms of its timestamp, counted as heard no later than `now_ms`).
    pub(crate) fn origins(&mut self, origins: &[(NodeId, u64)], now_ms: u64) {
        for &(id, newest_ms) in origins {
            if id == self.own || id == NIL || self.is_decommissioned(id) {
                continue;
            }
            let Ok(known) = self.entry(id) else {
                continue;
            };
            known.record.last_heard_ms = known.record.last_heard_ms.max(newest_ms.min(now_ms));
        }
    }

    /// The rows of a peer's `Members` message, heard at `now_ms`: what they changed.
    pub(crate) fn rows(&mut self, rows: &[MemberRow], now_ms: u64) -> Relayed {
        let mut relayed = Relayed::default();
        for row in rows.iter().take(MAX_MEMBERS) {
            if row.node_id == self.own {
                relayed.own_decommissioned |= row.decommissioned;
                continue;
            }
            if row.node_id == NIL || self.is_decommissioned(row.node_id) {
                continue;
            }
            if row.decommissioned {
                if self.mark_decommissioned(row.node_id, row.address.clone(), now_ms) {
                    relayed.decommissioned.push(row.node_id);
                }
                continue;
            }
            let Ok(known) = self.entry(row.node_id) else {
                continue;
            };
            // A relayed address only fills a blank: one heard directly is better evidence.
            let address = row.address.as_deref().filter(|a| well_formed(a));
            let filled = known.record.address.is_none() && address.is_some();
            if filled {
                known.record.address = address.map(str::to_string);
            }
            let heard = row.last_heard_ms.min(now_ms);
            if heard > known.record.last_heard_ms {
                known.record.last_heard_ms = heard;
                known.gone = false;
            }
            if filled {
                self.dirty.insert(row.node_id);
            }
        }
        relayed
    }

    /// Marks `id` decommissioned; false when the table is full (and `id` not in it).
    fn mark_decommissioned(&mut self, id: NodeId, address: Option<String>, now_ms: u64) -> bool {
        if self.known.len() >= self.max && !self.known.contains_key(&id) {
            return false;
        }
        let known = self
            .known
            .entry(id)
            .or_insert_with(|| Known::new(MemberRecord::unheard()));
        known.record.decommissioned = true;
        known.record.last_heard_ms = known.record.last_heard_ms.max(now_ms);
        if known.record.address.is_none() {
            known.record.address = address.filter(|a| well_formed(a));
        }
        known.vector = None;
        self.frontier.remove(&id);
        for other in self.known.values_mut() {
            if let Some(v) = other.vector.as_mut() {
                v.remove(&id);
            }
        }
        self.dirty.insert(id);
        self.forget.push(id);
        true
    }

    /// This node holds `id`'s own writes up to its clock reading `clock` (a committed round of
    /// its log, `Message::End`).
    pub(crate) fn holds(&mut self, id: NodeId, clock: u64) {
        if id == self.own || self.is_decommissioned(id) || self.entry(id).is_err() {
            return;
        }
        let f = self.frontier.entry(id).or_insert(0);
        *f = (*f).max(clock);
    }

    /// Merges `from`'s vector (its own claim, now covered by this node's cursor for it).
    pub(crate) fn merge(&mut self, from: NodeId, vector: &[(NodeId, u64)]) {
        let mut claim = BTreeMap::new();
        for &(origin, t) in vector.iter().take(MAX_MEMBERS) {
            if origin == NIL || self.is_decommissioned(origin) {
                continue;
            }
            claim.insert(origin, t);
            if origin != self.own
                && (self.known.contains_key(&origin) || self.entry(origin).is_ok())
            {
                let f = self.frontier.entry(origin).or_insert(0);
                *f = (*f).max(t);
            }
        }
        if let Some(known) = self.known.get_mut(&from) {
            known.vector = Some(claim);
        }
    }

    /// Declares gone every active member silent for longer than `timeout` at `now_ms`; returns
    /// the ones it declared.
    pub(crate) fn expire(&mut self, now_ms: u64, timeout: std::time::Duration) -> Vec<NodeId> {
        let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let mut gone = Vec::new();
        for (id, known) in &mut self.known {
            if !known.gone
                && !known.record.decommissioned
                && known.record.last_heard_ms.saturating_add(timeout) < now_ms
            {
                known.gone = true;
                gone.push(*id);
            }
        }
        gone
    }

    /// Removes `id` for good, unless some active member may lack its writes (and not `force`):
    /// every other active member's vector (this node's own frontier for itself) must hold `id`'s
    /// writes as far as the best-informed vector known here does.
    pub(crate) fn decommission(
        &mut self,
        id: NodeId,
        force: bool,
        now_ms: u64,
    ) -> Result<MemberRecord, NotDecommissioned> {
        if id == self.own {
            return Err(NotDecommissioned::Own);
        }
        let Some(target) = self.known.get(&id) else {
            return Err(NotDecommissioned::Unknown);
        };
        if target.record.decommissioned {
            return Ok(target.record.clone());
        }
        if !force {
            let missing = self.lacking(id);
            if !missing.is_empty() {
                return Err(NotDecommissioned::WritesMissing(missing));
            }
        }
        let address = target.record.address.clone();
        self.mark_decommissioned(id, address, now_ms);
        Ok(self.known[&id].record.clone())
    }

    /// The active members (other than `id`) that may lack some of `id`'s writes, and why.
    fn lacking(&self, id: NodeId) -> Vec<(NodeId, String)> {
        let own_holds = self.frontier.get(&id).copied();
        let vectors = self.known.values().filter_map(|k| k.vector.as_ref());
        let need = vectors
            .filter_map(|v| v.get(&id).copied())
            .chain(own_holds)
            .max()
            .unwrap_or(0);
        let mut missing = Vec::new();
        if own_holds.unwrap_or(0) < need {
            missing.push((self.own, behind(own_holds.unwrap_or(0), need)));
        }
        for (m, known) in &self.known {
            if *m == id || known.gone || known.record.decommissioned {
                continue;
            }
            match known
                .vector
                .as_ref()
                .map(|v| v.get(&id).copied().unwrap_or(0))
            {
                None => missing.push((*m, "it has sent this node no summary yet".into())),
                Some(have) if have < need => missing.push((*m, behind(have, need))),
                Some(_) => {}
            }
        }
        missing
    }

    /// What this node sends its pullers: its vector captured at `(through, own_clock)`
    /// ([`Replica::applied_point`](crate::replica::Replica::applied_point)), and its rows.
    pub(crate) fn summary(&self, through: u64, own_clock: u64, now_ms: u64) -> Summary {
        let mut applied: Vec<(NodeId, u64)> = self
            .frontier
            .iter()
            .map(|(id, t)| (*id, *t))
            .take(MAX_MEMBERS - 1)
            .collect();
        applied.push((self.own, own_clock));
        applied.sort();
        // This node's own row first: what a puller's frame limit leaves out is taken from the end.
        let own = MemberRow {
            node_id: self.own,
            address: self.own_address.clone(),
            decommissioned: false,
            last_heard_ms: now_ms,
        };
        let others = self.known.iter().map(|(id, k)| MemberRow {
            node_id: *id,
            address: k.record.address.clone(),
            decommissioned: k.record.decommissioned,
            last_heard_ms: k.record.last_heard_ms,
        });
        let members = std::iter::once(own)
            .chain(others)
            .take(MAX_MEMBERS)
            .collect();
        Summary {
            through,
            applied,
            members,
        }
    }

    /// Every member, this node first, with `connected` telling which ones it pulls from and
    /// `own_clock` its clock's last reading.
    pub(crate) fn list(
        &self,
        connected: &BTreeSet<NodeId>,
        own_clock: u64,
        now_ms: u64,
    ) -> Vec<Member> {
        let own_floor = self.floor_of(&self.frontier_with_own(own_clock));
        let mut out = vec![Member {
            node_id: self.own,
            is_self: true,
            address: self.own_address.clone(),
            state: MemberState::Active,
            last_heard_ms: now_ms,
            connected: false,
            held_through_ms: Some(hlc::millis(own_clock)),
            holds_all_through_ms: own_floor.map(hlc::millis),
        }];
        for (id, k) in &self.known {
            let state = if k.record.decommissioned {
                MemberState::Decommissioned
            } else if k.gone {
                MemberState::Gone
            } else {
                MemberState::Active
            };
            out.push(Member {
                node_id: *id,
                is_self: false,
                address: k.record.address.clone(),
                state,
                last_heard_ms: k.record.last_heard_ms,
                connected: connected.contains(id),
                held_through_ms: self.frontier.get(id).map(|t| hlc::millis(*t)),
                holds_all_through_ms: k
                    .vector
                    .as_ref()
                    .and_then(|v| self.floor_of(v))
                    .map(hlc::millis),
            });
        }
        out
    }

    fn frontier_with_own(&self, own_clock: u64) -> BTreeMap<NodeId, u64> {
        let mut v = self.frontier.clone();
        v.insert(self.own, own_clock);
        v
    }

    /// The least of `vector` over the active members and this node (`None`: some member is
    /// missing from it).
    fn floor_of(&self, vector: &BTreeMap<NodeId, u64>) -> Option<u64> {
        let actives = self
            .known
            .iter()
            .filter(|(_, k)| !k.gone && !k.record.decommissioned)
            .map(|(id, _)| *id)
            .chain([self.own]);
        actives.map(|id| vector.get(&id).copied()).min().flatten()
    }

    /// The records changed since the last call, and the members whose cursors must go.
    pub(crate) fn take_writes(&mut self) -> (Vec<(NodeId, MemberRecord)>, Vec<NodeId>) {
        let records = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|id| self.known.get(&id).map(|k| (id, k.record.clone())))
            .collect();
        (records, std::mem::take(&mut self.forget))
    }

    /// Every record (the periodic flush of last-heard times).
    pub(crate) fn all_records(&self) -> Vec<(NodeId, MemberRecord)> {
        self.known
            .iter()
            .map(|(id, k)| (*id, k.record.clone()))
            .collect()
    }
}

fn behind(have: u64, need: u64) -> String {
    let lag = hlc::millis(need).saturating_sub(hlc::millis(have));
    format!("it holds that node's writes only up to {lag} ms before the newest known")
}

fn well_formed(address: &str) -> bool {
    address.len() <= 255 && super::config::is_host_port(address)
}

/// A serving node's `Members` message (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The sender's last committed sequence when `applied` was captured.
    pub(crate) through: u64,
    /// The sender's applied frontier, by origin.
    pub(crate) applied: Vec<(NodeId, u64)>,
    /// The sender's member rows, itself included.
    pub(crate) members: Vec<MemberRow>,
}

/// The most bytes one row takes in a `Members` message (an id, the longest address, the
/// fields and their lengths), and one vector entry.
const ROW_BYTES: usize = 16 + 9 + 255 + 1 + 8;
const ORIGIN_BYTES: usize = 16 + 8;

impl Summary {
    /// The summary cut to fit a message of `max_bytes` (a puller's `max_frame_size`): the
    /// vector whole when it fits, then as many rows as fit, this node's own first.
    pub(crate) fn fitted(&self, max_bytes: usize) -> Summary {
        let budget = max_bytes.saturating_sub(1 << 10);
        let applied: Vec<_> = self
            .applied
            .iter()
            .take(budget / 2 / ORIGIN_BYTES)
            .copied()
            .collect();
        let left = budget.saturating_sub(applied.len() * ORIGIN_BYTES);
        Summary {
            through: self.through,
            applied,
            members: self
                .members
                .iter()
                .take(left / ROW_BYTES)
                .cloned()
                .collect(),
        }
    }
}

/// Holds a peer's vectors until the cursor stored for it covers them.
#[derive(Debug, Default)]
pub(crate) struct FrontierGate {
    stored: Option<u64>,
    waiting: VecDeque<(u64, Vec<(NodeId, u64)>)>,
}

/// At most this many vectors wait for the cursor (the newest replaces the last when full).
const GATE_DEPTH: usize = 4;

impl FrontierGate {
    /// A vector captured at `through` arrived; returns it when the cursor already covers it.
    pub(crate) fn offer(
        &mut self,
        through: u64,
        vector: Vec<(NodeId, u64)>,
    ) -> Option<Vec<(NodeId, u64)>> {
        if self.stored.is_some_and(|s| s >= through) {
            return Some(vector);
        }
        if self.waiting.len() >= GATE_DEPTH {
            self.waiting.pop_back();
        }
        self.waiting.push_back((through, vector));
        None
    }

    /// The cursor `seq` was stored; returns the vectors it now covers, oldest first.
    pub(crate) fn stored(&mut self, seq: u64) -> Vec<Vec<(NodeId, u64)>> {
        self.stored = Some(self.stored.map_or(seq, |s| s.max(seq)));
        let mut covered = Vec::new();
        while self.waiting.front().is_some_and(|(t, _)| *t <= seq) {
            covered.extend(self.waiting.pop_front().map(|(_, v)| v));
        }
        covered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn id(n: u8) -> NodeId {
        NodeId([n; 16])
    }

    fn t(ms: u64) -> u64 {
        hlc::pack(ms, 0)
    }

    fn table() -> Members {
        Members::new(id(1), Some("a:1".into()), vec![], MAX_MEMBERS)
    }

    #[test]
    fn heard_directly_through_origins_and_rows() {
        let mut m = table();
        m.heard(id(2), Some("b:1"), 100).unwrap();
        m.origins(&[(id(3), 50), (id(1), 60)], 100);
        m.rows(
            &[MemberRow {
                node_id: id(4),
                address: Some("d:1".into()),
                decommissioned: false,
                last_heard_ms: 500,
            }],
            200,
        );
        let list = m.list(&BTreeSet::from([id(2)]), t(10), 300);
        let ids: Vec<_> = list
            .iter()
            .map(|x| (x.node_id, x.is_self, x.connected))
            .collect();
        assert_eq!(
            ids,
            vec![
                (id(1), true, false),
                (id(2), false, true),
                (id(3), false, false),
                (id(4), false, false)
            ]
        );
        // A relayed time is never later than now; a relayed address fills a blank.
        assert_eq!(list[3].last_heard_ms, 200);
        assert_eq!(list[3].address.as_deref(), Some("d:1"));
        assert_eq!(list[2].address, None);
        let (records, forget) = m.take_writes();
        assert_eq!(records.len(), 3);
        assert!(forget.is_empty());
        // A relayed address never replaces one heard directly.
        m.rows(
            &[MemberRow {
                node_id: id(2),
                address: Some("evil:1".into()),
                decommissioned: false,
                last_heard_ms: 1,
            }],
            400,
        );
        assert_eq!(
            m.list(&BTreeSet::new(), 0, 0)[1].address.as_deref(),
            Some("b:1")
        );
    }

    #[test]
    fn junk_addresses_and_the_nil_id_are_not_kept() {
        let mut m = table();
        let long = format!("{}:1", "h".repeat(300));
        m.heard(id(2), Some(&long), 1).unwrap();
        m.heard(id(3), Some("no port"), 1).unwrap();
        m.heard(NIL, Some("n:1"), 1).unwrap();
        m.merge(id(2), &[(NIL, 5)]);
        m.origins(&[(NIL, 5)], 9);
        let list = m.list(&BTreeSet::new(), 0, 0);
        assert_eq!(list.len(), 3, "{list:?}");
        assert!(list.iter().all(|x| x.address.is_none() || x.is_self));
        // What is stored decodes again.
        for (n, r) in m.all_records() {
            let key = crate::storage::keys::meta::member_key(&n);
            assert_eq!(MemberRecord::decode(&key, &r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn the_table_is_bounded() {
        let mut m = Members::new(id(1), None, vec![], 2);
        m.heard(id(2), None, 1).unwrap();
        m.heard(id(3), None, 1).unwrap();
        assert_eq!(m.heard(id(4), None, 1), Err(Refused::Full));
        let rows: Vec<_> = (10..200u8)
            .map(|n| MemberRow {
                node_id: id(n),
                address: None,
                decommissioned: n % 2 == 0,
                last_heard_ms: 1,
            })
            .collect();
        m.rows(&rows, 5);
        assert_eq!(m.list(&BTreeSet::new(), 0, 0).len(), 3);
    }

    #[test]
    fn decommission_waits_until_every_member_holds_the_writes() {
        let mut m = table();
        for n in 2..=4 {
            m.heard(id(n), None, 1).unwrap();
        }
        // Node 4 wrote up to 900; this node holds them up to 900, node 2 up to 500, node 3 sent
        // nothing.
        m.merge(id(4), &[(id(4), t(900))]);
        m.merge(id(2), &[(id(4), t(500)), (id(2), t(1000))]);
        let Err(NotDecommissioned::WritesMissing(missing)) = m.decommission(id(4), false, 10)
        else {
            panic!("decommissioned with writes missing");
        };
        let who: Vec<_> = missing.iter().map(|(n, _)| *n).collect();
        assert_eq!(who, vec![id(2), id(3)]);
        m.merge(id(2), &[(id(4), t(900))]);
        // Node 3 holds more than node 4's last vector said: merged, this node holds that much
        // too, and node 2 is the one behind now.
        m.merge(id(3), &[(id(4), t(950))]);
        let Err(NotDecommissioned::WritesMissing(missing)) = m.decommission(id(4), false, 10)
        else {
            panic!("decommissioned while node 2 lacks writes");
        };
        assert_eq!(
            missing.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![id(2)]
        );
        m.merge(id(2), &[(id(4), t(950))]);
        m.decommission(id(4), false, 10).unwrap();
        assert!(m.is_decommissioned(id(4)));
        assert_eq!(
            m.heard(id(4), Some("x:1"), 20),
            Err(Refused::Decommissioned)
        );
        let (_, forget) = m.take_writes();
        assert_eq!(forget, vec![id(4)]);
        assert_eq!(m.decommission(id(1), true, 10), Err(NotDecommissioned::Own));
        assert_eq!(
            m.decommission(id(9), true, 10),
            Err(NotDecommissioned::Unknown)
        );
    }

    #[test]
    fn force_skips_the_check_and_rows_spread_it() {
        let mut a = table();
        a.heard(id(2), Some("b:1"), 1).unwrap();
        a.decommission(id(2), true, 5).unwrap();
        let summary = a.summary(7, t(3), 9);
        let mut b = Members::new(id(3), None, vec![], MAX_MEMBERS);
        b.heard(id(2), Some("b:1"), 1).unwrap();
        let relayed = b.rows(&summary.members, 10);
        assert_eq!(relayed.decommissioned, vec![id(2)]);
        assert!(!relayed.own_decommissioned);
        assert!(b.is_decommissioned(id(2)));
        assert_eq!(b.rows(&summary.members, 11), Relayed::default());
        assert_eq!(b.decommissioned(), BTreeSet::from([id(2)]));
        // A row decommissioning the receiver itself is reported, not stored.
        let mut c = Members::new(id(2), None, vec![], MAX_MEMBERS);
        assert!(c.rows(&summary.members, 10).own_decommissioned);
        assert!(!c.is_decommissioned(id(2)));
    }

    #[test]
    fn silence_past_the_timeout_is_gone_and_a_hello_brings_it_back() {
        let mut m = table();
        m.heard(id(2), None, 1_000).unwrap();
        m.heard(id(3), None, 5_000).unwrap();
        assert_eq!(m.expire(6_500, Duration::from_secs(2)), vec![id(2)]);
        assert_eq!(m.expire(6_500, Duration::from_secs(2)), vec![]);
        let states: Vec<_> = m
            .list(&BTreeSet::new(), 0, 0)
            .iter()
            .map(|x| x.state)
            .collect();
        assert_eq!(
            states,
            vec![MemberState::Active, MemberState::Gone, MemberState::Active]
        );
        m.heard(id(2), None, 7_000).unwrap();
        assert_eq!(m.list(&BTreeSet::new(), 0, 0)[1].state, MemberState::Active);
    }

    #[test]
    fn a_full_summary_fits_the_smallest_frame_limit() {
        let mut m = table();
        for n in 0..MAX_MEMBERS as u16 - 1 {
            let mut raw = [0u8; 16];
            raw[..2].copy_from_slice(&(n + 10).to_be_bytes());
            let address = format!("{}:1", "h".repeat(250));
            m.heard(NodeId(raw), Some(&address), 1).unwrap();
            m.merge(NodeId(raw), &[(NodeId(raw), 5)]);
        }
        let full = m.summary(1, t(1), 2);
        assert_eq!(full.members.len(), MAX_MEMBERS);
        let small = full.fitted(64 << 10);
        let message = crate::replication::message::Message::Members {
            through: small.through,
            applied: small.applied.clone(),
            members: small.members.clone(),
        };
        let bytes = crate::replication::message::encode(&message);
        assert!(bytes.len() <= 64 << 10, "{} bytes", bytes.len());
        assert_eq!(small.members[0].node_id, id(1), "this node's own row first");
        assert!(small.members.len() > 50);
        assert_eq!(full.fitted(80 << 20), full);
    }

    #[test]
    fn the_gate_merges_only_what_the_cursor_covers() {
        let mut g = FrontierGate::default();
        assert_eq!(g.offer(10, vec![(id(1), 1)]), None);
        assert_eq!(g.offer(20, vec![(id(1), 2)]), None);
        assert_eq!(g.stored(15), vec![vec![(id(1), 1)]]);
        assert_eq!(g.offer(12, vec![(id(1), 3)]), Some(vec![(id(1), 3)]));
        assert_eq!(g.stored(20), vec![vec![(id(1), 2)]]);
        for n in 0..10 {
            g.offer(100 + n, vec![(id(1), n)]);
        }
        assert_eq!(g.stored(1000).len(), GATE_DEPTH);
    }

    #[test]
    fn records_survive_a_restart() {
        let mut m = table();
        m.heard(id(2), Some("b:1"), 10).unwrap();
        m.decommission(id(2), true, 11).unwrap();
        m.heard(id(3), Some("c:1"), 12).unwrap();
        let records = m.all_records();
        let again = Members::new(id(1), None, records, MAX_MEMBERS);
        assert!(again.is_decommissioned(id(2)));
        assert_eq!(
            again.list(&BTreeSet::new(), 0, 0)[2].address.as_deref(),
            Some("c:1")
        );
    }
}
