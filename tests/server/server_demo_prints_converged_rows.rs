//! `meshkv demo` (the first command of the quick start) exits 0 and prints, for every key,
//! its value, clock and origin on each of the three nodes, identical on all three, the deleted key
//! as `(deleted)`, and the time convergence took.

use crate::common;

#[test]
fn demo_exits_0_and_prints_converged_rows() {
    let out = common::process::command().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("converged in"), "{stdout}");
    // Rows: key, node, value (may hold spaces), clock, origin name, (origin id).
    let rows: Vec<Vec<String>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| {
            w.len() >= 6 && ["A", "B", "C"].contains(&w[1]) && w[w.len() - 1].starts_with('(')
        })
        .map(|w| {
            let n = w.len();
            vec![
                w[0].to_string(),
                w[1].to_string(),
                w[2..n - 3].join(" "),
                w[n - 3].to_string(),
                w[n - 2].to_string(),
            ]
        })
        .collect();
    // greeting/A, greeting/B, greeting/C, color, temporary: on each of three nodes.
    assert_eq!(rows.len(), 15, "{stdout}");
    for key in [
        "greeting/A",
        "greeting/B",
        "greeting/C",
        "color",
        "temporary",
    ] {
        let of_key: Vec<_> = rows.iter().filter(|r| r[0] == key).collect();
        assert_eq!(of_key.len(), 3, "{key}: {stdout}");
        assert!(
            of_key[0][3].parse::<u64>().is_ok(),
            "{key}: a clock: {stdout}"
        );
        // Converged: the same value, clock and origin on every node.
        assert!(
            of_key.iter().all(|r| r[2..] == of_key[0][2..]),
            "{key} differs between nodes: {stdout}"
        );
    }
    assert!(
        rows.iter()
            .filter(|r| r[0] == "temporary")
            .all(|r| r[2] == "(deleted)" && r[4] == "C"),
        "{stdout}"
    );
}
