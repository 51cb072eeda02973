//! Every file of the committed fuzz corpus (`fuzz/corpus/<target>/`) goes through the same
//! harness as its cargo-fuzz target (`meshkv::fuzzing`), on stable, in every CI run: a crash
//! the fuzzer once found stays fixed. The corpus holds at least the seeds `fuzzing::seeds()`
//! builds from the real encoders (`MESHKV_WRITE_SEEDS=1` writes them after a format change).
//!
//! One `#[test]`, so the heap counter of the `message` harness sees one thread at a time.

use std::path::Path;
use std::time::Instant;

use meshkv::fuzzing::{self, alloc::Counting};

#[global_allocator]
static ALLOC: Counting = Counting;

fn harness(target: &str) -> fn(&[u8]) {
    match target {
        "frame_stream" => fuzzing::frame::frame_stream,
        "message" => fuzzing::message::message,
        "handshake" => fuzzing::handshake::handshake,
        "announcement" => fuzzing::announcement::announcement,
        "apply" => fuzzing::apply::apply,
        "storage_decode" => fuzzing::storage::storage_decode,
        "resp" => fuzzing::resp::resp,
        other => panic!("no harness for target {other}"),
    }
}

#[test]
fn every_corpus_file_replays_through_its_harness() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = std::env::var_os("MESHKV_WRITE_SEEDS").is_some();
    for seed in fuzzing::seeds() {
        let path = corpus.join(seed.target).join(&seed.name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &seed.bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "seed {} missing ({e}): run with MESHKV_WRITE_SEEDS=1",
                path.display()
            )
        });
        assert_eq!(
            on_disk,
            seed.bytes,
            "seed {} is stale: run with MESHKV_WRITE_SEEDS=1",
            path.display()
        );
    }
    let started = Instant::now();
    let mut summary = Vec::new();
    for &target in fuzzing::TARGETS {
        let run = harness(target);
        let dir = corpus.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {target}");
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            let result = std::panic::catch_unwind(|| run(&bytes));
            assert!(
                result.is_ok(),
                "{target}: {} fails its harness",
                file.display()
            );
        }
        summary.push(format!("{target} {}", files.len()));
    }
    println!(
        "fuzz corpus: {} replayed in {:.1} s, 0 failures",
        summary.join(", "),
        started.elapsed().as_secs_f64()
    );
}
