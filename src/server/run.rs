//! [`Server`]: `meshkv serve` from a [`ServerConfig`] to a clean exit.
//!
//! [`Server::start`] opens the database, starts the replicating node (which tries one sync round
//! with each configured peer first) and binds the HTTP listener; [`Server::run_until`] serves
//! until its `stop` future resolves (SIGINT/SIGTERM in the binary), then shuts down in order:
//! stop accepting HTTP connections and let in-flight requests finish (watch streams end), shut
//! the node down (its tasks and blocking jobs drained), flush the write-ahead log. With
//! `resp_listen` set, the RESP listener ([`super::resp`]) is bound at start too, and stops
//! with HTTP: it stops accepting, and its connections end after their current command.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::http::{router, AppState};
use super::resp::{self, RespConfig, RespStats};
use super::ServerConfig;
use crate::{Db, Node, Result};

/// A started server: database open, node replicating, HTTP bound.
pub struct Server {
    db: Db,
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    http_addr: SocketAddr,
    resp: Option<(tokio::net::TcpListener, RespConfig, SocketAddr)>,
}

impl Server {
    /// Opens the database at `config.data_dir`, starts the node and binds the HTTP address.
    pub async fn start(config: ServerConfig) -> Result<Server> {
        let ServerConfig {
            data_dir,
            http_listen,
            options,
            node,
            resp,
        } = config;
        let db = tokio::task::spawn_blocking(move || Db::open(data_dir, options))
            .await
            .map_err(|e| crate::Error::Io(std::io::Error::other(e.to_string())))??;
        let listener = tokio::net::TcpListener::bind(http_listen).await?;
        let http_addr = listener.local_addr()?;
        let resp = match resp {
            Some(rc) => {
                let l = tokio::net::TcpListener::bind(rc.listen).await?;
                let addr = l.local_addr()?;
                Some((l, rc, addr))
            }
            None => None,
        };
        let node = Node::start(db.clone(), node).await?;
        Ok(Server {
            db,
            node: Arc::new(node),
            listener,
            http_addr,
            resp,
        })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound RESP address, when `resp_listen` is set.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.resp.as_ref().map(|(_, _, addr)| *addr)
    }

    /// The bound replication address.
    pub fn replication_addr(&self) -> SocketAddr {
        self.node.local_addr()
    }

    /// The database served.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Serves until `stop` resolves, then shuts down gracefully (see the module docs).
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let (shutdown_tx, shutdown) = watch::channel(false);
        let resp_stats = self.resp.as_ref().map(|_| Arc::new(RespStats::default()));
        let resp_task = match (self.resp, &resp_stats) {
            (Some((listener, rc, addr)), Some(stats)) => {
                let shared = resp::Shared::new(
                    self.db.clone(),
                    Arc::clone(&self.node),
                    addr,
                    Arc::clone(stats),
                );
                Some(tokio::spawn(resp::listener::run(
                    listener,
                    Arc::new(shared),
                    rc.limits,
                    rc.max_clients,
                    shutdown.clone(),
                )))
            }
            _ => None,
        };
        let app = router(AppState {
            db: self.db.clone(),
            node: Arc::clone(&self.node),
            shutdown,
            resp: resp_stats,
        });
        let graceful = async move {
            stop.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = shutdown_tx.send(true);
        };
        axum::serve(self.listener, app)
            .with_graceful_shutdown(graceful)
            .await?;
        if let Some(task) = resp_task {
            // The shutdown signal went out with HTTP's: the listener drains its connections.
            let _ = task.await;
        }
        // The router and its state are gone with the server; wait briefly for any handler
        // task still holding a clone of the node.
        let mut node = Some(self.node);
        for _ in 0..100 {
            match node.take().map(Arc::try_unwrap) {
                Some(Ok(n)) => {
                    n.shutdown().await?;
                    break;
                }
                Some(Err(shared)) => {
                    node = Some(shared);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                None => break,
            }
        }
        if node.is_some() {
            // Dropping the last handle stops the node's tasks without waiting for them.
            tracing::warn!("a request still held the node after 2 s; stopping it without waiting");
        }
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| crate::Error::Io(std::io::Error::other(e.to_string())))??;
        tracing::info!("meshkv stopped");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM (SIGINT only off Unix).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
