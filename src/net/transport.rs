//! The seam between the node and the network: a small trait, TCP in production.
//!
//! The fault-injection suite runs the same node code over a deterministic network simulator by
//! implementing this trait; nothing else in the node touches sockets: the replication streams
//! and the multicast discovery datagrams both go through it.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::Result;

/// What a multicast socket pair is opened for: the group, the interface that joins and sends,
/// and the TTL (from [`MulticastConfig`](crate::MulticastConfig)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulticastGroup {
    /// The IPv4 multicast group and UDP port.
    pub group: SocketAddrV4,
    /// The local interface address that joins the group and sends.
    pub interface: Ipv4Addr,
    /// `IP_MULTICAST_TTL`.
    pub ttl: u32,
}

/// Streams and listeners for the replication protocol.
pub trait Transport: Send + Sync + 'static {
    /// A connected byte stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A bound listener.
    type Listener: Send + Sync + 'static;

    /// Binds a listener.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// The listener's bound address.
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;
    /// Accepts the next connection.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    /// Connects to `host:port`, resolving the name now (so a reconnect re-resolves it).
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// A UDP socket, for multicast discovery.
    type Datagram: Send + Sync + 'static;
    /// Opens multicast discovery's sockets: `(receiving, sending)`. The receiving one hears the
    /// group (`config.group`, joined on `config.interface`); the sending one sends to it with
    /// `config.ttl`, and this host's receivers hear it too (multicast loop).
    fn multicast(
        &self,
        config: &MulticastGroup,
    ) -> impl Future<Output = Result<(Self::Datagram, Self::Datagram)>> + Send;
    /// Sends one datagram.
    fn send_to(
        socket: &Self::Datagram,
        datagram: &[u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;
    /// Receives one datagram into `buf` (a longer one is truncated): its length and sender.
    fn recv_from(
        socket: &Self::Datagram,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
    /// Leaves the group on the receiving socket.
    fn leave_multicast(
        socket: &Self::Datagram,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<()>;
}

/// TCP through tokio, with `TCP_NODELAY`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcp;

impl Transport for Tcp {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, addr) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    type Datagram = tokio::net::UdpSocket;

    async fn multicast(&self, config: &MulticastGroup) -> Result<(Self::Datagram, Self::Datagram)> {
        super::multicast_socket::open_sockets(config)
    }

    async fn send_to(
        socket: &Self::Datagram,
        datagram: &[u8],
        to: SocketAddr,
    ) -> io::Result<usize> {
        socket.send_to(datagram, to).await
    }

    async fn recv_from(socket: &Self::Datagram, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        socket.recv_from(buf).await
    }

    fn leave_multicast(
        socket: &Self::Datagram,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<()> {
        socket.leave_multicast_v4(group, interface)
    }
}
