//! A fault-injecting network for nodes on loopback.
//!
//! Node `i` listens and dials from its own loopback address, `127.0.0.<10 + i>` (its
//! [`NodeTransport`] binds the source address of every connection it opens), and is reached only
//! through its proxy, which it advertises. The proxy knows who dials from the source address, so
//! every byte it moves belongs to a directed flow `from -> to` between two nodes, and faults are
//! set per flow: a blackhole (nothing moves, sockets stay open), a delay, a throttle, the next
//! frame duplicated or swapped with the one after it, the next frame cut in the middle with the
//! connection closed, or every connection of a pair reset now. The proxy reads whole frames
//! (`u32` length, `u32` crc32, payload: the replication framing), so duplication and reordering
//! move whole frames, as a misbehaving middlebox would.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshkv::net::{MulticastGroup, Tcp, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// Node `i`'s loopback address.
pub fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + i as u8)
}

fn node_of(addr: SocketAddr) -> Option<usize> {
    match addr {
        SocketAddr::V4(a) if a.ip().octets()[..3] == [127, 0, 0] && a.ip().octets()[3] >= 10 => {
            Some(usize::from(a.ip().octets()[3] - 10))
        }
        _ => None,
    }
}

/// TCP whose outgoing connections leave from the node's own loopback address.
#[derive(Clone, Copy, Debug)]
pub struct NodeTransport {
    pub ip: Ipv4Addr,
}

impl Transport for NodeTransport {
    type Stream = TcpStream;
    type Listener = TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }

    async fn connect(&self, addr: &str) -> io::Result<TcpStream> {
        let target = tokio::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, addr.to_string()))?;
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(self.ip.into(), 0))?;
        let stream = socket.connect(target).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    type Datagram = <Tcp as Transport>::Datagram;

    async fn multicast(
        &self,
        config: &MulticastGroup,
    ) -> meshkv::Result<(Self::Datagram, Self::Datagram)> {
        Tcp.multicast(config).await
    }

    async fn send_to(
        socket: &Self::Datagram,
        datagram: &[u8],
        to: SocketAddr,
    ) -> io::Result<usize> {
        Tcp::send_to(socket, datagram, to).await
    }

    async fn recv_from(socket: &Self::Datagram, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        Tcp::recv_from(socket, buf).await
    }

    fn leave_multicast(
        socket: &Self::Datagram,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<()> {
        Tcp::leave_multicast(socket, group, interface)
    }
}

/// What happens to the bytes of one directed flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Bytes move.
    Up,
    /// Nothing moves; sockets stay open (a partition TCP cannot see).
    Blackhole,
    /// Every frame waits this long.
    Delay(Duration),
    /// Frames move at this many bytes per second.
    Throttle(u64),
    /// The next frame is sent twice, then `Up`.
    Duplicate,
    /// The next two frames swap places, then `Up`.
    Reorder,
    /// The next frame is cut in the middle and its connection closed, then `Up`.
    CutMidFrame,
}

struct Shared {
    faults: Mutex<HashMap<(usize, usize), Fault>>,
    /// Bumped on every change, so held flows look again.
    changed: watch::Sender<u64>,
    /// Per unordered pair: bumped to reset its connections.
    resets: Mutex<HashMap<(usize, usize), watch::Sender<u64>>>,
    pub frames: AtomicU64,
    pub faults_applied: AtomicU64,
}

/// The network: one proxy per node, faults per flow.
#[derive(Clone)]
pub struct Net {
    shared: Arc<Shared>,
}

impl Default for Net {
    fn default() -> Self {
        Net {
            shared: Arc::new(Shared {
                faults: Mutex::new(HashMap::new()),
                changed: watch::Sender::new(0),
                resets: Mutex::new(HashMap::new()),
                frames: AtomicU64::new(0),
                faults_applied: AtomicU64::new(0),
            }),
        }
    }
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Net {
    /// Starts node `node`'s proxy; connections are forwarded to the address `target` yields
    /// once set (closed before).
    pub async fn proxy(&self, node: usize) -> (SocketAddr, watch::Sender<Option<SocketAddr>>) {
        self.proxy_with(None, node).await
    }

    /// Starts a proxy for the link `from -> to` only: whoever dials it is taken to be node
    /// `from` (for processes, whose source address cannot be chosen). Give node `from` this
    /// address as its peer `to`.
    pub async fn proxy_link(
        &self,
        from: usize,
        to: usize,
    ) -> (SocketAddr, watch::Sender<Option<SocketAddr>>) {
        self.proxy_with(Some(from), to).await
    }

    async fn proxy_with(
        &self,
        fixed_from: Option<usize>,
        node: usize,
    ) -> (SocketAddr, watch::Sender<Option<SocketAddr>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (target_tx, target_rx) = watch::channel(None);
        let net = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, from)) = listener.accept().await else {
                    return;
                };
                let Some(target) = *target_rx.borrow() else {
                    continue;
                };
                let net = net.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let from = fixed_from.or(node_of(from));
                    net.forward(from, node, client, server).await;
                });
            }
        });
        (addr, target_tx)
    }

    /// Sets the fault of the flow `from -> to`.
    pub fn set(&self, from: usize, to: usize, fault: Fault) {
        self.shared.faults.lock().unwrap().insert((from, to), fault);
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Blackholes every flow between the groups `a` and `b`, both ways.
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.set(x, y, Fault::Blackhole);
                self.set(y, x, Fault::Blackhole);
            }
        }
    }

    /// Every flow back to `Up`.
    pub fn heal(&self) {
        self.shared.faults.lock().unwrap().clear();
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Closes every connection between `a` and `b` now.
    pub fn reset(&self, a: usize, b: usize) {
        self.reset_signal(pair(a, b)).send_modify(|n| *n += 1);
    }

    /// Frames moved and one-shot faults applied so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.shared.frames.load(Ordering::Relaxed),
            self.shared.faults_applied.load(Ordering::Relaxed),
        )
    }

    fn reset_signal(&self, p: (usize, usize)) -> watch::Sender<u64> {
        self.shared
            .resets
            .lock()
            .unwrap()
            .entry(p)
            .or_insert_with(|| watch::Sender::new(0))
            .clone()
    }

    fn fault(&self, from: usize, to: usize) -> Fault {
        *self
            .shared
            .faults
            .lock()
            .unwrap()
            .get(&(from, to))
            .unwrap_or(&Fault::Up)
    }

    /// Takes a one-shot fault: it applies to one frame, then the flow is `Up` again.
    fn take_one_shot(&self, from: usize, to: usize) {
        let mut faults = self.shared.faults.lock().unwrap();
        if matches!(
            faults.get(&(from, to)),
            Some(Fault::Duplicate | Fault::Reorder | Fault::CutMidFrame)
        ) {
            faults.remove(&(from, to));
            self.shared.faults_applied.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn forward(&self, from: Option<usize>, to: usize, client: TcpStream, server: TcpStream) {
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let mut reset = match from {
            Some(f) => self.reset_signal(pair(f, to)).subscribe(),
            None => watch::Sender::new(0).subscribe(),
        };
        reset.mark_unchanged();
        let flows = async {
            match from {
                Some(f) => {
                    tokio::select! {
                        _ = self.pump(f, to, cr, sw) => {}
                        _ = self.pump(to, f, sr, cw) => {}
                    }
                }
                None => {
                    tokio::select! {
                        _ = plain(cr, sw) => {}
                        _ = plain(sr, cw) => {}
                    }
                }
            }
        };
        tokio::select! {
            _ = flows => {}
            _ = reset.changed() => {}
        }
    }

    /// Moves whole frames from `from` to `to`, applying the flow's fault; returns when either
    /// side closes or a fault cuts the connection.
    async fn pump(&self, from: usize, to: usize, mut r: OwnedReadHalf, mut w: OwnedWriteHalf) {
        let mut changed = self.shared.changed.subscribe();
        let mut held: Option<Vec<u8>> = None;
        loop {
            let Some(frame) = read_frame(&mut r).await else {
                return;
            };
            self.shared.frames.fetch_add(1, Ordering::Relaxed);
            loop {
                let fault = self.fault(from, to);
                match fault {
                    Fault::Blackhole => {
                        if changed.changed().await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Fault::Delay(d) => tokio::time::sleep(d).await,
                    Fault::Throttle(rate) => {
                        let secs = frame.len() as f64 / rate.max(1) as f64;
                        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                    }
                    _ => {}
                }
                break;
            }
            let fault = self.fault(from, to);
            self.take_one_shot(from, to);
            let ok = match fault {
                Fault::Duplicate => {
                    w.write_all(&frame).await.is_ok() && w.write_all(&frame).await.is_ok()
                }
                Fault::Reorder => {
                    held = Some(frame);
                    continue;
                }
                Fault::CutMidFrame => {
                    let _ = w.write_all(&frame[..frame.len() / 2]).await;
                    return;
                }
                _ => match held.take() {
                    Some(first) => {
                        w.write_all(&frame).await.is_ok() && w.write_all(&first).await.is_ok()
                    }
                    None => w.write_all(&frame).await.is_ok(),
                },
            };
            if !ok {
                return;
            }
        }
    }
}

/// Reads one whole frame (header included); `None` at the end of the stream or on garbage.
async fn read_frame(r: &mut OwnedReadHalf) -> Option<Vec<u8>> {
    let mut header = [0u8; 8];
    r.read_exact(&mut header).await.ok()?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > 256 << 20 {
        return None;
    }
    let mut frame = vec![0u8; 8 + len];
    frame[..8].copy_from_slice(&header);
    r.read_exact(&mut frame[8..]).await.ok()?;
    Some(frame)
}

async fn plain(mut r: OwnedReadHalf, mut w: OwnedWriteHalf) {
    let _ = tokio::io::copy(&mut r, &mut w).await;
}
