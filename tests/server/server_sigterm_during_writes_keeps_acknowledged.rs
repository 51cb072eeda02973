//! SIGTERM while four concurrent HTTP clients write: the server stops accepting, finishes the
//! requests in flight, shuts the node down and flushes, and exits 0. Reopened, the database
//! verifies clean and holds every write that was acknowledged (answered 200), and a restarted
//! server serves them.

use crate::common;

use std::sync::{Arc, Mutex};

use common::process::{loopback_config, write_file, ServerProcess};
use meshkv::{Db, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_write_load_exits_0_and_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_file(dir.path(), "meshkv.toml", &loopback_config(&data, ""));
    let mut server = ServerProcess::start(&config);
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (c, acked) = (server.client(), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            // Bounded: stops at the first refused or failed request, or after 100,000 writes.
            for i in 0..100_000u32 {
                let (key, value) = (format!("w{w}/{i:06}"), format!("value {w} {i}"));
                match c.put(key.as_bytes(), value.as_bytes()).await {
                    Ok(_) => acked.lock().unwrap().push((key, value)),
                    Err(_) => return,
                }
            }
        }));
    }
    // Signal once the load is well under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().unwrap().len() < 300 {
        assert!(std::time::Instant::now() < deadline, "no write load");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let status = tokio::task::block_in_place(|| server.terminate());
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        server.stderr()
    );
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        server.stderr().contains("meshkv stopped"),
        "{}",
        server.stderr()
    );

    // Restart: the database is clean and holds every acknowledged write.
    let db = Db::open(&data, Options::default()).unwrap();
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    for (key, value) in &acked {
        assert_eq!(
            db.get(key).unwrap().as_deref(),
            Some(value.as_bytes()),
            "acknowledged write {key} lost"
        );
    }
    drop(db);
    // And the server serves them again.
    let mut again = ServerProcess::start(&config);
    let (key, value) = acked.last().unwrap();
    let reply = again.client().get(key.as_bytes()).await.unwrap().unwrap();
    assert_eq!(reply.body, value.as_bytes());
    assert!(again.terminate().success());
}
