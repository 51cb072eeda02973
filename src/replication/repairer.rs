//! Anti-entropy rounds, the comparing side: every `NodeConfig::anti_entropy_interval` (with
//! jitter) each peer address whose pull session is up gets one comparison on a connection of
//! its own ([`compare_with`]); `Node::verify_peer` runs one on demand. Only bytes, timers and
//! blocking jobs here: what to ask and what differs is decided by
//! [`Comparison`](super::anti_entropy::Comparison), what a peer may ask by
//! [`RepairSession`](super::repair_session::RepairSession).
//!
//! A round fetches the entries of the keys the peer holds newer (or that this node lacks) and
//! applies them like pulled entries (checked, refused ones counted, the resolver deciding), and
//! pushes the entries the peer lacks. It touches no cursor: what it applies is an ordinary
//! `apply`, idempotent (invariant 5), so the pull stream that later brings the same entries
//! again skips them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use super::anti_entropy::{Comparison, Differences, Step};
use super::channel::{ByteCounters, Channel};
use super::message::{Hello, Message};
use super::node::{send_within, Shared};
use super::puller::connect;
use super::repair_session::MAX_LISTED_BYTES;
use crate::net::{stopped, Transport};
use crate::{Entry, Error, NodeId, Result, Version};

/// How many times a comparison asks again whether differing segments still differ, one
/// heartbeat interval apart, before it lists their versions.
pub(crate) const RECHECKS: u32 = 2;

/// What one anti-entropy round with a peer found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The peer's node id.
    pub peer: Option<NodeId>,
    /// What the comparison found: the keys fetched and pushed, the segments compared.
    pub differences: Differences,
    /// Entries received from the peer for the keys it holds newer.
    pub fetched: u64,
    /// Of those, the entries that won and were committed here.
    pub applied: u64,
    /// Of those, the entries this node refused (as it would refuse them pulled).
    pub refused: u64,
    /// Entries sent to the peer for the keys it lacks.
    pub pushed: u64,
    /// Of those, the entries the peer committed.
    pub pushed_applied: u64,
    /// Of those, the entries the peer refused.
    pub pushed_refused: u64,
    /// Entries the peer lacks that could not be sent: over its key or value size limits.
    pub unsendable: u64,
    /// Bytes exchanged on the round's connection, both ways (frames and their headers; the
    /// handshake not counted).
    pub bytes: u64,
}

impl RepairReport {
    /// True when the two nodes held the same versions (nothing fetched, pushed or deferred).
    pub fn converged(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Runs a round with `address` every `anti_entropy_interval` (× a uniform factor in
/// [0.75, 1]) while its pull session is up, until the node stops or the address is removed.
pub(super) async fn rounds<T: Transport>(
    shared: Arc<Shared<T>>,
    address: String,
    mut removed: watch::Receiver<()>,
) {
    let Some(interval) = shared.config.anti_entropy_interval else {
        return;
    };
    let mut shutdown = shared.shutdown.subscribe();
    // Where the window of compared segments starts when more differ than a round compares.
    let mut round: u64 = shared.jitter.lock().random();
    loop {
        let delay = interval.mul_f64(shared.jitter.lock().random_range(0.75..=1.0));
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            _ = removed.changed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let connected = shared
            .peers
            .lock()
            .get_mut(&address)
            .is_some_and(|p| p.status.connected);
        if !connected {
            continue;
        }
        let result = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => return,
            _ = removed.changed() => return,
            r = compare_with(&shared, &address, round) => r,
        };
        round = round.wrapping_add(1);
        match &result {
            Ok(r) if !r.converged() => tracing::info!(
                peer = %address,
                fetched = r.fetched,
                applied = r.applied,
                pushed = r.pushed,
                segments = r.differences.segments,
                deferred = r.differences.deferred,
                "anti-entropy repaired a difference"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(peer = %address, error = %e, "anti-entropy round failed"),
        }
    }
}

/// One anti-entropy round with `address`: compare, fetch, push; recorded in the address's
/// status when it is a known peer.
pub(super) async fn compare_with<T: Transport>(
    shared: &Arc<Shared<T>>,
    address: &str,
    round: u64,
) -> Result<RepairReport> {
    let result = round_with(shared, address, round).await;
    shared.with_peer(address, |p| p.repaired(&result));
    result
}

async fn round_with<T: Transport>(
    shared: &Arc<Shared<T>>,
    address: &str,
    round: u64,
) -> Result<RepairReport> {
    // One round per address at a time (a periodic one and `verify_peer`): the peer answers
    // one anti-entropy connection per node id and would refuse the second.
    let lock = Arc::clone(
        shared
            .repair_locks
            .lock()
            .entry(address.to_string())
            .or_default(),
    );
    let _one = lock.lock().await;
    let (mut channel, hello) = connect(shared, address).await?;
    let counters = Arc::new(ByteCounters::default());
    channel.count_bytes(Arc::clone(&counters));
    // A peer that answers each ask in time but never finishes must not hold the round forever.
    let limit = round_limit(shared.config.heartbeat_interval);
    let result =
        match tokio::time::timeout(limit, exchange(shared, &mut channel, &hello, round)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Protocol {
                peer: address.to_string(),
                detail: format!("the anti-entropy round took longer than {limit:?}"),
            }),
        };
    let (bytes_in, bytes_out) = (
        counters.bytes_in.load(Ordering::Relaxed),
        counters.bytes_out.load(Ordering::Relaxed),
    );
    shared.bytes.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
    shared
        .bytes
        .bytes_out
        .fetch_add(bytes_out, Ordering::Relaxed);
    let mut report = result?;
    report.peer = Some(hello.node_id);
    report.bytes = bytes_in + bytes_out;
    Ok(report)
}

/// How long one answer may take: a pass over the peer's index, as long as a round's frame may.
pub(super) fn patience(interval: Duration) -> Duration {
    interval.saturating_mul(12)
}

/// How long a whole round may take: 25 answers' worth.
fn round_limit(interval: Duration) -> Duration {
    patience(interval).saturating_mul(25)
}

/// The comparison's messages and the repair, on an established connection.
async fn exchange<T: Transport, S>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    hello: &Hello,
    round: u64,
) -> Result<RepairReport>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let interval = shared.config.heartbeat_interval;
    let patience = patience(interval);
    let peer = channel.peer().to_string();
    let bad = |e: super::anti_entropy::ComparisonError| Error::Protocol {
        peer: peer.clone(),
        detail: e.to_string(),
    };
    // The digests are in memory, under a short lock: no blocking job needed.
    let local = shared.db.replica().digests();
    let (mut comparison, mut step) = Comparison::start(local, round, RECHECKS);
    let found = loop {
        step = match step {
            Step::AskRanges => {
                send_within(channel, &Message::AskRanges, patience).await?;
                match answer(channel, patience).await? {
                    Message::Ranges { digests } => comparison.on_ranges(&digests).map_err(bad)?,
                    other => return Err(unexpected(&peer, &other)),
                }
            }
            Step::AskSegments(ranges) => {
                let n = ranges.len();
                send_within(channel, &Message::AskSegments { ranges }, patience).await?;
                let mut next = None;
                for _ in 0..n {
                    match answer(channel, patience).await? {
                        Message::Segments { range, digests } => {
                            next = comparison.on_segments(range, &digests).map_err(bad)?;
                        }
                        other => return Err(unexpected(&peer, &other)),
                    }
                }
                next.ok_or_else(|| bad(super::anti_entropy::ComparisonError::Unexpected("end")))?
            }
            Step::AskDigests(segments) => {
                // Give writes in flight a moment to arrive, both ways.
                tokio::time::sleep(interval).await;
                let asked = segments.clone();
                send_within(channel, &Message::AskDigests { segments }, patience).await?;
                let remote = match answer(channel, patience).await? {
                    Message::Digests { digests } => digests,
                    other => return Err(unexpected(&peer, &other)),
                };
                let local = shared.db.replica().segment_digests(&asked);
                comparison.on_digests(&local, &remote).map_err(bad)?
            }
            Step::AskVersions(segments) => {
                let ask = Message::AskVersions {
                    segments: segments.clone(),
                };
                send_within(channel, &ask, patience).await?;
                let db = shared.db.clone();
                let mine = shared
                    .jobs
                    .run(move || db.replica().versions_in_segments(&segments))
                    .await?;
                let theirs = listed_versions(channel, &peer, patience).await?;
                comparison.on_versions(&mine, &theirs).map_err(bad)?
            }
            Step::Done(found) => break found,
        }
    };
    let mut report = RepairReport::default();
    fetch(shared, channel, hello, &found.fetch, patience, &mut report).await?;
    push(
        shared,
        channel,
        hello,
        &found.lacking,
        patience,
        &mut report,
    )
    .await?;
    report.differences = found;
    Ok(report)
}

/// The next message, within `patience`; a close is an error (the peer owes an answer).
async fn answer<S>(channel: &mut Channel<S>, patience: Duration) -> Result<Message>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(patience, channel.recv()).await {
        Ok(Ok(Some(Message::Refuse { reason }))) => Err(Error::Protocol {
            peer: channel.peer().to_string(),
            detail: format!("refused: {reason}"),
        }),
        Ok(Ok(Some(msg))) => Ok(msg),
        Ok(Ok(None)) => Err(Error::Protocol {
            peer: channel.peer().to_string(),
            detail: "closed during an anti-entropy exchange".into(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Protocol {
            peer: channel.peer().to_string(),
            detail: format!("no anti-entropy answer for {patience:?}"),
        }),
    }
}

fn unexpected(peer: &str, msg: &Message) -> Error {
    Error::Protocol {
        peer: peer.to_string(),
        detail: format!("unexpected {} in an anti-entropy exchange", msg.kind()),
    }
}

/// The peer's version list, chunk by chunk, within [`MAX_LISTED_BYTES`].
async fn listed_versions<S>(
    channel: &mut Channel<S>,
    peer: &str,
    patience: Duration,
) -> Result<Vec<(Vec<u8>, Version)>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut all, mut bytes) = (Vec::new(), 0usize);
    loop {
        match answer(channel, patience).await? {
            Message::Versions { versions, last } => {
                if versions.is_empty() && !last {
                    return Err(Error::Protocol {
                        peer: peer.to_string(),
                        detail: "an empty chunk of versions that is not the last".into(),
                    });
                }
                bytes += versions.iter().map(|(k, _)| k.len() + 48).sum::<usize>();
                if bytes > MAX_LISTED_BYTES {
                    return Err(Error::Protocol {
                        peer: peer.to_string(),
                        detail: format!("listed more than {MAX_LISTED_BYTES} bytes of versions"),
                    });
                }
                all.extend(versions);
                if last {
                    return Ok(all);
                }
            }
            other => return Err(unexpected(peer, &other)),
        }
    }
}

/// Asks for the entries of `keys`, a byte-bounded ask at a time, and applies them as pulled
/// entries are applied.
async fn fetch<T: Transport, S>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    hello: &Hello,
    keys: &[Vec<u8>],
    patience: Duration,
    report: &mut RepairReport,
) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let peer = channel.peer().to_string();
    let budget = batch_budget(shared, hello);
    let mut rest = keys;
    while !rest.is_empty() {
        let n = chunk(rest, budget);
        let ask = &rest[..n];
        let msg = Message::AskEntries { keys: ask.to_vec() };
        send_within(channel, &msg, patience).await?;
        let (entries, through) = match answer(channel, patience).await? {
            Message::Entries { entries, through } => (entries, through),
            other => return Err(unexpected(&peer, &other)),
        };
        let through = usize::try_from(through).unwrap_or(usize::MAX);
        if through == 0 || through > ask.len() {
            return Err(Error::Protocol {
                peer,
                detail: format!("entries through {through} of {} keys asked", ask.len()),
            });
        }
        let asked: std::collections::BTreeSet<&[u8]> =
            ask[..through].iter().map(Vec::as_slice).collect();
        if entries.iter().any(|e| !asked.contains(e.key.as_slice())) {
            return Err(Error::Protocol {
                peer,
                detail: "an entry of a key not asked for".into(),
            });
        }
        rest = &rest[through..];
        if entries.is_empty() {
            continue;
        }
        report.fetched += entries.len() as u64;
        let applied = apply_entries(shared, entries).await?;
        report.applied += applied.applied;
        report.refused += applied.refused;
    }
    Ok(())
}

/// A batch both sides would send (the smaller `sync_batch_bytes`), so that what is asked or
/// pushed fits the peer's frames as a pull's batches do (`check_pull`).
fn batch_budget<T: Transport>(shared: &Shared<T>, hello: &Hello) -> usize {
    (shared.config.sync_batch_bytes as u64)
        .min(hello.limits.sync_batch_bytes)
        .max(1) as usize
}

/// How many of `keys` (at least one) fit `budget` bytes, counting each key's length prefix.
fn chunk(keys: &[Vec<u8>], budget: usize) -> usize {
    let (mut n, mut bytes) = (0, 0);
    while n < keys.len() && (n == 0 || bytes + keys[n].len() + 8 <= budget) {
        bytes += keys[n].len() + 8;
        n += 1;
    }
    n
}

/// Applies entries fetched or pushed in a round as pulled ones are applied.
pub(super) async fn apply_entries<T: Transport>(
    shared: &Shared<T>,
    entries: Vec<Entry>,
) -> Result<super::pull_session::Applied> {
    // The sequences only order refusals in a pull; here they are positions.
    shared
        .apply_from_peer((1u64..).zip(entries).collect())
        .await
}

/// Sends the entries of `keys` the peer lacks, in batches it accepts, and counts what it made
/// of them.
async fn push<T: Transport, S>(
    shared: &Arc<Shared<T>>,
    channel: &mut Channel<S>,
    hello: &Hello,
    keys: &[Vec<u8>],
    patience: Duration,
    report: &mut RepairReport,
) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let peer = channel.peer().to_string();
    let limits = hello.limits;
    let budget = batch_budget(shared, hello);
    let mut from = 0;
    while from < keys.len() {
        let db = shared.db.clone();
        let ask = keys[from..from + chunk(&keys[from..], budget)].to_vec();
        let (entries, through) = shared
            .jobs
            .run(move || db.replica().entries_of(&ask, budget))
            .await?;
        from += through.max(1);
        let (entries, over): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| {
            e.key.len() as u64 <= limits.max_key_size
                && e.value.as_ref().map_or(0, Vec::len) as u64 <= limits.max_value_size
        });
        report.unsendable += over.len() as u64;
        if entries.is_empty() {
            continue;
        }
        report.pushed += entries.len() as u64;
        send_within(channel, &Message::Push { entries }, patience).await?;
        match answer(channel, patience).await? {
            Message::Pushed { applied, refused } => {
                report.pushed_applied += applied;
                report.pushed_refused += refused;
            }
            other => return Err(unexpected(&peer, &other)),
        }
    }
    Ok(())
}
