//! Negative controls: with meshkv broken on purpose (the test-only `negative-controls` switches),
//! the fault suite's checker must report the violation each break causes — proof that a valid
//! report means something. Each control runs the in-process nemesis until the checker catches it
//! (a few seeds at most), then the switch is turned off again.

mod common;

use std::time::Duration;

use common::jepsen::checker::Report;
use common::jepsen::nemesis::run;
use common::jepsen::workload::Mode;
use meshkv::sabotage::{self, Sabotage};

/// Up to this many seeds per control.
const TRIES: usize = 6;

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
}
