//! [`Input`]: reads structured choices off the front of fuzzer bytes; running out yields zeros,
//! so every byte string is a valid input and short inputs stay meaningful.

/// A cursor over fuzzer bytes.
#[derive(Debug)]
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { rest: data }
    }

    /// The next byte, or 0 when the input is exhausted.
    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    /// The next big-endian `u64` (missing bytes read as zeros).
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        head
    }

    /// Whatever is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// True once every byte is consumed.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Chunk sizes for feeding a stream to an incremental parser: a xorshift generator over `state`
/// (never 0), giving 1 ..= `small` bytes, and one time in eight 1 ..= `large`.
pub(crate) fn chunk_size(state: &mut u32, small: u32, large: u32) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    let bound = if *state % 8 == 0 { large } else { small };
    (*state % bound) as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_pads_with_zeros() {
        let mut i = Input::new(&[1, 2, 3]);
        assert_eq!(i.byte(), 1);
        assert_eq!(i.bytes(5), &[2, 3]);
        assert!(i.is_empty());
        assert_eq!(i.byte(), 0);
        assert_eq!(i.u64(), 0);
        assert_eq!(Input::new(&[0, 0, 0, 0, 0, 0, 1, 2]).u64(), 258);
    }
}
