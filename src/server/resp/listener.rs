//! The RESP accept loop: one task per connection, at most `max_clients` at once, all ended
//! and awaited at shutdown.
//!
//! A connection over the limit is answered `-ERR max number of clients reached` (Redis's
//! words) and closed, and counted in [`RespStats::refused`]. At shutdown the loop stops
//! accepting, every connection ends after its current batch, and the loop waits for them
//! (5 s at most, then it aborts the rest).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::connection;
use super::parser::Limits;
use super::state::{RespStats, Shared};
use crate::net::{stopped, TaskSet};

/// Accepts and serves connections until `shutdown` turns true, then drains them.
pub async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    max_clients: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_clients));
    let tasks = TaskSet::new();
    let for_connections = shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((mut stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let stats = Arc::clone(&shared.stats);
                    match Arc::clone(&slots).try_acquire_owned() {
                        Ok(permit) => {
                            RespStats::add(&stats.connections, 1);
                            stats.connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let conn = connection::serve(
                                stream,
                                Arc::clone(&shared),
                                limits,
                                for_connections.clone(),
                            );
                            tasks.spawn("RESP connection", false, async move {
                                conn.await;
                                stats.connected.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            RespStats::add(&stats.refused, 1);
                            tasks.spawn("RESP refusal", false, async move {
                                let refuse = async {
                                    let _ = stream
                                        .write_all(b"-ERR max number of clients reached\r\n")
                                        .await;
                                    let _ = stream.shutdown().await;
                                };
                                let _ = tokio::time::timeout(Duration::from_secs(1), refuse).await;
                            });
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "RESP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    if !tasks.drain(Duration::from_secs(5)).await {
        tracing::warn!("RESP connections still busy after 5 s; aborted them");
    }
}
