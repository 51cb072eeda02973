//! Tools of the attack tests: a raw Noise client holding whatever key it is given, reading a
//! connection until the node closes it, the process's resident memory, and a frame-aware
//! man-in-the-middle that tampers with chosen frames of each connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use meshkv::replication::frame::FrameCodec;
use meshkv::replication::handshake::{derive_psk, noise_initiator};
use meshkv::replication::message::{self, Message};
use meshkv::storage::identity::NodeKey;
use meshkv::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// Tests that measure the process's resident memory take this lock exclusively
/// ([`measuring_memory`]); every other attack test holds it shared ([`sharing_memory`]) for
/// its whole run, so a measurement never counts another test's allocations (they run on
/// parallel threads of one process).
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Held for the whole of a test that does not measure memory.
pub async fn sharing_memory() -> tokio::sync::RwLockReadGuard<'static, ()> {
    MEMORY.read().await
}

/// Held for the whole of a test that measures memory: no other attack test runs meanwhile.
pub async fn measuring_memory() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    MEMORY.write().await
}

/// The resident set size of this process, in KiB (Linux `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Reads everything the node sends until it closes the connection (or resets it); panics if it
/// is still open after `limit`.
pub async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .expect("the node kept the connection open");
    got
}

/// A hello of the test cluster as `node_id` (keyed: only the id the client's key proves is
/// believed; plaintext: any), advertising `advertise`.
pub fn hello(node_id: NodeId, advertise: Option<String>) -> Message {
    Message::Hello(message::Hello {
        magic: message::MAGIC,
        version: message::PROTOCOL_VERSION,
        cluster: "test".into(),
        node_id,
        nonce: rand::random(),
        advertise,
        limits: message::Limits::default(),
    })
}

/// A raw keyed client: the Noise initiator's side, with any cluster key and its own static key.
pub struct NoiseClient {
    pub framed: Framed<TcpStream, FrameCodec>,
    pub noise: snow::TransportState,
    /// The node id its static key proves: the only one a keyed node believes from it.
    pub node_id: NodeId,
}

/// Runs Noise `XXpsk0` as initiator with cluster key `key` and a fresh static key against
/// `addr`; `None` if the node does not answer (it closes instead: it does not hold the key).
pub async fn noise_dial(addr: SocketAddr, key: &[u8]) -> Option<NoiseClient> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut framed = Framed::new(stream, FrameCodec::new(1 << 20));
    let psk = derive_psk(key);
    let private: [u8; 32] = rand::random();
    let mut hs = noise_initiator(&psk, &private).unwrap();
    let mut buf = vec![0u8; 65_535];
    let n = hs.write_message(&[], &mut buf).unwrap();
    framed.send(Bytes::copy_from_slice(&buf[..n])).await.ok()?;
    let reply = tokio::time::timeout(Duration::from_secs(5), framed.next())
        .await
        .expect("no answer and no close")?
        .ok()?;
    hs.read_message(&reply, &mut buf).ok()?;
    let n = hs.write_message(&[], &mut buf).unwrap();
    framed.send(Bytes::copy_from_slice(&buf[..n])).await.ok()?;
    Some(NoiseClient {
        framed,
        noise: hs.into_transport_mode().unwrap(),
        node_id: NodeKey::from_private(private).node_id(),
    })
}

/// Runs Noise `XXpsk0` as responder with cluster key `key` and a fresh static key on an
/// accepted connection; `None` if the dialer's messages do not open with the key.
pub async fn noise_accept(stream: TcpStream, key: &[u8]) -> Option<NoiseClient> {
    let mut framed = Framed::new(stream, FrameCodec::new(1 << 20));
    let private: [u8; 32] = rand::random();
    let first = tokio::time::timeout(Duration::from_secs(5), framed.next())
        .await
        .ok()??
        .ok()?;
    let mut hs =
        meshkv::replication::handshake::noise_respond(&[derive_psk(key)], &private, &first)?;
    let mut buf = vec![0u8; 65_535];
    let n = hs.write_message(&[], &mut buf).ok()?;
    framed.send(Bytes::copy_from_slice(&buf[..n])).await.ok()?;
    let third = tokio::time::timeout(Duration::from_secs(5), framed.next())
        .await
        .ok()??
        .ok()?;
    hs.read_message(&third, &mut buf).ok()?;
    Some(NoiseClient {
        framed,
        noise: hs.into_transport_mode().ok()?,
        node_id: NodeKey::from_private(private).node_id(),
    })
}

impl NoiseClient {
    /// Sends one (small) message as one Noise chunk.
    pub async fn send(&mut self, m: &Message) {
        let mut plain = vec![0u8];
        plain.extend(message::encode(m));
        let mut buf = vec![0u8; 65_535];
        let n = self.noise.write_message(&plain, &mut buf).unwrap();
        let _ = self.framed.send(Bytes::copy_from_slice(&buf[..n])).await;
    }

    /// The next message (single-chunk), or `None` once the node closed the connection.
    pub async fn recv(&mut self) -> Option<Message> {
        let frame = tokio::time::timeout(Duration::from_secs(5), self.framed.next())
            .await
            .expect("no message and no close")?
            .ok()?;
        let mut buf = vec![0u8; 65_535];
        let n = self.noise.read_message(&frame, &mut buf).ok()?;
        message::decode(&buf[1..n]).ok()
    }
}

/// What a [`Mitm`] does to one frame of the server->client stream.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// Flips bit `bit` of payload byte `byte % len`, recomputing the crc (so only Noise sees it).
    Flip { byte: usize, bit: u8 },
    /// Delivers only the first `keep` bytes of the frame, then closes.
    Truncate { keep: usize },
    /// Delivers the next frame before this one.
    Swap,
    /// Never delivers this frame.
    Drop,
}

/// Which frame of connection `i` to tamper with, and how.
pub type Plan = Box<dyn Fn(usize) -> Option<(usize, Tamper)> + Send>;

/// A man-in-the-middle in front of a node: forwards client->server bytes untouched and parses
/// the server->client stream into frames, tampering with frame number `frame` (0-based) of
/// connection `i` as `plan(i)` says.
pub struct Mitm {
    pub addr: SocketAddr,
    pub target: Arc<Mutex<Option<SocketAddr>>>,
    pub connections: Arc<AtomicUsize>,
    pub plan: Arc<Mutex<Plan>>,
}

impl Mitm {
    /// Starts with no target: connections are closed until [`Mitm::set_target`].
    pub async fn start() -> Mitm {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let plan: Arc<Mutex<Plan>> = Arc::new(Mutex::new(Box::new(|_| None)));
        let target: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (count, p, t) = (
            Arc::clone(&connections),
            Arc::clone(&plan),
            Arc::clone(&target),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(to) = *t.lock().unwrap() else {
                    continue;
                };
                let i = count.fetch_add(1, Ordering::SeqCst);
                let tamper = (p.lock().unwrap())(i);
                tokio::spawn(relay(client, to, tamper));
            }
        });
        Mitm {
            addr,
            target,
            connections,
            plan,
        }
    }

    pub fn set_target(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = Some(target);
    }

    pub fn set_plan(&self, plan: impl Fn(usize) -> Option<(usize, Tamper)> + Send + 'static) {
        *self.plan.lock().unwrap() = Box::new(plan);
    }
}

async fn relay(client: TcpStream, target: SocketAddr, tamper: Option<(usize, Tamper)>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    });
    let mut buf = BytesMut::new();
    let mut index = 0usize;
    let mut held: Option<BytesMut> = None;
    let mut chunk = [0u8; 8192];
    'outer: loop {
        // Whole frames: u32 length, u32 crc, payload.
        while buf.len() >= 8 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if buf.len() < 8 + len {
                break;
            }
            let mut frame = buf.split_to(8 + len);
            let this = index;
            index += 1;
            let out = match tamper {
                Some((n, t)) if n == this => match t {
                    Tamper::Flip { byte, bit } if len > 0 => {
                        frame[8 + byte % len] ^= 1 << (bit % 8);
                        let crc = crc32fast::hash(&frame[8..]);
                        frame[4..8].copy_from_slice(&crc.to_be_bytes());
                        vec![frame]
                    }
                    Tamper::Flip { .. } => vec![frame],
                    Tamper::Truncate { keep } => {
                        let _ = cw.write_all(&frame[..keep % frame.len()]).await;
                        break 'outer;
                    }
                    Tamper::Swap => {
                        held = Some(frame);
                        vec![]
                    }
                    Tamper::Drop => vec![],
                },
                _ => {
                    let mut v = vec![frame];
                    if let Some(h) = held.take() {
                        v.push(h);
                    }
                    v
                }
            };
            for f in out {
                if cw.write_all(&f).await.is_err() {
                    break 'outer;
                }
            }
        }
        match sr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    up.abort();
}
