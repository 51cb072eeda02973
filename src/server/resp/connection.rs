//! One RESP connection: moves bytes between the socket, the [`Parser`] and [`execute`], and
//! nothing else.
//!
//! Loop: parse every complete request in the input buffer; run them in order, in one blocking
//! task (RocksDB calls block), appending each reply to one output buffer; write that buffer
//! (so a pipeline of N requests read together is answered with one write, in order); read
//! more. Consecutive plain `SET key value` requests of one batch commit as one atomic
//! [`Db::write`](crate::Db::write) (one write-ahead-log append for the run instead of one per
//! command; each still answered `+OK`); if that batch is refused (a bad key or value in it),
//! they run one by one, so each gets its own reply. A request after `QUIT` is not run. A [`ParseError`](super::parser::ParseError) is
//! answered with `-ERR Protocol error: ...` after the replies of the requests before it, and
//! the connection closes, as in Redis. The connection also ends when the client closes it or
//! when the server shuts down (between batches).
//!
//! Memory: the input buffer holds at most one unparsed request (bounded by the parser's
//! [`Limits`]) plus one read of [`READ_CHUNK`] bytes; the output buffer holds the replies of
//! one batch of requests read together.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::exec::{execute, plain_set, set_all};
use super::parser::{Limits, Parser, Request};
use super::reply::Reply;
use super::state::{RespStats, Session, Shared};
use crate::net::stopped;

/// Bytes read from the socket at a time.
pub const READ_CHUNK: usize = 64 << 10;

/// Serves one accepted connection until it closes, errs, `QUIT`s or the server stops.
pub async fn serve(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().ok();
    let mut session = Some(shared.session());
    let mut parser = Parser::new();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let mut requests: Vec<Request> = Vec::new();
        let mut fatal = None;
        loop {
            match parser.parse(&input, &limits) {
                Ok(Some((request, used))) => {
                    input.advance(used.min(input.len()));
                    if !request.is_empty() {
                        requests.push(request);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    fatal = Some(e);
                    break;
                }
            }
        }
        let mut output = Vec::new();
        let mut close = false;
        if !requests.is_empty() {
            let Some(s) = session.take() else { return };
            let job_shared = Arc::clone(&shared);
            let job = tokio::task::spawn_blocking(move || run_batch(&job_shared, s, &requests));
            match job.await {
                Ok((s, out, quit)) => {
                    session = Some(s);
                    output = out;
                    close = quit;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "RESP command task failed; closing the connection");
                    return;
                }
            }
        }
        if let Some(e) = &fatal {
            if !close {
                tracing::debug!(?peer, error = %e, "RESP protocol error; closing the connection");
                RespStats::add(&shared.stats.errors, 1);
                Reply::err(format!("Protocol error: {e}")).encode(&mut output);
                close = true;
            }
        }
        if !output.is_empty() && stream.write_all(&output).await.is_err() {
            return;
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
        if input.is_empty() && input.capacity() > 4 * READ_CHUNK {
            // A large request is done with: give its memory back.
            input = BytesMut::with_capacity(READ_CHUNK);
        }
        input.reserve(READ_CHUNK);
        tokio::select! {
            read = stream.read_buf(&mut input) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = stopped(&mut shutdown) => return,
        }
    }
}

/// Runs `requests` in order; returns the session, the encoded replies and whether to close.
fn run_batch(
    shared: &Shared,
    mut session: Session,
    requests: &[Request],
) -> (Session, Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut errors = 0;
    let mut commands = 0;
    let mut close = false;
    let mut i = 0;
    while i < requests.len() {
        let run = requests[i..]
            .iter()
            .take_while(|r| plain_set(r).is_some())
            .count();
        if run > 1 && set_all(shared, &requests[i..i + run]).is_ok() {
            for _ in 0..run {
                Reply::ok().encode(&mut out);
            }
            commands += run as u64;
            i += run;
            continue;
        }
        // One request, or each of a refused run of `SET`s in turn (none of them closes).
        for request in &requests[i..i + run.max(1)] {
            let outcome = execute(shared, &mut session, request);
            commands += 1;
            errors += u64::from(outcome.reply.is_error());
            outcome.reply.encode(&mut out);
            if outcome.close {
                close = true;
                break;
            }
        }
        if close {
            break;
        }
        i += run.max(1);
    }
    RespStats::add(&shared.stats.commands, commands);
    RespStats::add(&shared.stats.errors, errors);
    (session, out, close)
}
