//! The config file: TOML, each subsystem's fields at the top level, discovery's in a
//! `[discovery]` table. Unknown fields are refused.
//!
//! Each subsystem reads its own fields from the document ([`toml::from_str`] once per
//! subsystem: a file of a few dozen lines), so a type error keeps TOML's position and names
//! its field; the top-level keys that no subsystem declares are refused here, by name.

use std::path::Path;

use serde::Deserialize;

use super::discovery::DiscoveryFile;
use super::error::{bad, ConfigError};
use super::http::HttpFile;
use super::node::NodeFile;
use super::resp::RespFile;
use super::storage::StorageFile;

/// The file's fields as written, by subsystem; each subsystem parses its own.
#[derive(Debug, Default)]
pub(super) struct ConfigFile {
    pub(super) storage: StorageFile,
    pub(super) http: HttpFile,
    pub(super) node: NodeFile,
    pub(super) resp: RespFile,
    /// The `[discovery]` table, if the file has one.
    pub(super) discovery: Option<DiscoveryFile>,
}

/// The tables of the file.
#[derive(Deserialize)]
struct Tables {
    discovery: Option<DiscoveryFile>,
}

impl ConfigFile {
    /// Reads and checks the file at `path`. The error names the field (or `config` when the
    /// file cannot be read or is not TOML).
    pub(super) fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad("config", format!("cannot read {}: {e}", path.display())))?;
        let toml_error = |e: toml::de::Error| toml_error(&text, path, &e);
        let root = toml::de::DeTable::parse(&text).map_err(toml_error)?;
        unknown_keys(root.get_ref(), path)?;
        Ok(ConfigFile {
            storage: toml::from_str(&text).map_err(toml_error)?,
            http: toml::from_str(&text).map_err(toml_error)?,
            node: toml::from_str(&text).map_err(toml_error)?,
            resp: toml::from_str(&text).map_err(toml_error)?,
            discovery: toml::from_str::<Tables>(&text)
                .map_err(toml_error)?
                .discovery,
        })
    }
}

/// Refuses the first top-level key (in the file's order) that no subsystem declares, as serde
/// refuses an unknown field of the `[discovery]` table.
fn unknown_keys(root: &toml::de::DeTable<'_>, path: &Path) -> Result<(), ConfigError> {
    let declared = super::settings();
    let mut known: Vec<&str> = Vec::new();
    for s in &declared {
        // `discovery.group` is the table `discovery`.
        let top = s.file.split('.').next().unwrap_or(s.file);
        if !known.contains(&top) {
            known.push(top);
        }
    }
    let unknown = root
        .iter()
        .map(|(key, _)| key)
        .filter(|key| !known.contains(&key.get_ref().as_ref()))
        .min_by_key(|key| key.span().start);
    match unknown {
        None => Ok(()),
        Some(key) => {
            let key = key.get_ref();
            let expected = known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            Err(bad(
                key,
                format!(
                    "unknown field `{key}`, expected one of {expected} (in {})",
                    path.display()
                ),
            ))
        }
    }
}

/// A TOML or serde error as a config error: the field is the key on the line the error points
/// at (toml names the unknown or mistyped field and its line).
fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let message = e.message().to_string();
    let field = e
        .span()
        .and_then(|s| {
            let start = text.get(..s.start)?.rfind('\n').map_or(0, |i| i + 1);
            let line = text.get(start..)?.lines().next()?;
            let key = line.split('=').next()?.trim().trim_matches('"');
            (!key.is_empty() && !key.starts_with('[') && key.len() < 64).then(|| key.to_string())
        })
        .unwrap_or_else(|| "config".to_string());
    bad(&field, format!("{message} (in {})", path.display()))
}
