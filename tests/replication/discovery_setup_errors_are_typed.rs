//! Discovery that cannot work is refused at `Node::start` with a typed error naming the
//! problem: an invalid `MulticastConfig` (`InvalidOptions` naming the field), or an interface
//! address this host does not have (`Error::Discovery`, from joining the group). Nothing is
//! sent: the interface is checked before any announcement.

use crate::common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{discovering, loopback_multicast};
use meshkv::{Db, Error, MulticastConfig, Node, NodeConfig, Options};

async fn start_error(config: NodeConfig) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    match Node::start(db, config).await {
        Ok(_) => panic!("the node started"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_discovery_settings_are_refused_with_typed_errors() {
    let multicast = loopback_multicast();
    let invalid = [
        (
            MulticastConfig {
                group: "10.1.2.3:7946".parse().unwrap(),
                ..multicast.clone()
            },
            "discovery.group",
        ),
        (
            MulticastConfig {
                interval: Duration::ZERO,
                ..multicast.clone()
            },
            "discovery.interval",
        ),
        (
            MulticastConfig {
                expire_after: 0,
                ..multicast.clone()
            },
            "discovery.expire_after",
        ),
        (
            MulticastConfig {
                ttl: 1000,
                ..multicast.clone()
            },
            "discovery.ttl",
        ),
    ];
    for (config, expected) in invalid {
        match start_error(discovering(&config)).await {
            Error::InvalidOptions { field, .. } => assert_eq!(field, expected),
            other => panic!("{other:?}"),
        }
    }
    // 192.0.2.1 (TEST-NET-1) is no address of this host: joining the group on it fails.
    let elsewhere = MulticastConfig {
        interface: Ipv4Addr::new(192, 0, 2, 1),
        ..multicast
    };
    match start_error(discovering(&elsewhere)).await {
        Error::Discovery { group, .. } => assert_eq!(group, elsewhere.group.to_string()),
        other => panic!("{other:?}"),
    }
}
