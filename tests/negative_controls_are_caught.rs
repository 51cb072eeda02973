//! Negative controls: with meshkv broken on purpose (the test-only `negative-controls` switches),
//! the fault suite's checker must report the violation each break causes — proof that a valid
//! report means something. The breaks: an arrival-order tie-break (caught as divergence),
//! tombstones dropped on apply (resurrection) and acknowledgement before commit (lost writes).
//! Each control runs the in-process nemesis until the checker catches it (a few seeds at most),
//! then the switch is turned off again; then the deterministic simulation
//! (`tests/fault_simulation.rs`) must catch each break too.

mod common;

use std::time::Duration;

use common::jepsen::checker::Report;
use common::jepsen::nemesis::run;
use common::jepsen::sim;
use common::jepsen::workload::Mode;
use meshkv::sabotage::{self, Sabotage};

/// Up to this many seeds per control.
const TRIES: usize = 6;
/// Up to this many simulation seeds per control.
const SIM_TRIES: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_build_is_caught_by_the_checker() {
    type Caught = fn(&Report) -> bool;
    let controls: [(Sabotage, Mode, &str, Caught); 3] = [
        (
            Sabotage::ArrivalOrderTieBreak,
            Mode::Conflicts { keys: 4 },
            "divergence",
            |r| r.divergent_keys > 0,
        ),
        (
            Sabotage::DropTombstonesOnApply,
            Mode::DeleteHeavy { keys: 8 },
            "resurrection",
            |r| r.resurrected > 0,
        ),
        (
            Sabotage::AckBeforeCommit,
            Mode::UniqueKeys,
            "lost writes",
            |r| r.lost > 0,
        ),
    ];
    for (control, mode, what, caught) in controls {
        sabotage::set(control);
        let mut found = None;
        for _ in 0..TRIES {
            let seed: u64 = rand::random();
            let (report, _, _) = run(seed, Some(mode), Duration::from_secs(3)).await;
            println!("{control:?} seed {seed}: {report:?}");
            if caught(&report) {
                found = Some(report);
                break;
            }
        }
        sabotage::set(Sabotage::Off);
        let report = found.unwrap_or_else(|| panic!("{control:?}: no {what} in {TRIES} seeds"));
        assert!(!report.valid());
        println!("negative control {control:?}: caught ({what}): {report:?}");
    }
    // The simulation's runs, on the same checker: each break is caught within a few seeds.
    // Its network is fast, so an arrival-order tie-break shows as often as a lost write (the
    // wrong winner kept everywhere) as a divergence: any violation counts here.
    for (control, mode, _, _) in controls {
        sabotage::set(control);
        let found = tokio::task::spawn_blocking(move || {
            (0..SIM_TRIES).find_map(|seed| {
                let r = sim::run(seed, Some(mode));
                println!("{control:?} sim {}", sim::describe(&r));
                (!r.report.valid()).then_some(r.report)
            })
        })
        .await
        .unwrap();
        sabotage::set(Sabotage::Off);
        let report =
            found.unwrap_or_else(|| panic!("{control:?}: no violation in {SIM_TRIES} sim seeds"));
        println!("negative control {control:?} (simulation): caught: {report:?}");
    }
}
