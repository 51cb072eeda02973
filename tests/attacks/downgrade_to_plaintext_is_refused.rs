//! Downgrade: a keyed node and a plaintext node, each listing the other, over real TCP. There is
//! nothing to negotiate — a keyed node has no plaintext path — so both directions fail: the
//! plaintext dialer's hello is not a Noise message (the keyed listener closes without a word),
//! and the keyed dialer's Noise message is not a plaintext hello (the plaintext listener refuses
//! it; its answer fails Noise on the dialer). Both count the refusals; no entry moves either way.

use crate::common;

use std::time::Duration;

use common::{config, contents, keyed_with, start, wait_until, KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_keyed_nodes_never_exchange_an_entry() {
    let _memory = common::attack::sharing_memory().await;
    let plain = start(config(vec![])).await;
    let keyed = start(keyed_with(vec![plain.addr()], KEY)).await;
    plain.node.add_peer(keyed.addr());
    keyed.db.put(b"keyed", b"secret").unwrap();
    plain.db.put(b"plain", b"injected").unwrap();
    let keyed_before = contents(&keyed.db);
    let plain_before = contents(&plain.db);

    let (kn, pn) = (&keyed.node, &plain.node);
    wait_until(Duration::from_secs(10), "5 refusals each way", || {
        let (k, p) = (kn.status(), pn.status());
        k.peers.iter().any(|x| x.refused >= 5)
            && p.peers.iter().any(|x| x.refused >= 5)
            && k.refused_inbound >= 5
            && p.refused_inbound >= 5
    })
    .await;
    let (k, p) = (kn.status(), pn.status());
    for (side, status) in [("keyed", &k), ("plaintext", &p)] {
        let peer = &status.peers[0];
        assert!(!peer.connected, "{side} dialer connected");
        assert_eq!(peer.entries_received, 0, "{side} dialer received entries");
        assert!(
            peer.last_error
                .as_deref()
                .unwrap_or("")
                .contains("handshake"),
            "{side}: {:?}",
            peer.last_error
        );
    }
    assert_eq!(
        contents(&keyed.db),
        keyed_before,
        "the keyed node took an entry"
    );
    assert_eq!(
        contents(&plain.db),
        plain_before,
        "the plaintext node took an entry"
    );
    println!(
        "downgrade: 2 directions, {} + {} attempts, 0 accepted, 0 state changes",
        p.peers[0].refused, k.peers[0].refused
    );
}
