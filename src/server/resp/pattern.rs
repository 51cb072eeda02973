//! `SCAN MATCH` patterns: Redis's glob syntax over bytes, and the literal prefix a pattern
//! starts with, which bounds the key range scanned.
//!
//! `*` any bytes, `?` one byte, `[abc]` one of, `[^abc]` none of, `[a-z]` a range, `\x` the
//! byte `x` itself. A malformed class (`[abc` without `]`) matches its bytes literally up to
//! the end, as in Redis. Matching backtracks only to the last `*`, so it takes at most
//! `pattern length x key length` steps, never exponential time.
//!
//! `abc*` (a literal prefix, then one trailing `*`) is served as a prefix scan alone: only the
//! keys under `abc` are read. Any other pattern scans the range of its literal prefix (all
//! keys when it starts with a wildcard) and filters each examined key with [`matches()`].

/// The literal bytes a pattern starts with (escapes resolved): every matching key starts
/// with them.
pub fn literal_prefix(pattern: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = pattern.get(i) {
        match b {
            b'*' | b'?' | b'[' => break,
            b'\\' => match pattern.get(i + 1) {
                Some(&next) => {
                    out.push(next);
                    i += 2;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// True when every key with [`literal_prefix`] matches: the pattern is that prefix and one
/// trailing `*` (or `*` alone).
pub fn is_prefix_only(pattern: &[u8]) -> bool {
    let Some(head) = pattern.strip_suffix(b"*") else {
        return false;
    };
    // The head must be all literal: no wildcard, and no escape (so "\*" is not mistaken).
    !head.iter().any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
}

/// Does `key` match the glob `pattern`?
pub fn matches(pattern: &[u8], key: &[u8]) -> bool {
    let (mut p, mut k) = (0usize, 0usize);
    // Where to resume after the last `*`: its pattern position and the key position it
    // swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            if pattern[p] == b'*' {
                star = Some((p + 1, k));
                p += 1;
                continue;
            }
            if k < key.len() {
                if let Some(next) = one(pattern, p, key[k]) {
                    p = next;
                    k += 1;
                    continue;
                }
            }
        } else if k == key.len() {
            return true;
        }
        match star {
            Some((sp, sk)) if sk < key.len() => {
                star = Some((sp, sk + 1));
                p = sp;
                k = sk + 1;
            }
            _ => return false,
        }
    }
}

/// If the single-byte element at `pattern[p]` (not `*`) matches `b`, the position after it.
fn one(pattern: &[u8], p: usize, b: u8) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == b).then_some(p + 2),
        b'[' => class(pattern, p + 1, b),
        c => (c == b).then_some(p + 1),
    }
}

/// A `[...]` class starting after its `[`.
fn class(pattern: &[u8], mut p: usize, b: u8) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut hit = false;
    loop {
        let Some(&c) = pattern.get(p) else {
            // No closing bracket: Redis stops at the end of the pattern.
            return (hit != negate).then_some(p);
        };
        if c == b']' {
            return (hit != negate).then_some(p + 1);
        }
        if c == b'\\' && p + 1 < pattern.len() {
            hit |= pattern[p + 1] == b;
            p += 2;
        } else if pattern.get(p + 1) == Some(&b'-') && p + 2 < pattern.len() {
            let (mut lo, mut hi) = (c, pattern[p + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            hit |= (lo..=hi).contains(&b);
            p += 3;
        } else {
            hit |= c == b;
            p += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = |p: &str, k: &str| matches(p.as_bytes(), k.as_bytes());
        assert!(m("*", ""));
        assert!(m("*", "abc"));
        assert!(m("a*", "abc"));
        assert!(!m("a*", "bac"));
        assert!(m("h?llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("*b*d", "abcbd"));
        assert!(!m("*b*d", "abcbe"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m(&"*a".repeat(20), &"a".repeat(40)));
        assert!(!m(&"*a".repeat(20), &"b".repeat(4000)));
    }

    #[test]
    fn prefixes() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"a\\*b?"), b"a*b");
        assert!(is_prefix_only(b"user:*"));
        assert!(is_prefix_only(b"*"));
        assert!(!is_prefix_only(b"user:?*"));
        assert!(!is_prefix_only(b"a\\*"));
        assert!(!is_prefix_only(b"abc"));
    }
}
