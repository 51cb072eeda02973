//! [`Reply`]: what a command answers, and its RESP2 encoding.
//!
//! | reply | bytes |
//! |---|---|
//! | simple string | `+OK\r\n` |
//! | error | `-ERR message\r\n` (the first word is the error code: `ERR`, `NOPROTO`, ...) |
//! | integer | `:42\r\n` |
//! | bulk string | `$<len>\r\n<bytes>\r\n` (binary-safe) |
//! | nil | `$-1\r\n` |
//! | array | `*<n>\r\n` then each element |
//! | nil array | `*-1\r\n` |
//!
//! Simple strings and errors cannot hold `\r` or `\n`: [`Reply::encode`] writes them as spaces,
//! as Redis does, so no text (a key echoed in an error, say) can break the framing.

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+text`.
    Simple(String),
    /// `-text`; the text starts with the error code.
    Error(String),
    /// `:n`.
    Integer(i64),
    /// `$len` and the bytes.
    Bulk(Vec<u8>),
    /// `$-1`: no value.
    Nil,
    /// `*n` and the elements.
    Array(Vec<Reply>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// `-ERR message`.
    pub fn err(message: impl std::fmt::Display) -> Reply {
        Reply::Error(format!("ERR {message}"))
    }

    /// A bulk string of text.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::Bulk(text.into().into_bytes())
    }

    /// An integer from a count.
    pub fn count(n: usize) -> Reply {
        Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(b) => {
                line(out, b'$', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// `prefix`, `text` with `\r` and `\n` as spaces, `\r\n`.
fn line(out: &mut Vec<u8>, prefix: u8, text: &[u8]) {
    out.push(prefix);
    out.extend(
        text.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(r: Reply) -> Vec<u8> {
        let mut out = Vec::new();
        r.encode(&mut out);
        out
    }

    #[test]
    fn encodings() {
        assert_eq!(bytes(Reply::ok()), b"+OK\r\n");
        assert_eq!(bytes(Reply::err("a\r\nb")), b"-ERR a  b\r\n");
        assert_eq!(bytes(Reply::Integer(-3)), b":-3\r\n");
        assert_eq!(bytes(Reply::Bulk(b"\r\n".to_vec())), b"$2\r\n\r\n\r\n");
        assert_eq!(bytes(Reply::Nil), b"$-1\r\n");
        assert_eq!(
            bytes(Reply::Array(vec![Reply::Integer(1), Reply::Nil])),
            b"*2\r\n:1\r\n$-1\r\n"
        );
    }
}
