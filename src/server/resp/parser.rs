//! The bounded, incremental RESP2 request parser: bytes in, [`Request`]s out, no I/O.
//!
//! A request is either a multibulk array (what every client library and `redis-cli` send):
//!
//! ```text
//! *<argc>\r\n   then argc times:   $<len>\r\n<len bytes>\r\n
//! ```
//!
//! or an inline command: one line of arguments separated by spaces or tabs, ended by `\n`
//! (a `\r` before it is dropped), as typed into `telnet`. Inline arguments have no quoting:
//! `"a b"` is the two arguments `"a` and `b"`. A buffer whose first byte is `*` is a
//! multibulk request; anything else is inline.
//!
//! Limits ([`Limits`]), checked before anything waits for or copies the bytes they concern:
//!
//! - `argc` at most `max_args` (`*0` and negative counts are an empty request, skipped as
//!   Redis skips them); a bulk `len` from 0 to `max_bulk`;
//! - the whole request (headers, payloads and line ends) at most `max_request` bytes: a bulk
//!   header whose payload would cross it is refused at once;
//! - a `*`/`$` header line at most [`MAX_HEADER`] bytes with its `\r\n`;
//! - an inline line at most `max_inline` bytes before its `\n`.
//!
//! So a connection never buffers more than `max_request` bytes (or `max_inline`, or
//! [`MAX_HEADER`]) of a request it has not parsed yet, whatever the lengths it claims.
//! Breaking a rule is a [`ParseError`]: the connection answers it with `-ERR Protocol error:
//! ...` and closes, as Redis does. Bytes after a complete request are never looked at before
//! the request is returned: pipelined requests come out one call at a time.
//!
//! [`Parser::parse`] keeps where it stopped inside an incomplete multibulk request, so the
//! bytes of a request are examined once however it is split across reads: call it again with
//! the same buffer plus what arrived, until it returns a request with the number of bytes it
//! consumed; then drop those bytes and go on. The result is the same whichever way the input
//! was split (the fuzz target `resp` checks that).

use std::fmt;
use std::ops::Range;

/// The longest `*<argc>\r\n` or `$<len>\r\n` line, in bytes: room for any `i64` and more.
pub const MAX_HEADER: usize = 32;

/// Default `max_inline`: Redis's limit of an inline request (64 KiB).
pub const DEFAULT_MAX_INLINE: usize = 64 << 10;

/// One request: the command name and its arguments, binary-safe. Empty for an empty
/// inline line or `*0`, which get no reply.
pub type Request = Vec<Vec<u8>>;

/// The parser's bounds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string (argument) in bytes.
    pub max_bulk: usize,
    /// Most arguments (command name included) in one multibulk request.
    pub max_args: usize,
    /// Longest inline request line in bytes.
    pub max_inline: usize,
    /// Largest multibulk request in bytes, headers included.
    pub max_request: usize,
}

/// Why a request cannot be parsed. The connection closes after answering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `*<argc>` is not a number, or is over `max_args`.
    InvalidMultibulkLength,
    /// `$<len>` is not a number, negative, or over `max_bulk`.
    InvalidBulkLength,
    /// A multibulk element does not start with `$`; holds the byte found.
    ExpectedBulk(u8),
    /// A header line is longer than [`MAX_HEADER`], or a bulk payload is not followed by
    /// `\r\n`.
    BadLineEnd,
    /// An inline line is longer than `max_inline`.
    TooBigInline,
    /// The request would be larger than `max_request`.
    RequestTooLarge,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::InvalidMultibulkLength => write!(f, "invalid multibulk length"),
            ParseError::InvalidBulkLength => write!(f, "invalid bulk length"),
            ParseError::ExpectedBulk(b) => {
                write!(f, "expected '$', got '{}'", char::from(*b).escape_default())
            }
            ParseError::BadLineEnd => write!(f, "bad line end or too long header line"),
            ParseError::TooBigInline => write!(f, "too big inline request"),
            ParseError::RequestTooLarge => write!(f, "too big request"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Where an incomplete multibulk request stopped: its argument count, the arguments complete
/// so far (ranges of the buffer) and the offset after the last of them.
#[derive(Debug, Clone, Default)]
struct Partial {
    argc: usize,
    args: Vec<Range<usize>>,
    pos: usize,
}

/// An incremental parser of one connection's requests (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Parser {
    partial: Option<Partial>,
}

/// The `\r\n`-ended header line at `buf[pos..]`, as a number after its one-byte prefix:
/// `Ok(None)` while incomplete.
fn header(buf: &[u8], pos: usize, err: ParseError) -> Result<Option<(i64, usize)>, ParseError> {
    let rest = buf.get(pos..).unwrap_or_default();
    let window = &rest[..rest.len().min(MAX_HEADER)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if rest.len() >= MAX_HEADER {
            Err(ParseError::BadLineEnd)
        } else {
            Ok(None)
        };
    };
    match rest.get(cr + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(ParseError::BadLineEnd),
    }
    let digits = window.get(1..cr).unwrap_or_default();
    let n = parse_i64(digits).ok_or(err)?;
    Ok(Some((n, pos + cr + 2)))
}

/// A strict decimal `i64`: an optional `-`, then 1 to 19 digits; nothing else.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if neg {
        Some(n)
    } else {
        n.checked_neg()
    }
}

impl Parser {
    /// A parser at the start of a request.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses the request at the start of `buf`: `Ok(Some((request, consumed)))`, or
    /// `Ok(None)` when more bytes are needed (call again with `buf` grown, same start), or the
    /// error that ends the connection. `consumed <= buf.len()` always.
    pub fn parse(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Request, usize)>, ParseError> {
        let result = match buf.first() {
            None => Ok(None),
            Some(b'*') => self.multibulk(buf, limits),
            Some(_) => inline(buf, limits),
        };
        if !matches!(result, Ok(None)) {
            self.partial = None;
        }
        result
    }

    fn multibulk(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Request, usize)>, ParseError> {
        let mut p = match self.partial.take() {
            Some(p) => p,
            None => {
                let Some((argc, pos)) = header(buf, 0, ParseError::InvalidMultibulkLength)? else {
                    return Ok(None);
                };
                if argc <= 0 {
                    return Ok(Some((Vec::new(), pos)));
                }
                let argc = usize::try_from(argc).map_err(|_| ParseError::InvalidMultibulkLength)?;
                if argc > limits.max_args {
                    return Err(ParseError::InvalidMultibulkLength);
                }
                Partial {
                    argc,
                    args: Vec::with_capacity(argc.min(1024)),
                    pos,
                }
            }
        };
        while p.args.len() < p.argc {
            match buf.get(p.pos) {
                None => break,
                Some(b'$') => {}
                Some(&other) => return Err(ParseError::ExpectedBulk(other)),
            }
            let Some((len, start)) = header(buf, p.pos, ParseError::InvalidBulkLength)? else {
                break;
            };
            let len = usize::try_from(len).map_err(|_| ParseError::InvalidBulkLength)?;
            if len > limits.max_bulk {
                return Err(ParseError::InvalidBulkLength);
            }
            let end = start
                .checked_add(len)
                .and_then(|e| e.checked_add(2))
                .ok_or(ParseError::RequestTooLarge)?;
            if end > limits.max_request {
                return Err(ParseError::RequestTooLarge);
            }
            let Some(tail) = buf.get(start + len..end) else {
                break;
            };
            if tail != b"\r\n" {
                return Err(ParseError::BadLineEnd);
            }
            p.args.push(start..start + len);
            p.pos = end;
        }
        if p.args.len() < p.argc {
            // Every payload ends within max_request and a header line within MAX_HEADER
            // of it: the unparsed tail stays below max_request + MAX_HEADER.
            self.partial = Some(p);
            return Ok(None);
        }
        let request = p
            .args
            .iter()
            .map(|r| buf.get(r.clone()).unwrap_or_default().to_vec())
            .collect();
        Ok(Some((request, p.pos)))
    }
}

/// An inline request: one line, arguments split on spaces and tabs.
fn inline(buf: &[u8], limits: &Limits) -> Result<Option<(Request, usize)>, ParseError> {
    let window = &buf[..buf.len().min(limits.max_inline.saturating_add(1))];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() > limits.max_inline {
            Err(ParseError::TooBigInline)
        } else {
            Ok(None)
        };
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok(Some((args, nl + 1)))
}

/// Parses every complete request of `buf` at once, with a fresh parser: the requests, the
/// bytes they took, and the error that stopped parsing, if any. What the fuzz target compares
/// chunked parsing against, and handy in tests.
pub fn parse_all(buf: &[u8], limits: &Limits) -> (Vec<Request>, usize, Option<ParseError>) {
    let mut parser = Parser::new();
    let mut requests = Vec::new();
    let mut at = 0;
    loop {
        match parser.parse(&buf[at..], limits) {
            Ok(Some((request, used))) => {
                requests.push(request);
                at += used;
            }
            Ok(None) => return (requests, at, None),
            Err(e) => return (requests, at, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        max_bulk: 64,
        max_args: 8,
        max_inline: 32,
        max_request: 256,
    };

    fn args(items: &[&str]) -> Request {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_inline() {
        let (reqs, used, err) = parse_all(
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n  ECHO  a\tb \n",
            &LIMITS,
        );
        assert_eq!(
            reqs,
            vec![
                args(&["GET", "k"]),
                args(&["PING"]),
                args(&["ECHO", "a", "b"])
            ]
        );
        assert_eq!(used, 39);
        assert_eq!(err, None);
    }

    #[test]
    fn binary_safe_bulks() {
        let (reqs, _, err) = parse_all(b"*1\r\n$4\r\n\r\n\0\xff\r\n", &LIMITS);
        assert_eq!(reqs, vec![vec![b"\r\n\0\xff".to_vec()]]);
        assert_eq!(err, None);
    }

    #[test]
    fn empty_requests_are_empty() {
        let (reqs, used, _) = parse_all(b"*0\r\n*-1\r\n\r\n", &LIMITS);
        assert_eq!(reqs, vec![Request::new(), Request::new(), Request::new()]);
        assert_eq!(used, 11);
    }

    #[test]
    fn incomplete_needs_more() {
        for cut in 0..22 {
            let full = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
            let (reqs, used, err) = parse_all(&full[..cut], &LIMITS);
            assert!(reqs.is_empty() && used == 0 && err.is_none(), "cut {cut}");
        }
    }

    #[test]
    fn limits_and_garbage_are_errors() {
        let err = |b: &[u8]| parse_all(b, &LIMITS).2;
        assert_eq!(err(b"*9\r\n"), Some(ParseError::InvalidMultibulkLength));
        assert_eq!(err(b"*x\r\n"), Some(ParseError::InvalidMultibulkLength));
        assert_eq!(err(b"*1\r\n$65\r\n"), Some(ParseError::InvalidBulkLength));
        assert_eq!(err(b"*1\r\n$-1\r\n"), Some(ParseError::InvalidBulkLength));
        assert_eq!(err(b"*1\r\n:1\r\n"), Some(ParseError::ExpectedBulk(b':')));
        assert_eq!(err(b"*1\r\n$1\r\nab\r\n"), Some(ParseError::BadLineEnd));
        assert_eq!(err(b"*1\r\n$1\rx"), Some(ParseError::BadLineEnd));
        assert_eq!(err(&[b'*'; 40]), Some(ParseError::BadLineEnd));
        assert_eq!(err(&[b'a'; 33]), Some(ParseError::TooBigInline));
        assert_eq!(err(&[b'a'; 32]), None);
        let big = b"*5\r\n$60\r\n".iter().chain([b'x'; 60].iter()).copied();
        let mut req: Vec<u8> = big.collect();
        req.extend_from_slice(b"\r\n");
        for _ in 0..3 {
            req.extend_from_slice(b"$60\r\n");
            req.extend_from_slice(&[b'y'; 60]);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"$60\r\n");
        assert_eq!(err(&req), Some(ParseError::RequestTooLarge));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"+1"), None);
    }

    /// Feeds `stream` in chunks cut at `cuts`, as a connection does.
    fn chunked(
        stream: &[u8],
        cuts: &[usize],
        limits: &Limits,
    ) -> (Vec<Request>, usize, Option<ParseError>) {
        let mut parser = Parser::new();
        let mut requests = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        ends.push(stream.len());
        ends.sort_unstable();
        for end in ends {
            loop {
                match parser.parse(&stream[start..end], limits) {
                    Ok(Some((r, used))) => {
                        assert!(used <= end - start);
                        requests.push(r);
                        start += used;
                    }
                    Ok(None) => break,
                    Err(e) => return (requests, start, Some(e)),
                }
            }
        }
        (requests, start, None)
    }

    fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..6).prop_map(
                |args| {
                    let mut out = format!("*{}\r\n", args.len()).into_bytes();
                    for a in args {
                        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                        out.extend_from_slice(&a);
                        out.extend_from_slice(b"\r\n");
                    }
                    out
                }
            ),
            "[A-Za-z ]{0,20}\r?\n".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    proptest! {
        #[test]
        fn random_splits_give_the_same_requests(
            parts in prop::collection::vec(request_bytes(), 0..8),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
        ) {
            let stream: Vec<u8> = parts.concat();
            let one_shot = parse_all(&stream, &LIMITS);
            prop_assert_eq!(chunked(&stream, &cuts, &LIMITS), one_shot);
        }
    }
}
