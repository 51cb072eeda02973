//! The puller of one peer address: dials, handshakes, and drives a
//! [`PullSession`] and its applier; reconnects with backoff. Only bytes, timers and blocking
//! jobs here: the decisions are the session's, the registry's ([`PeerState`]) and
//! [`Reconnect`]'s.
//!
//! [`PeerState`]: super::peers::PeerState

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::backoff::Reconnect;
use super::channel::Channel;
use super::handshake;
use super::members::FrontierGate;
use super::message::Hello;
use super::node::{at, handshake_timeout, now, send_within, Shared};
use super::progress::RoundStats;
use super::pull_session::{PullSession, Pulled, Refusals, Work};
use crate::net::{stopped, Transport};
use crate::sabotage::{self, Sabotage};
use crate::{Entry, Error, NodeId, Result};

/// Pulls from one peer address until the node stops or the peer is removed from the set
/// (`removed` closes): every exit drops the session, closing its connection.
pub(super) async fn puller<T: Transport>(
    shared: Arc<Shared<T>>,
    address: String,
    mut removed: watch::Receiver<()>,
) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut reconnect = Reconnect::default();
    while !shared.shutdown.is_stopped() {
        // Simulated time in a simulation: a session's length must not depend on the host.
        let started = tokio::time::Instant::now();
        let result = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            _ = removed.changed() => return,
            r = session(&shared, &address) => r,
        };
        if let Err(Error::Refused { reason, .. }) = &result {
            if handshake::says_decommissioned(reason, shared.db.node_id()) {
                shared.halt_decommissioned(&address);
            }
        }
        let mut error = String::new();
        shared.with_peer(&address, |p| error = p.session_ended(&result));
        tracing::warn!(peer = %address, error = %error, "replication connection ended");
        let forgotten = shared.peers.lock().forget_failing(&address);
        if forgotten.is_some() {
            tracing::info!(peer = %address, "forgot a learned address that keeps failing");
            return;
        }
        let delay = reconnect.after_session(
            &shared.config,
            started.elapsed(),
            &mut *shared.jitter.lock(),
        );
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            _ = removed.changed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Dials `address` and runs the handshake, each within `handshake_timeout`.
pub(super) async fn connect<T: Transport>(
    shared: &Arc<Shared<T>>,
    address: &str,
) -> Result<(Channel<T::Stream>, Hello)> {
    let config = &shared.config;
    let stream = tokio::time::timeout(config.handshake_timeout, shared.transport.connect(address))
        .await
        .map_err(|_| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting to {address} timed out"),
            ))
        })??;
    let key = shared.peers.lock().key_index(address);
    tokio::time::timeout(
        config.handshake_timeout,
        handshake::dial(stream, address.to_string(), &shared.handshake, key),
    )
    .await
    .map_err(|_| handshake_timeout(address))?
}

/// One connection: dial, handshake, then the session until it ends.
async fn session<T: Transport>(shared: &Arc<Shared<T>>, address: &str) -> Result<()> {
    let config = &shared.config;
    let (mut channel, hello) = connect(shared, address).await?;
    channel.count_bytes(Arc::clone(&shared.bytes));
    let peer_id = hello.node_id;
    let limits = hello.limits;
    shared
        .peers
        .lock()
        .check_not_connected_elsewhere(address, peer_id)?;
    let db = shared.db.clone();
    let stored = shared
        .jobs
        .run(move || db.replica().peer_cursor(peer_id))
        .await?;
    let cursor = stored.map(|c| c.seq);
    shared.with_peer(address, |p| p.connected(peer_id, cursor));
    shared.heard(peer_id, Some(address));
    tracing::info!(peer = %address, node = %peer_id, cursor = ?cursor, "connected; catch-up starts above the cursor");
    // Our own writes since the database was opened are here: the peer need not echo them.
    let skip_own_after = shared.db.replica().holds_own_writes_after();
    channel
        .send(&PullSession::request(stored, skip_own_after))
        .await?;

    let mut session = PullSession::new(address, config.heartbeat_interval, now());
    // Batches are applied by a second task while this one reads the next from the socket;
    // the channel of two batches bounds what waits in memory, and the applier stores the
    // cursor only after every batch before an `End` is committed (invariant 8).
    let (to_apply, applying) = mpsc::channel::<Work>(2);
    let task = applier(Arc::clone(shared), address.to_string(), peer_id, applying);
    let mut applier = AbortOnDrop(tokio::spawn(task));
    loop {
        tokio::select! {
            biased;
            done = &mut applier.0 => return session.applier_ended(done.ok()),
            permit = to_apply.reserve(), if session.has_work() => {
                // A failed reserve means the applier ended: the branch above says why.
                if let (Ok(permit), Some(work)) = (permit, session.take_work(now())) {
                    permit.send(work);
                }
            }
            msg = channel.recv(), if session.wants_read() => {
                match session.on_message(now(), msg?)? {
                    Pulled::PeerAt { last_seq, clock_ms } => {
                        shared.with_peer(address, |p| p.heartbeat(last_seq));
                        shared.heard_clock(peer_id, clock_ms, &limits);
                        shared.heard(peer_id, None);
                    }
                    Pulled::Members(rows) => shared.relayed(address, &rows),
                    Pulled::Nothing => {}
                }
            }
            _ = at(session.heartbeat_due()) => {
                if shared.is_refused(peer_id) {
                    return Err(Error::Refused {
                        peer: address.to_string(),
                        reason: format!("node {peer_id} was decommissioned"),
                    });
                }
                send_within(&mut channel, &shared.heartbeat(), session.send_limit()).await?;
                session.heartbeat_sent(now());
            }
            _ = at(session.deadline()) => return Err(session.silent()),
        }
    }
}

/// Aborts a task when dropped (the applier of a connection that ended).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Applies a connection's batches in order; stores the cursor at each `End`, below any entry it
/// refused, and ends the session for a retry when some were.
async fn applier<T: Transport>(
    shared: Arc<Shared<T>>,
    address: String,
    peer_id: NodeId,
    mut work: mpsc::Receiver<Work>,
) -> Result<()> {
    let mut round = RoundStats::new();
    let mut refusals = Refusals::default();
    let interval = shared.config.heartbeat_interval;
    // Only the negative control `CursorBeforeCommit` fills these: entries whose round's cursor
    // is stored before they are committed, and how many such rounds ended.
    let mut behind: Vec<(u64, Entry)> = Vec::new();
    let mut behind_rounds = 0u64;
    // The peer's frontiers wait here until the stored cursor covers them.
    let mut gate = FrontierGate::default();
    loop {
        let item = tokio::select! {
            biased;
            item = work.recv() => item,
            _ = at(refusals.retry_at(interval)) => return Err(refusals.retry(&address)),
        };
        let Some(item) = item else { return Ok(()) };
        match item {
            Work::Batch(entries) if sabotage::active(Sabotage::CursorBeforeCommit) => {
                behind.extend(entries);
            }
            Work::Batch(entries) => {
                apply(&shared, &address, entries, &mut round, &mut refusals).await?;
            }
            Work::Close => return Ok(()),
            Work::Frontier { through, applied } => {
                if let Some(vector) = gate.offer(through, applied) {
                    shared.members.lock().merge(peer_id, &vector);
                }
            }
            Work::End(end, clock) => {
                if shared.is_refused(peer_id) {
                    // Decommissioned meanwhile: its cursor was deleted and stays so.
                    return Err(Error::Refused {
                        peer: address.clone(),
                        reason: format!("node {peer_id} was decommissioned"),
                    });
                }
                let store = refusals.cursor_to_store(end);
                let db = shared.db.clone();
                shared
                    .jobs
                    .run(move || db.replica().set_peer_cursor(peer_id, store))
                    .await?;
                round.finish(&address, end.seq);
                {
                    let mut members = shared.members.lock();
                    if store.seq == end.seq {
                        // Every entry of the round is committed: the peer's own writes up to
                        // its clock reading before the snapshot are here.
                        members.holds(peer_id, clock);
                    }
                    for vector in gate.stored(store.seq) {
                        members.merge(peer_id, &vector);
                    }
                }
                let pending = refusals.pending();
                shared.with_peer(&address, |p| p.round_ended(store.seq, end.seq, pending));
                if !behind.is_empty() {
                    // Data after the cursor: one round in four "crashes" in between, and its
                    // entries are gone while the stored cursor covers them.
                    behind_rounds += 1;
                    let late = std::mem::take(&mut behind);
                    if behind_rounds % 4 != 0 {
                        apply(&shared, &address, late, &mut round, &mut refusals).await?;
                    }
                }
            }
        }
    }
}

/// Applies one batch of a round and records what it did.
async fn apply<T: Transport>(
    shared: &Arc<Shared<T>>,
    address: &str,
    entries: Vec<(u64, Entry)>,
    round: &mut RoundStats,
    refusals: &mut Refusals,
) -> Result<()> {
    round.add(&entries);
    let received = entries.len() as u64;
    let applied = shared.apply_from_peer(entries).await?;
    refusals.record(&applied, now());
    let mut progress = (None, None);
    shared.with_peer(address, |p| {
        p.batch_applied(received, &applied, round.entries());
        progress = (p.status.cursor, p.status.peer_last_seq);
    });
    round.progress(address, progress.0, progress.1);
    Ok(())
}
