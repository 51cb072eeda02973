//! The settings table of `docs/server.md`, rendered from the declarations
//! (`tests/server/settings_table_matches_docs.rs` compares the two).

use super::keys::{CLUSTER_KEY_ENV, CLUSTER_KEY_HELP};

/// The Markdown table of every setting: file field, flag, environment variable, default and
/// meaning, one row each, in `--help` order; [`CLUSTER_KEY_ENV`] follows `cluster_key_file`.
pub fn settings_table() -> String {
    let mut out = String::from(
        "| file field | flag | environment | default | meaning |\n|---|---|---|---|---|\n",
    );
    for s in super::settings() {
        let default = if s.literal {
            format!("`{}`", s.default)
        } else {
            s.default.clone()
        };
        out.push_str(&row([
            &format!("`{}`", s.file),
            &format!("`--{}`", s.flag),
            &format!("`{}`", s.env),
            &default,
            &s.help,
        ]));
        if s.file == "cluster_key_file" {
            out.push_str(&row([
                "—",
                "—",
                &format!("`{CLUSTER_KEY_ENV}`"),
                "—",
                CLUSTER_KEY_HELP,
            ]));
        }
    }
    out
}

/// One table row; a `|` inside a cell is escaped.
fn row(cells: [&str; 5]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    format!("| {} |\n", cells.join(" | "))
}
