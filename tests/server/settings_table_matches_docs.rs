//! The settings table of `docs/server.md` (between `<!-- settings:begin -->` and
//! `<!-- settings:end -->`) is the one the declarations render (`meshkv::server::config::
//! settings_table`): a setting added, renamed, or given a new default or help changes the docs
//! in the same commit. `MESHKV_BLESS=1 cargo test --test server settings_table` rewrites the
//! section; otherwise a mismatch fails with the lines that differ and the expected table.

use std::path::Path;

use meshkv::server::config::settings_table;

const BEGIN: &str = "<!-- settings:begin -->";
const END: &str = "<!-- settings:end -->";

/// The doc with its section replaced by `table`, or why the markers cannot be found.
fn with_table(doc: &str, table: &str) -> Result<String, String> {
    let (before, rest) = doc
        .split_once(BEGIN)
        .ok_or_else(|| format!("no {BEGIN} marker"))?;
    let (_, after) = rest
        .split_once(END)
        .ok_or_else(|| format!("no {END} marker after {BEGIN}"))?;
    Ok(format!("{before}{BEGIN}\n{table}{END}{after}"))
}

/// `Ok` when the doc's section is `table`; else a message with a line diff and the fix.
fn check(doc: &str, table: &str) -> Result<(), String> {
    let expected = with_table(doc, table)?;
    if expected == doc {
        return Ok(());
    }
    let section = |text: &str| -> Vec<String> {
        let start = text.find(BEGIN).map_or(0, |i| i + BEGIN.len());
        let end = text.find(END).unwrap_or(text.len());
        text.get(start..end)
            .unwrap_or("")
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (now, wanted) = (section(doc), section(&expected));
    let mut diff = String::new();
    for line in now.iter().filter(|l| !wanted.contains(l)) {
        diff.push_str(&format!("- {line}\n"));
    }
    for line in wanted.iter().filter(|l| !now.contains(l)) {
        diff.push_str(&format!("+ {line}\n"));
    }
    if diff.is_empty() {
        diff.push_str("(the same rows in another order, or blank lines differ)\n");
    }
    Err(format!(
        "docs/server.md's settings table differs from the declarations in src/server/config/ \
         (- in the doc, + declared):\n{diff}\nRegenerate it with `MESHKV_BLESS=1 cargo test \
         --test server settings_table`, or paste the expected table:\n{table}"
    ))
}

#[test]
fn docs_settings_table_is_the_declarations() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/server.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let table = settings_table();
    if let Err(problem) = check(&doc, &table) {
        if std::env::var("MESHKV_BLESS").as_deref() == Ok("1") {
            std::fs::write(&path, with_table(&doc, &table).unwrap()).unwrap();
            eprintln!(
                "MESHKV_BLESS=1: rewrote the settings table of {}",
                path.display()
            );
            return;
        }
        panic!("{problem}");
    }
}

#[test]
fn a_changed_row_or_a_missing_marker_is_caught() {
    let table = settings_table();
    let doc = format!("# Server\n\n{BEGIN}\n{table}{END}\n\nMore.\n");
    assert_eq!(check(&doc, &table), Ok(()));
    let edited = doc.replacen("`127.0.0.1:8080`", "`127.0.0.1:9090`", 1);
    let problem = check(&edited, &table).unwrap_err();
    assert!(problem.contains("- | `http_listen`"), "{problem}");
    assert!(problem.contains("+ | `http_listen`"), "{problem}");
    assert!(problem.contains("MESHKV_BLESS=1"), "{problem}");
    let dropped = doc.replacen("| `cache_size`", "| `cache_sizes`", 1);
    assert!(check(&dropped, &table).is_err());
    assert!(check("no markers", &table).is_err());
}
