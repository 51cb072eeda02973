//! [`Value`]: how a setting's type is read from a flag or an environment variable (a clap value
//! parser), read from the config file (a TOML type), and shown as a default.
//!
//! Flags keep clap's own parsers where clap has one (numbers, addresses, paths, `true`/`false`);
//! the file writes numbers and booleans as TOML numbers and booleans, everything else as a string
//! parsed here, with a message that says what was expected.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{ValueParser, ValueRange};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::{Durability, NodeId};

/// A type a setting can hold.
pub trait Value: Sized {
    /// How the config file writes it.
    type File: DeserializeOwned;

    /// Clap's parser of one flag or environment value (of one item, for a list).
    fn parser() -> ValueParser;

    /// The file's value; the error says what is wrong (the caller names the field).
    fn from_file(raw: Self::File) -> Result<Self, String>;

    /// The value as a user writes it: `[default: ...]` in `--help` and the docs.
    fn show(&self) -> String;

    /// How many values one occurrence of the flag takes.
    fn num_args() -> ValueRange {
        ValueRange::SINGLE
    }

    /// The value of the flag given alone (`--allow-insecure`); only switches have one.
    const MISSING: Option<&'static str> = None;

    /// What separates a list's items in the environment; only lists have one.
    const DELIMITER: Option<char> = None;
}

/// A value the file writes as a TOML number: clap's parser, TOML's type check.
macro_rules! number {
    ($($t:ty),+) => {$(
        impl Value for $t {
            type File = $t;
            fn parser() -> ValueParser {
                clap::value_parser!($t).into()
            }
            fn from_file(raw: $t) -> Result<Self, String> {
                Ok(raw)
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )+};
}

number!(usize, u32);

impl Value for bool {
    type File = bool;
    fn parser() -> ValueParser {
        clap::value_parser!(bool)
    }
    fn from_file(raw: bool) -> Result<Self, String> {
        Ok(raw)
    }
    fn show(&self) -> String {
        self.to_string()
    }
    fn num_args() -> ValueRange {
        ValueRange::new(0..=1)
    }
    const MISSING: Option<&'static str> = Some("true");
}

impl Value for String {
    type File = String;
    fn parser() -> ValueParser {
        ValueParser::string()
    }
    fn from_file(raw: String) -> Result<Self, String> {
        Ok(raw)
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl Value for PathBuf {
    type File = PathBuf;
    fn parser() -> ValueParser {
        ValueParser::path_buf()
    }
    fn from_file(raw: PathBuf) -> Result<Self, String> {
        Ok(raw)
    }
    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// A value the file writes as a TOML string: parsed by `$parse` from the file, by clap's parser
/// `$parser` from a flag.
macro_rules! text {
    ($t:ty, $parser:expr, $parse:expr, $show:expr) => {
        impl Value for $t {
            type File = String;
            fn parser() -> ValueParser {
                $parser
            }
            fn from_file(raw: String) -> Result<Self, String> {
                $parse(raw.as_str())
            }
            fn show(&self) -> String {
                $show(self)
            }
        }
    };
}

text!(
    SocketAddr,
    clap::value_parser!(SocketAddr).into(),
    |t: &str| t
        .parse()
        .map_err(|_| { format!("{t:?} is not an address: expected ip:port, e.g. 127.0.0.1:7070") }),
    |v: &SocketAddr| v.to_string()
);
text!(
    SocketAddrV4,
    clap::value_parser!(SocketAddrV4).into(),
    |t: &str| t
        .parse()
        .map_err(|_| format!("{t:?} is not an IPv4 address and port")),
    |v: &SocketAddrV4| v.to_string()
);
text!(
    Ipv4Addr,
    clap::value_parser!(Ipv4Addr).into(),
    |t: &str| t
        .parse()
        .map_err(|_| format!("{t:?} is not an IPv4 address")),
    |v: &Ipv4Addr| v.to_string()
);
text!(
    Duration,
    ValueParser::new(parse_duration),
    parse_duration,
    show_duration
);
text!(
    Durability,
    ValueParser::new(parse_durability),
    parse_durability,
    |v: &Durability| match v {
        Durability::Buffered => "buffered".to_string(),
        Durability::Sync => "sync".to_string(),
    }
);
text!(
    NodeId,
    ValueParser::new(parse_node_id),
    parse_node_id,
    |v: &NodeId| v.to_string()
);

/// A list: each item as `T`; repeat the flag or separate items with commas in the environment;
/// the file writes an array, or one item alone.
impl<T: Value> Value for Vec<T> {
    type File = OneOrMany<T::File>;
    fn parser() -> ValueParser {
        T::parser()
    }
    fn from_file(raw: Self::File) -> Result<Self, String> {
        raw.into_vec().into_iter().map(T::from_file).collect()
    }
    fn show(&self) -> String {
        self.iter().map(T::show).collect::<Vec<_>>().join(",")
    }
    const DELIMITER: Option<char> = Some(',');
}

/// One item, or a list of them (`cluster_key_file = "a.key"` or `["a.key", "b.key"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One item.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 250ms, 5s, 2m or 1h"))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    };
    ms.map(Duration::from_millis).ok_or_else(|| {
        format!("{text:?} is not a duration such as 250ms, 5s, 2m or 1h (units: ms, s, m, h)")
    })
}

/// A duration in the largest unit [`parse_duration`] reads back exactly: `100ms`, `5s`, `2m`.
fn show_duration(d: &Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0ms".to_string(),
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "buffered" => Ok(Durability::Buffered),
        "sync" => Ok(Durability::Sync),
        other => Err(format!("{other:?} is neither \"buffered\" nor \"sync\"")),
    }
}

fn parse_node_id(text: &str) -> Result<NodeId, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not 32 hex digits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_durations_read_back() {
        for ms in [0, 1, 100, 1000, 5000, 60_000, 90_000, 3_600_000, 7_200_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&show_duration(&d)), Ok(d), "{ms} ms");
        }
        assert_eq!(show_duration(&Duration::from_millis(100)), "100ms");
        assert_eq!(show_duration(&Duration::from_secs(5)), "5s");
    }

    #[test]
    fn file_values_name_what_was_expected() {
        assert!(SocketAddr::from_file("x".into())
            .unwrap_err()
            .contains("expected ip:port"));
        assert_eq!(Durability::from_file("sync".into()), Ok(Durability::Sync));
        assert_eq!(
            Vec::<String>::from_file(OneOrMany::One("a:1".into())),
            Ok(vec!["a:1".to_string()])
        );
    }
}
