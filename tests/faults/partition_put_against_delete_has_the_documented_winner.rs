//! A put on one side of a partition and a delete of the same key on the other: after the heal
//! every node holds the documented winner — the higher clock, and on equal clocks the resolver
//! (`LastWriteWins`: the later timestamp, then the higher origin). So on equal clocks every node
//! holds `LastWriteWins`' choice, and a put with a higher clock beats a later delete everywhere.

use crate::common;

use std::time::Duration;

use common::jepsen::checker::beats;
use common::jepsen::cluster::{settle, Cluster};
use meshkv::LastWriteWins;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_delete_across_a_partition_converge_to_the_documented_winner() {
    let c = Cluster::start(3, true).await;
    // Equal clocks: the resolver decides.
    c.db(0).put("tie", "before").unwrap();
    // Unequal clocks: the side that wrote twice wins whatever the timestamps.
    c.db(0).put("clock", "before").unwrap();
    settle(&c.dbs(), Duration::from_secs(20)).await;

    c.net.partition(&[0], &[1, 2]);
    let put = c.db(0).put("tie", "a-side").unwrap();
    let del = c.db(1).delete("tie").unwrap();
    assert_eq!(put.clock, del.clock);
    c.db(0).put("clock", "a-side 1").unwrap();
    let put_clock = c.db(0).put("clock", "a-side 2").unwrap();
    // The delete is the later write in time (a later millisecond on the shared wall clock), yet
    // the higher clock must win.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let del_late = c.db(1).delete("clock").unwrap();
    assert!(del_late.clock < put_clock.clock && del_late.timestamp > put_clock.timestamp);

    c.net.heal();
    settle(&c.dbs(), Duration::from_secs(30)).await;
    let put_wins = beats(
        &LastWriteWins,
        b"tie",
        (Some(b"a-side"), &put),
        (None, &del),
    );
    for i in 0..3 {
        let tie = c.db(i).get_versioned("tie").unwrap().unwrap();
        if put_wins {
            assert_eq!(
                (tie.value.as_deref(), tie.version),
                (Some(&b"a-side"[..]), put)
            );
        } else {
            assert_eq!((tie.value, tie.version), (None, del));
        }
        let clock = c.db(i).get_versioned("clock").unwrap().unwrap();
        assert_eq!(
            (clock.value.as_deref(), clock.version),
            (Some(&b"a-side 2"[..]), put_clock)
        );
    }
    c.shutdown().await;
}
