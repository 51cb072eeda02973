//! Harness `resp`: the RESP request parser and command decoding on an arbitrary byte stream.
//!
//! Input: one byte choosing the limits, one seeding the chunk sizes, then the stream. Checks:
//!
//! - the parser, fed chunk by chunk as a connection feeds it, returns exactly what one pass
//!   over the whole stream returns: the same requests, bytes consumed and error;
//! - `consumed <= input` on every call, and no call panics;
//! - memory stays within the limits: a request has at most `max_args` arguments, a multibulk
//!   argument at most `max_bulk` bytes, and while the parser waits for more bytes the pending
//!   input is at most `max_request + MAX_HEADER` (multibulk) or `max_inline` (inline);
//! - every request decodes to a command or an error reply without panicking, and an error
//!   reply encodes to one line (no `\r`/`\n` inside);
//! - `SCAN MATCH` globs: [`pattern::matches`] agrees with a naive recursive matcher on short
//!   patterns made of literals, `*` and `?`, every matching key starts with the pattern's
//!   literal prefix, and a prefix-only pattern matches every key under its prefix.

use super::Input;
use crate::server::resp::parser::{parse_all, Limits, Parser, Request, MAX_HEADER};
use crate::server::resp::{command, pattern, Reply};

/// Limits tried: tiny ones the fuzzer can cross, and the defaults' shape.
const LIMITS: [Limits; 3] = [
    Limits {
        max_bulk: 8,
        max_args: 4,
        max_inline: 16,
        max_request: 48,
    },
    Limits {
        max_bulk: 64,
        max_args: 16,
        max_inline: 128,
        max_request: 512,
    },
    Limits {
        max_bulk: 64 << 20,
        max_args: 1 << 20,
        max_inline: 64 << 10,
        max_request: 256 << 20,
    },
];

/// Runs one input; panics on any broken property (see the module docs).
pub fn resp(data: &[u8]) {
    let mut input = Input::new(data);
    let limits = LIMITS[usize::from(input.byte()) % LIMITS.len()];
    let mut seed = u32::from(input.byte()) | 1;
    let stream = input.rest();
    let one_shot = parse_all(stream, &limits);

    let mut parser = Parser::new();
    let mut requests = Vec::new();
    let mut start = 0;
    let mut end = 0;
    let mut error = None;
    'feed: while end < stream.len() {
        let size = super::input::chunk_size(&mut seed, 16, 1024);
        end = (end + size).min(stream.len());
        loop {
            let buf = &stream[start..end];
            match parser.parse(buf, &limits) {
                Ok(Some((request, used))) => {
                    assert!(used <= buf.len(), "consumed {used} of {}", buf.len());
                    assert!(used > 0 || buf.is_empty(), "a request of no bytes");
                    check_request(&request, &limits, buf[0] == b'*');
                    requests.push(request);
                    start += used;
                }
                Ok(None) => {
                    let bound = if buf.first() == Some(&b'*') {
                        limits.max_request + MAX_HEADER
                    } else {
                        limits.max_inline
                    };
                    assert!(
                        buf.len() <= bound,
                        "{} bytes pending, over the bound of {bound}",
                        buf.len()
                    );
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(
        (requests, start, error),
        one_shot,
        "chunked parsing differs from one pass"
    );
    for request in &one_shot.0 {
        decode(request);
    }
}

fn check_request(request: &Request, limits: &Limits, multibulk: bool) {
    if multibulk {
        assert!(request.len() <= limits.max_args, "too many arguments");
        assert!(
            request.iter().all(|a| a.len() <= limits.max_bulk),
            "an argument over max_bulk"
        );
    } else {
        let total: usize = request.iter().map(Vec::len).sum();
        assert!(
            total <= limits.max_inline,
            "an inline request over the limit"
        );
    }
}

fn decode(request: &Request) {
    if request.is_empty() {
        return;
    }
    if let Err(reply) = command::decode(request) {
        let mut out = Vec::new();
        reply.encode(&mut out);
        assert!(
            matches!(reply, Reply::Error(_)),
            "a refusal that is no error"
        );
        assert_eq!(
            out.iter().filter(|&&b| b == b'\r' || b == b'\n').count(),
            2,
            "an error reply of more than one line"
        );
    }
    if let [_, pat, key, ..] = request.as_slice() {
        globs(pat, key);
    }
}

fn globs(pat: &[u8], key: &[u8]) {
    let m = pattern::matches(pat, key);
    let prefix = pattern::literal_prefix(pat);
    if m {
        assert!(
            key.starts_with(&prefix),
            "a match outside the literal prefix"
        );
    }
    if pattern::is_prefix_only(pat) && key.starts_with(&prefix) {
        assert!(m, "a prefix-only pattern missed a key under its prefix");
    }
    let simple = !pat.iter().any(|b| matches!(b, b'[' | b'\\'));
    if simple && pat.len() <= 12 && key.len() <= 24 {
        assert_eq!(m, naive(pat, key), "glob disagrees with the naive matcher");
    }
}

/// Literals, `*` and `?` only, by recursion (exponential, so short inputs only).
fn naive(pat: &[u8], key: &[u8]) -> bool {
    match pat.split_first() {
        None => key.is_empty(),
        Some((b'*', rest)) => (0..=key.len()).any(|i| naive(rest, &key[i..])),
        Some((b'?', rest)) => !key.is_empty() && naive(rest, &key[1..]),
        Some((c, rest)) => key.first() == Some(c) && naive(rest, &key[1..]),
    }
}
