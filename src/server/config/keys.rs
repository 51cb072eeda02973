//! Cluster keys: from the environment variable [`CLUSTER_KEY_ENV`] or from the key files of
//! `cluster_key_file`; never from a flag (flags show in `ps`), never logged.

use std::path::PathBuf;

use super::error::{bad, ConfigError};

/// Environment variable holding cluster keys (hex, comma-separated).
pub const CLUSTER_KEY_ENV: &str = "MESHKV_CLUSTER_KEY";

/// What [`CLUSTER_KEY_ENV`] holds: its row of the docs table, which has no flag or file field.
pub const CLUSTER_KEY_HELP: &str = "Cluster keys themselves, hex, comma-separated; wins over \
     `cluster_key_file`. Never a flag, never logged.";

/// The keys: `env_keys` (the variable's value) when set, else those of `files`. Each file
/// holds one key a line (`#` comment lines and blank lines skipped) and at least one key.
pub(super) fn cluster_keys(
    env_keys: Option<&str>,
    files: &[PathBuf],
) -> Result<Vec<Vec<u8>>, ConfigError> {
    match env_keys {
        Some(text) => parse_keys(text, ',', CLUSTER_KEY_ENV),
        None => read_key_files(files),
    }
}

/// Hex keys separated by `sep`; blank items and `#` comment lines are skipped. A key is never
/// echoed in the error, only its position.
fn parse_keys(text: &str, sep: char, field: &str) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut keys = Vec::new();
    for (i, item) in text.split(sep).enumerate() {
        let item = item.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        let key = decode_hex(item).ok_or_else(|| {
            bad(
                field,
                format!(
                    "key {} is not hex (expected e.g. `openssl rand -hex 32`)",
                    i + 1
                ),
            )
        })?;
        if key.len() < 16 {
            return Err(bad(
                field,
                format!(
                    "key {} holds {} bytes; at least 16 are needed",
                    i + 1,
                    key.len()
                ),
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

fn read_key_files(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut keys = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(
                "cluster_key_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let found = parse_keys(&text, '\n', "cluster_key_file").map_err(|e| {
            bad(
                "cluster_key_file",
                format!("{}: {}", path.display(), e.problem),
            )
        })?;
        if found.is_empty() {
            return Err(bad(
                "cluster_key_file",
                format!("{} holds no key", path.display()),
            ));
        }
        keys.extend(found);
    }
    Ok(keys)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
