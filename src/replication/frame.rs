//! Framing of the replication stream: `u32` length, `u32` crc32, payload.
//!
//! Byte layout of one frame (integers big-endian):
//!
//! ```text
//! +----------------+----------------+------------------------+
//! | len: u32       | crc32: u32     | payload: len bytes     |
//! +----------------+----------------+------------------------+
//! ```
//!
//! `crc32` is crc32fast's CRC-32 (IEEE) of the payload. The decoder tells three cases apart, as
//! mini-redis does: *need more bytes* (`Ok(None)`), *garbage* (an error: a length over the limit
//! — checked before anything is allocated — or a bad checksum), and a clean close (the stream
//! ends between frames; ending inside a frame is an error). Any error closes the connection and
//! nothing of that frame is used (docs/design.md invariant 10).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes of the frame header.
pub const HEADER_LEN: usize = 8;

/// What is wrong with a frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix is over the configured maximum.
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The payload does not match its checksum.
    #[error("frame checksum mismatch: header says {expected:#010x}, payload has {actual:#010x}")]
    BadChecksum {
        /// The checksum in the header.
        expected: u32,
        /// The payload's checksum.
        actual: u32,
    },
    /// The stream ended inside a frame.
    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the unfinished frame.
        buffered: usize,
    },
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A tokio-util codec for frames of at most `max_frame` payload bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// A codec that refuses payloads over `max_frame` bytes (at most `u32::MAX`).
    pub fn new(max_frame: usize) -> Self {
        FrameCodec {
            max_frame: max_frame.min(u32::MAX as usize),
        }
    }

    /// The configured payload limit.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if src.len() < HEADER_LEN {
            src.reserve(HEADER_LEN - src.len());
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        let expected = u32::from_be_bytes([src[4], src[5], src[6], src[7]]);
        if src.len() < HEADER_LEN + len {
            // The limit was checked, so reserving the rest of this frame is bounded.
            src.reserve(HEADER_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        let payload = src.split_to(len).freeze();
        let actual = crc32fast::hash(&payload);
        if actual != expected {
            return Err(FrameError::BadChecksum { expected, actual });
        }
        Ok(Some(payload))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for FrameCodec {
    type Error = FrameError;

    /// Encodes one frame. The limit is the receiver's business (each side decodes with its own);
    /// the sender only refuses what the `u32` length cannot express.
    fn encode(&mut self, payload: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        let payload = payload.as_ref();
        if payload.len() > u32::MAX as usize {
            return Err(FrameError::TooLarge {
                len: payload.len(),
                max: u32::MAX as usize,
            });
        }
        dst.reserve(HEADER_LEN + payload.len());
        dst.put_u32(payload.len() as u32);
        dst.put_u32(crc32fast::hash(payload));
        dst.put_slice(payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(payloads: &[Vec<u8>]) -> BytesMut {
        let mut codec = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::new();
        for p in payloads {
            codec.encode(p, &mut buf).unwrap();
        }
        buf
    }

    proptest! {
        #[test]
        fn frames_round_trip_through_any_split(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in proptest::collection::vec(1usize..50, 0..40),
        ) {
            let wire = encode(&payloads);
            let mut codec = FrameCodec::new(1 << 20);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut pos = 0usize;
            for cut in cuts.into_iter().chain(std::iter::once(usize::MAX)) {
                let end = pos.saturating_add(cut).min(wire.len());
                buf.extend_from_slice(&wire[pos..end]);
                pos = end;
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    out.push(frame.to_vec());
                }
                if pos == wire.len() { break; }
            }
            prop_assert!(codec.decode_eof(&mut buf).unwrap().is_none());
            prop_assert_eq!(out, payloads);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut codec = FrameCodec::new(64);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
        }
    }

    #[test]
    fn an_oversized_length_is_refused_before_allocating() {
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooLarge { len, max: 1024 }) if len == u32::MAX as usize
        ));
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn a_flipped_bit_is_a_checksum_error() {
        let mut wire = encode(&[b"hello".to_vec()]);
        wire[HEADER_LEN + 1] ^= 0x10;
        let mut codec = FrameCodec::new(1024);
        assert!(matches!(
            codec.decode(&mut wire),
            Err(FrameError::BadChecksum { .. })
        ));
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_truncated_not_clean() {
        let wire = encode(&[b"hello".to_vec()]);
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(&wire[..wire.len() - 1]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(FrameError::Truncated { .. })
        ));
        let mut empty = BytesMut::new();
        assert!(codec.decode_eof(&mut empty).unwrap().is_none());
    }

    #[test]
    fn the_decoding_limit_is_the_receivers() {
        // A sender with a small limit still sends a large frame; a receiver with a small limit
        // refuses it, one with a large limit takes it.
        let mut small = FrameCodec::new(16);
        let mut buf = BytesMut::new();
        small.encode(vec![1u8; 100], &mut buf).unwrap();
        assert!(small.decode(&mut buf.clone()).is_err());
        let mut large = FrameCodec::new(1 << 20);
        assert_eq!(large.decode(&mut buf).unwrap().unwrap().len(), 100);
    }
}
