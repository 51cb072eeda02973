//! Keys and prefixes in URLs.
//!
//! A key is the rest of the path after `/v1/kv/`, percent-decoded to raw bytes: any byte can be
//! written as `%XX` (two hex digits, either case), so binary keys travel as `%00%ff...`. Every
//! other byte stands for itself, `/` included (`/v1/kv/user/1` is the key `user/1`), and `+` is
//! a plain plus, never a space. A `%` not followed by two hex digits is a bad encoding (400).
//!
//! Query strings (`prefix=`, `after=`, `from=`, `limit=`) follow the same rule, split at `&`
//! and the first `=`.
//!
//! [`encode`] is the inverse used in responses (listings, watch events): unreserved characters
//! (`A-Z a-z 0-9 - . _ ~`) and `/` stay as they are, every other byte becomes `%XX`, so a listed
//! key can be pasted into a URL as is.

use std::fmt::Write as _;

/// A `%` not followed by two hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEncoding {
    /// Byte offset of the bad `%` in the input.
    pub at: usize,
}

impl std::fmt::Display for BadEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad percent-encoding at byte {}: `%` must be followed by two hex digits",
            self.at
        )
    }
}

impl std::error::Error for BadEncoding {}

/// Percent-decodes `text` to raw bytes (see the module docs).
pub fn decode(text: &str) -> Result<Vec<u8>, BadEncoding> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(BadEncoding { at: i }),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-encodes `key` for a URL path or query (see the module docs).
pub fn encode(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Splits a raw query string into decoded `(name, value)` pairs, in order.
pub fn query_pairs(query: &str) -> Result<Vec<(String, Vec<u8>)>, BadEncoding> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = String::from_utf8_lossy(&decode(name)?).into_owned();
        pairs.push((name, decode(value)?));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(encode(b"user/1 x"), "user/1%20x");
        assert_eq!(decode("a+b%2fc%2F").unwrap(), b"a+b/c/");
    }

    #[test]
    fn bad_percent_is_refused() {
        assert_eq!(decode("ab%zz"), Err(BadEncoding { at: 2 }));
        assert_eq!(decode("%4"), Err(BadEncoding { at: 0 }));
        assert_eq!(decode("%"), Err(BadEncoding { at: 0 }));
    }

    #[test]
    fn query_is_split_and_decoded() {
        let q = query_pairs("prefix=a%2Fb&limit=3&&flag").unwrap();
        assert_eq!(
            q,
            vec![
                ("prefix".into(), b"a/b".to_vec()),
                ("limit".into(), b"3".to_vec()),
                ("flag".into(), Vec::new()),
            ]
        );
        assert!(query_pairs("prefix=%G0").is_err());
    }
}
