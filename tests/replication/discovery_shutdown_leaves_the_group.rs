//! Shutdown (and drop) of a discovering node leaves the multicast group and closes both of its
//! sockets: the kernel's membership table (`/proc/net/igmp`) no longer lists the group on
//! `lo`, and the group's port can be bound again without `SO_REUSEADDR`/`SO_REUSEPORT`.
//! Linux only (it reads `/proc`).
#![cfg(target_os = "linux")]

use crate::common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::{discovering, loopback_multicast, start, wait_until};
use meshkv::MulticastConfig;

/// True if `/proc/net/igmp` lists `group` as joined on the loopback interface.
fn joined_on_lo(group: Ipv4Addr) -> bool {
    let o = group.octets();
    // The kernel prints the address as a native-endian (here little-endian) u32.
    let hex = format!("{:02X}{:02X}{:02X}{:02X}", o[3], o[2], o[1], o[0]);
    let table = std::fs::read_to_string("/proc/net/igmp").unwrap();
    let mut on_lo = false;
    for line in table.lines().skip(1) {
        if !line.starts_with('\t') {
            on_lo = line.split_whitespace().nth(1) == Some("lo");
        } else if on_lo && line.split_whitespace().next() == Some(hex.as_str()) {
            return true;
        }
    }
    false
}

/// True if the group's port is free: a plain socket (no reuse options) can bind it.
fn port_free(m: &MulticastConfig) -> bool {
    std::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, m.group.port())).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_the_group_and_closes_the_sockets() {
    let multicast = loopback_multicast();
    let a = start(discovering(&multicast)).await;
    assert!(joined_on_lo(*multicast.group.ip()));
    assert!(!port_free(&multicast), "the node holds the group's port");
    a.node.shutdown().await.unwrap();
    // Checked at once: shutdown returns after the discovery task has ended.
    assert!(!joined_on_lo(*multicast.group.ip()));
    assert!(port_free(&multicast));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_node_also_leaves_the_group() {
    let multicast = loopback_multicast();
    let a = start(discovering(&multicast)).await;
    assert!(joined_on_lo(*multicast.group.ip()));
    drop(a.node);
    // Drop aborts the tasks; the sockets close as the runtime drops the task.
    wait_until(Duration::from_secs(5), "group left and port free", || {
        !joined_on_lo(*multicast.group.ip()) && port_free(&multicast)
    })
    .await;
}
