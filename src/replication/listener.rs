//! The serving side: the accept loop, and for each dialer a [`ServeSession`] driven over its
//! connection, with rounds read by a [`RoundReader`] on a blocking thread. Only bytes, timers
//! and blocking jobs here: the decisions are the session's.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::channel::Channel;
use super::handshake;
use super::liveness;
use super::message::Message;
use super::node::{add_peer, at, handshake_timeout, now, send_within, Shared};
use super::repair_session::{version_chunks, Asked, RepairSession};
use super::repairer::apply_entries;
use super::round_reader::{RoundItem, RoundReader};
use super::serve_session::{self, LocalLog, Opening, Round, ServeSession, Served};
use super::status::PeerSource;
use crate::net::{stopped, Transport};
use crate::{Error, NodeId, Result};

/// Accepts connections until the node stops; serves each in its own task.
pub(super) async fn accept_loop<T: Transport>(shared: Arc<Shared<T>>, listener: T::Listener) {
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    // Within it, connections not yet authenticated: a flood of half-open or slow connections
    // fills these slots and times out, never every slot.
    let pre_auth = Arc::new(Semaphore::new(shared.config.max_handshakes));
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            a = T::accept(&listener) => a,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permits = Arc::clone(&limit)
            .try_acquire_owned()
            .and_then(|p| Ok((p, Arc::clone(&pre_auth).try_acquire_owned()?)));
        let Ok((permit, handshake_permit)) = permits else {
            shared.inbound_over_limit.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = shared.refusal_log.lock().allow(&addr.ip(), Instant::now()) {
                tracing::warn!(peer = %addr, suppressed, "connection or handshake limit reached; closing");
            }
            continue;
        };
        let s = Arc::clone(&shared);
        let span = tracing::info_span!("serve", peer = %addr);
        let task = async move {
            let _permit = permit;
            if let Err(e) = serve(&s, stream, addr, handshake_permit).await {
                tracing::info!(peer = %addr, error = %e, "serving connection ended");
            }
        };
        shared.tasks.spawn("serve", false, task.instrument(span));
    }
}

/// Counts an inbound connection whose handshake failed; logs it once per address per interval.
fn refused_inbound<T: Transport>(shared: &Shared<T>, addr: SocketAddr, e: Error) -> Result<()> {
    shared.refused_inbound.fetch_add(1, Ordering::Relaxed);
    if let Some(suppressed) = shared.refusal_log.lock().allow(&addr.ip(), Instant::now()) {
        tracing::warn!(peer = %addr, error = %e, suppressed, "refused an inbound connection");
    }
    Ok(())
}

/// One dialer: handshake, its `Pull`, then rounds and heartbeats until it leaves.
async fn serve<T: Transport>(
    shared: &Arc<Shared<T>>,
    stream: T::Stream,
    addr: SocketAddr,
    handshake_permit: OwnedSemaphorePermit,
) -> Result<()> {
    let config = &shared.config;
    let peer = addr.to_string();
    let (mut channel, hello) = match tokio::time::timeout(
        config.handshake_timeout,
        handshake::accept(stream, peer.clone(), &shared.handshake),
    )
    .await
    {
        Ok(Ok(ok)) => ok,
        // Counted and logged (once per address per interval) here, not again by the caller.
        Ok(Err(e)) => return refused_inbound(shared, addr, e),
        Err(_) => return refused_inbound(shared, addr, handshake_timeout(&peer)),
    };
    drop(handshake_permit);
    shared.heard(hello.node_id, hello.advertise.as_deref());
    // The dialer pulls from us; we pull from it too (level-replicator's addPeer).
    if let Some(adv) = &hello.advertise {
        add_peer(shared, adv, PeerSource::Dialed);
    }
    let dead_after = liveness::dead_after(config.heartbeat_interval);
    let first = match tokio::time::timeout(dead_after, channel.recv()).await {
        Ok(first) => first?,
        Err(_) => return Err(serve_session::no_pull(&peer)),
    };
    if matches!(first, Some(Message::AskRanges)) {
        channel.count_bytes(Arc::clone(&shared.bytes));
        return serve_repair(shared, &mut channel, hello.node_id, first).await;
    }
    let replica = shared.db.replica();
    let local = LocalLog {
        incarnation: replica.incarnation(),
        seq_floor: replica.seq_floor(),
        prover: replica.cursor_prover(),
    };
    let interval = config.heartbeat_interval;
    let opened = ServeSession::open(&peer, hello.node_id, first, &local, interval, now())?;
    let mut session = match opened {
        Opening::Serve(session) => session,
        Opening::Halt(why) => return Err(halt(shared, &mut channel, &peer, why).await),
        Opening::Closed => return Ok(()),
    };
    if let Some(claim) = session.unproven_claim() {
        shared.unproven_claims.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = shared.refusal_log.lock().allow(&addr.ip(), Instant::now()) {
            tracing::warn!(peer = %peer, node = %hello.node_id, claim, suppressed, "ignored a rollback claim without this node's proof; serving everything");
        }
    }
    channel.count_bytes(Arc::clone(&shared.bytes));
    tracing::info!(peer = %peer, node = %hello.node_id, cursor = session.cursor(), "serving");
    // Tell the puller where this round will end, so a long catch-up can show its progress.
    send_within(&mut channel, &shared.heartbeat(), session.send_limit()).await?;
    let mut commits = replica.subscribe_commits();
    let mut shutdown = shared.shutdown.subscribe();
    // The generation of the last summary sent (`Members`): a new one goes after a heartbeat.
    let mut summary_sent = 0;
    loop {
        if let Some(round) = session.round_due(shared.db.last_seq()) {
            let limit = session.round_send_limit();
            let high = send_round(shared, &mut channel, round, &local, limit).await?;
            session.round_sent(high, now());
        }
        tokio::select! {
            biased;
            msg = channel.recv() => {
                match session.on_message(now(), msg?)? {
                    Served::Closed => return Ok(()),
                    Served::PeerClock(clock_ms) => shared.heard_clock(hello.node_id, clock_ms, &hello.limits),
                }
            }
            _ = commits.changed() => {}
            _ = at(Some(session.heartbeat_due())) => {
                if shared.is_refused(hello.node_id) {
                    return Err(Error::Refused {
                        peer: peer.clone(),
                        reason: format!("node {} was decommissioned", hello.node_id),
                    });
                }
                send_within(&mut channel, &shared.heartbeat(), session.send_limit()).await?;
                session.heartbeat_sent(now());
                let (generation, summary) = shared.summary.lock().clone();
                if generation != summary_sent {
                    let summary = summary.fitted(hello.limits.max_frame_size as usize);
                    let members = Message::Members {
                        through: summary.through,
                        applied: summary.applied,
                        members: summary.members,
                    };
                    send_within(&mut channel, &members, session.send_limit()).await?;
                    summary_sent = generation;
                }
            }
            _ = at(Some(session.deadline())) => return Err(session.silent()),
            _ = stopped(&mut shutdown) => return Ok(()),
        }
    }
}

/// Marks a dialer as comparing with this node while it lives: one anti-entropy connection per
/// node id at a time, so that a peer cannot make this node list its versions over many
/// connections at once.
struct Repairing<'a, T: Transport> {
    shared: &'a Shared<T>,
    dialer: NodeId,
}

impl<'a, T: Transport> Repairing<'a, T> {
    fn take(shared: &'a Shared<T>, dialer: NodeId) -> Option<Self> {
        // The lock is released before a guard exists: dropping one takes the lock again.
        let fresh = shared.repairing.lock().insert(dialer);
        fresh.then(|| Repairing { shared, dialer })
    }
}

impl<T: Transport> Drop for Repairing<'_, T> {
    fn drop(&mut self) {
        self.shared.repairing.lock().remove(&self.dialer);
    }
}

/// Answers an anti-entropy connection ([`RepairSession`] decides what may be asked): digests,
/// version lists and entries from the `Replica`, and applies what the dialer pushes.
async fn serve_repair<T: Transport, S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    dialer: NodeId,
    first: Option<Message>,
) -> Result<()> {
    let peer = channel.peer().to_string();
    let Some(_repairing) = Repairing::take(shared, dialer) else {
        let reason = "an anti-entropy exchange with this node is already under way".to_string();
        let _ = channel
            .send(&Message::Refuse {
                reason: reason.clone(),
            })
            .await;
        return Err(Error::Protocol {
            peer,
            detail: reason,
        });
    };
    shared.repairs_served.fetch_add(1, Ordering::Relaxed);
    // The dialer waits between rechecks and lists its own versions: be as patient as it is.
    let patience = super::repairer::patience(shared.config.heartbeat_interval);
    let mut shutdown = shared.shutdown.subscribe();
    let budget = shared.config.sync_batch_bytes;
    let mut session = RepairSession::new(&peer);
    let mut msg = first;
    loop {
        match session.on_message(msg)? {
            Asked::Closed => return Ok(()),
            // The digests are in memory, under a short lock: no blocking job needed.
            Asked::Ranges => {
                let digests = shared.db.replica().range_digests();
                send_within(channel, &Message::Ranges { digests }, patience).await?;
            }
            Asked::Segments(ranges) => {
                for range in ranges {
                    let digests = shared.db.replica().range_segments(range);
                    send_within(channel, &Message::Segments { range, digests }, patience).await?;
                }
            }
            Asked::Digests(segments) => {
                let digests = shared.db.replica().segment_digests(&segments);
                send_within(channel, &Message::Digests { digests }, patience).await?;
            }
            Asked::Versions(segments) => {
                let db = shared.db.clone();
                let list = shared
                    .jobs
                    .run(move || db.replica().versions_in_segments(&segments))
                    .await?;
                session.listed(list.iter().map(|(k, _)| k.as_slice()));
                for chunk in version_chunks(list, budget) {
                    send_within(channel, &chunk, patience).await?;
                }
                // Pushes carry values, as large as a pull's batches carry them.
                channel.set_max_message(shared.config.max_frame_size);
            }
            Asked::Entries(keys) => {
                let db = shared.db.clone();
                let (keys, entries, through) = shared
                    .jobs
                    .run(move || {
                        let (entries, through) = db.replica().entries_of(&keys, budget)?;
                        Ok((keys, entries, through))
                    })
                    .await?;
                session.sent(keys[..through.min(keys.len())].iter());
                let through = through as u64;
                send_within(channel, &Message::Entries { entries, through }, patience).await?;
            }
            Asked::Push(entries) => {
                let received = entries.len() as u64;
                let applied = apply_entries(shared, entries).await?;
                shared
                    .repair_received
                    .fetch_add(received, Ordering::Relaxed);
                shared
                    .repair_applied
                    .fetch_add(applied.applied, Ordering::Relaxed);
                let pushed = Message::Pushed {
                    applied: applied.applied,
                    refused: applied.refused,
                };
                send_within(channel, &pushed, patience).await?;
            }
        }
        msg = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return Ok(()),
            next = tokio::time::timeout(patience, channel.recv()) => match next {
                Ok(next) => next?,
                Err(_) => {
                    return Err(Error::Protocol {
                        peer,
                        detail: format!("anti-entropy dialer silent for {patience:?}"),
                    })
                }
            },
        };
    }
}

/// Stops replication for good after finding this folder is an old copy: marks the folder, tells
/// the peer, stops every task. Returns the error for the serving connection.
async fn halt<T: Transport, S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    peer: &str,
    why: String,
) -> Error {
    tracing::error!(peer, reason = %why, "this folder is an old copy of its node: replication stops until it gets a new node id (Db::renew_node_id)");
    let db = shared.db.clone();
    let marked = {
        let why = why.clone();
        shared
            .jobs
            .run(move || db.replica().mark_rolled_back(&why))
            .await
    };
    if let Err(e) = marked {
        tracing::error!(error = %e, "could not record the rollback");
    }
    *shared.halted.lock() = Some(why.clone());
    let _ = channel
        .send(&Message::Refuse {
            reason: format!("rolled back: {why}"),
        })
        .await;
    shared.shutdown.stop();
    Error::RolledBack { detail: why }
}

/// Streams one round, then `End`; returns its high sequence. A blocking thread reads RocksDB; a
/// channel of two batches bounds what waits in memory. In a simulation the reader runs inline,
/// one batch at a time, between sends.
async fn send_round<T: Transport, S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    round: Round,
    local: &LocalLog,
    limit: Duration,
) -> Result<u64> {
    let batch_bytes = shared.config.sync_batch_bytes;
    if shared.jobs.inline() {
        let mut reader = RoundReader::new(&shared.db, round.cursor, round.held, batch_bytes);
        loop {
            let item = reader.next_item()?;
            if let Some(high) = send_item(channel, item, local, limit).await? {
                return Ok(high);
            }
        }
    }
    let (tx, mut rx) = mpsc::channel::<Result<RoundItem>>(2);
    let db = shared.db.clone();
    shared.jobs.spawn(move || {
        let mut reader = RoundReader::new(&db, round.cursor, round.held, batch_bytes);
        loop {
            let item = reader.next_item();
            let last = !matches!(item, Ok(RoundItem::Batch(_)));
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    });
    while let Some(item) = rx.recv().await {
        if let Some(high) = send_item(channel, item?, local, limit).await? {
            return Ok(high);
        }
    }
    Err(Error::Protocol {
        peer: channel.peer().to_string(),
        detail: "the log reader stopped".into(),
    })
}

/// Sends one item of a round; returns the round's high sequence after its `End`.
async fn send_item<S: AsyncRead + AsyncWrite + Unpin>(
    channel: &mut Channel<S>,
    item: RoundItem,
    local: &LocalLog,
    limit: Duration,
) -> Result<Option<u64>> {
    match item {
        RoundItem::Batch(entries) => {
            send_within(channel, &Message::Batch { entries }, limit).await?;
            Ok(None)
        }
        RoundItem::End(high, clock) => {
            let end = Message::End {
                high_seq: high,
                incarnation: local.incarnation,
                proof: local.prover.prove(local.incarnation, high),
                clock,
            };
            send_within(channel, &end, limit).await?;
            Ok(Some(high))
        }
    }
}
