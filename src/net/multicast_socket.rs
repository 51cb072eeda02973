//! The operating system's multicast sockets (`socket2`): what [`Tcp`](super::Tcp) opens for
//! discovery.
//!
//! The receiving socket sets `SO_REUSEADDR` and `SO_REUSEPORT` (several nodes on one host share
//! the port), binds the group address and port (on Unix, so it hears only that group;
//! `IP_MULTICAST_ALL` off on Linux) and joins the group on the interface. The sending socket is
//! bound to the interface and sets `IP_MULTICAST_IF`, `IP_MULTICAST_TTL` and
//! `IP_MULTICAST_LOOP` on.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::MulticastGroup;
use crate::{Error, Result};

fn setup_error(config: &MulticastGroup, what: &'static str) -> impl FnOnce(io::Error) -> Error {
    let group = config.group.to_string();
    move |source| Error::Discovery {
        group,
        what,
        source,
    }
}

/// Opens and configures both operating-system sockets (`(receiving, sending)`) and joins the
/// group: the TCP transport's discovery sockets. Needs a tokio runtime.
pub(super) fn open_sockets(config: &MulticastGroup) -> Result<(UdpSocket, UdpSocket)> {
    let receiver = receiving_socket(config).map_err(setup_error(config, "receiving socket"))?;
    let sender = sending_socket(config).map_err(setup_error(config, "sending socket"))?;
    Ok((
        UdpSocket::from_std(receiver).map_err(setup_error(config, "receiving socket"))?,
        UdpSocket::from_std(sender).map_err(setup_error(config, "sending socket"))?,
    ))
}

fn receiving_socket(config: &MulticastGroup) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    ))]
    socket.set_reuse_port(true)?;
    #[cfg(target_os = "linux")]
    socket.set_multicast_all_v4(false)?;
    // Bound to the group address, a Unix socket receives only datagrams sent to that group;
    // other systems cannot bind a multicast address.
    let ip = if cfg!(unix) {
        *config.group.ip()
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    socket.bind(&SocketAddrV4::new(ip, config.group.port()).into())?;
    socket.join_multicast_v4(config.group.ip(), &config.interface)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn sending_socket(config: &MulticastGroup) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_multicast_if_v4(&config.interface)?;
    socket.set_multicast_ttl_v4(config.ttl)?;
    socket.set_multicast_loop_v4(true)?;
    socket.bind(&SocketAddrV4::new(config.interface, 0).into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
