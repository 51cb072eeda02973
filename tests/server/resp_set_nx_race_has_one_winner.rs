//! `SET NX` is atomic against the other RESP writers of a server: 8 clients race `SET key
//! me NX` (and a plain `SET` of other keys meanwhile) on 50 keys; for every key exactly one
//! client is told `OK`, and the key holds that client's value. `SET XX` on the same keys then
//! succeeds for every client, and `DEL` counts each key once across racing deleters. (Checked by
//! hand once: with the check-and-write lock taken shared instead of exclusive, it failed at once,
//! with several winners per key.)

use crate::common;

use std::sync::{Arc, Barrier};

use common::resp::{port, start_node};

const CLIENTS: usize = 8;
const KEYS: usize = 50;

fn connect(p: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{p}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Runs `each(client, connection)` on CLIENTS threads started together; returns their results.
fn race<T: Send + 'static>(
    p: u16,
    each: impl Fn(usize, &mut redis::Connection) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let each = Arc::new(each);
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (each, barrier) = (Arc::clone(&each), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut con = connect(p);
                barrier.wait();
                each(c, &mut con)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn set_nx_has_one_winner_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), "a", "");
    let p = port(&node);

    let won: Vec<Vec<bool>> = race(p, |c, con| {
        (0..KEYS)
            .map(|k| {
                let () = redis::cmd("SET")
                    .arg(format!("plain{c}-{k}"))
                    .arg("x")
                    .query(con)
                    .unwrap();
                let reply: Option<String> = redis::cmd("SET")
                    .arg(format!("k{k}"))
                    .arg(format!("client{c}"))
                    .arg("NX")
                    .query(con)
                    .unwrap();
                reply.as_deref() == Some("OK")
            })
            .collect()
    });
    let mut con = connect(p);
    for k in 0..KEYS {
        let winners: Vec<usize> = (0..CLIENTS)
            .filter(|&c| won[c].get(k) == Some(&true))
            .collect();
        assert_eq!(winners.len(), 1, "key k{k}: winners {winners:?}");
        let value: String = redis::cmd("GET")
            .arg(format!("k{k}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(value, format!("client{}", winners[0]));
    }

    let xx: Vec<usize> = race(p, |c, con| {
        (0..KEYS)
            .filter(|k| {
                let reply: Option<String> = redis::cmd("SET")
                    .arg(format!("k{k}"))
                    .arg(format!("again{c}"))
                    .arg("XX")
                    .query(con)
                    .unwrap();
                reply.is_some()
            })
            .count()
    });
    assert_eq!(xx, vec![KEYS; CLIENTS]);

    let deleted: Vec<i64> = race(p, |_, con| {
        (0..KEYS)
            .map(|k| {
                redis::cmd("DEL")
                    .arg(format!("k{k}"))
                    .query::<i64>(con)
                    .unwrap()
            })
            .sum()
    });
    assert_eq!(deleted.iter().sum::<i64>(), KEYS as i64);
    let left: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(left, (CLIENTS * KEYS) as i64, "only the plain keys remain");
}
