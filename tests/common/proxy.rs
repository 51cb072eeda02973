//! A small TCP proxy for tests: listens on 127.0.0.1:0 and forwards every accepted connection to
//! a target address, recording the bytes it moves and, on the first connection only, tampering
//! with them or cutting the connection.
//!
//! - Recording: every byte forwarded, per direction ([`Proxy::to_server`], [`Proxy::to_client`]).
//! - [`Proxy::flip_bit`]: flips one bit at a byte offset of one direction's stream.
//! - [`Proxy::flip_bit_keeping_crc`]: the same, inside a frame payload (`u32` length, `u32`
//!   crc32, payload — the replication framing), and the frame's crc32 recomputed, so only the
//!   layer above the framing (Noise authentication) can notice.
//! - [`Proxy::cut_after`]: closes both sides once `n` bytes went server->client.
//! - [`Proxy::pause`]: stops moving bytes on every connection, sockets left open.
//!
//! The target may be set after the proxy starts ([`Proxy::set_target`]), so a node can advertise
//! the proxy's address as its own; connections that arrive before a target is set are closed.
//! `common::behind_proxy` puts a node behind one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One direction of a proxied connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the dialer to the proxied server.
    ClientToServer,
    /// From the proxied server back to the dialer.
    ServerToClient,
}

/// A bit to flip in the first connection.
#[derive(Clone, Copy, Debug)]
struct Flip {
    direction: Direction,
    /// Stream offset of the byte to alter (with `keep_crc`: the first payload byte at or after).
    offset: usize,
    /// Bit number, 0..8.
    bit: u8,
    /// Recompute the frame's crc32 after the flip.
    keep_crc: bool,
}

#[derive(Default)]
struct Hooks {
    target: Option<SocketAddr>,
    flip: Option<Flip>,
    cut_after: Option<usize>,
}

struct Shared {
    hooks: Mutex<Hooks>,
    to_server: Arc<Mutex<Vec<u8>>>,
    to_client: Arc<Mutex<Vec<u8>>>,
    connections: AtomicUsize,
    closed: AtomicUsize,
    flipped: AtomicBool,
    cut: AtomicBool,
    /// While true, no connection moves a byte (the sockets stay open: a silent peer).
    paused: watch::Sender<bool>,
}

/// A running proxy; dropping it stops accepting (open connections end with their peers).
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    /// A proxy to `target`, or to a target set later with [`Proxy::set_target`].
    pub async fn start(target: Option<SocketAddr>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            hooks: Mutex::new(Hooks {
                target,
                ..Hooks::default()
            }),
            to_server: Arc::default(),
            to_client: Arc::default(),
            connections: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            flipped: AtomicBool::new(false),
            cut: AtomicBool::new(false),
            paused: watch::channel(false).0,
        });
        let s = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let index = s.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(connection(Arc::clone(&s), client, index));
            }
        });
        Proxy {
            addr,
            shared,
            accept,
        }
    }

    /// The proxy's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where accepted connections are forwarded from now on.
    pub fn set_target(&self, target: SocketAddr) {
        self.shared.hooks.lock().unwrap().target = Some(target);
    }

    /// On the first connection, flips bit `bit` (0..8) of the byte at stream offset `offset` of
    /// `direction` (so after `offset` bytes went through untouched).
    pub fn flip_bit(&self, direction: Direction, offset: usize, bit: u8) {
        self.set_flip(direction, offset, bit, false);
    }

    /// Like [`Proxy::flip_bit`], but on the first frame payload byte at or after `offset`, with
    /// the frame's crc32 recomputed: the framing stays valid and only authentication above it
    /// can detect the change.
    pub fn flip_bit_keeping_crc(&self, direction: Direction, offset: usize, bit: u8) {
        self.set_flip(direction, offset, bit, true);
    }

    fn set_flip(&self, direction: Direction, offset: usize, bit: u8, keep_crc: bool) {
        assert!(bit < 8, "bit {bit} is not within a byte");
        self.shared.hooks.lock().unwrap().flip = Some(Flip {
            direction,
            offset,
            bit,
            keep_crc,
        });
    }

    /// On the first connection, closes both sides once `n` bytes went server->client (exactly
    /// `n` are delivered). Later connections pass through.
    pub fn cut_after(&self, n: usize) {
        self.shared.hooks.lock().unwrap().cut_after = Some(n);
    }

    /// Stops (`true`) or resumes (`false`) forwarding on every connection, keeping the sockets
    /// open: both ends see a peer that went silent without closing.
    pub fn pause(&self, paused: bool) {
        self.shared.paused.send_replace(paused);
    }

    /// Every byte forwarded client->server, over all connections, in arrival order.
    pub fn to_server(&self) -> Arc<Mutex<Vec<u8>>> {
        Arc::clone(&self.shared.to_server)
    }

    /// Every byte forwarded server->client, over all connections, in arrival order.
    pub fn to_client(&self) -> Arc<Mutex<Vec<u8>>> {
        Arc::clone(&self.shared.to_client)
    }

    /// A copy of all recorded bytes, both directions (client->server first).
    pub fn recorded(&self) -> Vec<u8> {
        let mut all = self.shared.to_server.lock().unwrap().clone();
        all.extend_from_slice(&self.shared.to_client.lock().unwrap());
        all
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections that ended (either side closed, or the proxy cut them).
    pub fn closed(&self) -> usize {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// True once the configured bit was flipped.
    pub fn flipped(&self) -> bool {
        self.shared.flipped.load(Ordering::SeqCst)
    }

    /// True once the first connection was cut by [`Proxy::cut_after`].
    pub fn was_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

/// Forwards one connection until either side closes or the proxy cuts it.
async fn connection(shared: Arc<Shared>, client: TcpStream, index: usize) {
    let (target, flip, cut_after) = {
        let hooks = shared.hooks.lock().unwrap();
        let first = index == 0;
        (
            hooks.target,
            hooks.flip.filter(|_| first),
            hooks.cut_after.filter(|_| first),
        )
    };
    let server = match target {
        Some(t) => TcpStream::connect(t).await.ok(),
        None => None,
    };
    let Some(server) = server else {
        shared.closed.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = Pump {
        from: client_read,
        to: server_write,
        record: Arc::clone(&shared.to_server),
        flip: flip.filter(|f| f.direction == Direction::ClientToServer),
        cut_after: None,
        shared: Arc::clone(&shared),
    };
    let down = Pump {
        from: server_read,
        to: client_write,
        record: Arc::clone(&shared.to_client),
        flip: flip.filter(|f| f.direction == Direction::ServerToClient),
        cut_after,
        shared: Arc::clone(&shared),
    };
    // Whichever direction ends first (a close, an error or the cut) ends the other: both sockets
    // are dropped together.
    tokio::select! {
        _ = up.run() => {}
        _ = down.run() => {}
    }
    shared.closed.fetch_add(1, Ordering::SeqCst);
}

struct Pump {
    from: OwnedReadHalf,
    to: OwnedWriteHalf,
    record: Arc<Mutex<Vec<u8>>>,
    flip: Option<Flip>,
    cut_after: Option<usize>,
    shared: Arc<Shared>,
}

impl Pump {
    /// Copies bytes until the source closes, a write fails, or the cut is reached.
    async fn run(mut self) {
        let mut buf = vec![0u8; 16 * 1024];
        // Bytes of the stream read so far, and forwarded so far.
        let mut pos = 0usize;
        let mut forwarded = 0usize;
        // With `keep_crc`: bytes held back until their frame is complete.
        let mut held: Vec<u8> = Vec::new();
        let mut held_pos = 0usize;
        let mut paused = self.shared.paused.subscribe();
        loop {
            if paused.wait_for(|p| !*p).await.is_err() {
                return;
            }
            let n = match self.from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            self.record.lock().unwrap().extend_from_slice(&buf[..n]);
            let mut out: Vec<u8> = buf[..n].to_vec();
            let start = pos;
            pos += n;
            match self.flip {
                Some(f) if !f.keep_crc && (start..pos).contains(&f.offset) => {
                    out[f.offset - start] ^= 1 << f.bit;
                    self.flip = None;
                    self.shared.flipped.store(true, Ordering::SeqCst);
                }
                Some(f) if !f.keep_crc => {}
                Some(f) => {
                    // Hold bytes back, whole frames at a time, until the target frame is done.
                    held.extend_from_slice(&out);
                    out.clear();
                    while let Some(len) = frame_len(&held) {
                        let payload_start = held_pos + 8;
                        let frame_end = held_pos + len;
                        let mut frame: Vec<u8> = held.drain(..len).collect();
                        let target = f.offset.max(payload_start);
                        if self.flip.is_some() && target < frame_end {
                            frame[target - held_pos] ^= 1 << f.bit;
                            let crc = crc32fast::hash(&frame[8..]);
                            frame[4..8].copy_from_slice(&crc.to_be_bytes());
                            self.flip = None;
                            self.shared.flipped.store(true, Ordering::SeqCst);
                        }
                        held_pos = frame_end;
                        out.extend_from_slice(&frame);
                        if self.flip.is_none() {
                            // Done: the rest passes through as it comes.
                            out.append(&mut held);
                            held_pos = pos;
                            break;
                        }
                    }
                }
                None => {}
            }
            if let Some(cut) = self.cut_after {
                if forwarded + out.len() >= cut {
                    let keep = cut - forwarded;
                    let _ = self.to.write_all(&out[..keep]).await;
                    let _ = self.to.flush().await;
                    self.shared.cut.store(true, Ordering::SeqCst);
                    return;
                }
            }
            if self.to.write_all(&out).await.is_err() {
                return;
            }
            forwarded += out.len();
        }
    }
}

/// The total length (header included) of the frame at the start of `bytes`, once all of it is
/// there.
fn frame_len(bytes: &[u8]) -> Option<usize> {
    let header: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    let len = 8 + u32::from_be_bytes(header) as usize;
    (bytes.len() >= len).then_some(len)
}
