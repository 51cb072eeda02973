//! Harness `frame_stream`: the frame decoder fed an arbitrary byte stream in random chunks.
//!
//! Input: one byte choosing the limit, one seeding the chunk sizes, then the stream. The
//! decoder, fed chunk by chunk as a socket would, must produce exactly what a one-shot reference
//! parser (written here, independently) makes of the whole stream: the same frames, then the
//! same ending (clean, truncated, over the limit, bad checksum). Its buffer never reserves more
//! than the limit allows, whatever a length prefix claims.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::Input;
use crate::replication::frame::{FrameCodec, FrameError, HEADER_LEN};

/// How a stream ends, as far as framing goes.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Clean,
    Truncated,
    TooLarge,
    BadChecksum,
}

/// Limits tried: none, tiny, the pre-auth limit, and one a 4 GiB prefix is far above.
const LIMITS: [usize; 5] = [0, 1, 64, 64 << 10, 1 << 20];

/// The reference: parses the whole stream at once.
fn reference(stream: &[u8], limit: usize) -> (Vec<Vec<u8>>, Ending) {
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        if rest.is_empty() {
            return (frames, Ending::Clean);
        }
        if rest.len() < HEADER_LEN {
            return (frames, Ending::Truncated);
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > limit {
            return (frames, Ending::TooLarge);
        }
        let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if rest.len() < HEADER_LEN + len {
            return (frames, Ending::Truncated);
        }
        let payload = &rest[HEADER_LEN..HEADER_LEN + len];
        if crc32fast::hash(payload) != crc {
            return (frames, Ending::BadChecksum);
        }
        frames.push(payload.to_vec());
        rest = &rest[HEADER_LEN + len..];
    }
}

fn ending(e: &FrameError) -> Ending {
    match e {
        FrameError::TooLarge { .. } => Ending::TooLarge,
        FrameError::BadChecksum { .. } => Ending::BadChecksum,
        FrameError::Truncated { .. } => Ending::Truncated,
        other => panic!("a decoder without a socket reported {other}"),
    }
}

/// Runs one input; panics if the chunked decoder and the reference disagree, or if the buffer
/// grew beyond what the limit allows.
pub fn frame_stream(data: &[u8]) {
    let mut input = Input::new(data);
    let limit = LIMITS[usize::from(input.byte()) % LIMITS.len()];
    let mut seed = u32::from(input.byte()) | 1;
    let stream = input.rest();
    let (want_frames, want_end) = reference(stream, limit);

    let mut codec = FrameCodec::new(limit);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut largest_chunk = 0;
    let end = 'feed: loop {
        // Chunk sizes 1..=32, now and then a large one.
        let size = super::input::chunk_size(&mut seed, 32, 4096);
        let next = (pos + size).min(stream.len());
        largest_chunk = largest_chunk.max(next - pos);
        buf.extend_from_slice(&stream[pos..next]);
        pos = next;
        loop {
            let decoded = if pos == stream.len() {
                codec.decode_eof(&mut buf)
            } else {
                codec.decode(&mut buf)
            };
            // The buffer holds at most one frame's worth plus one chunk, doubled by growth.
            let bound = 2 * (HEADER_LEN + limit + largest_chunk) + 64;
            assert!(
                buf.capacity() <= bound,
                "buffer capacity {} over {bound} (limit {limit})",
                buf.capacity()
            );
            match decoded {
                Ok(Some(frame)) => frames.push(frame.to_vec()),
                Ok(None) if pos == stream.len() => break 'feed Ending::Clean,
                Ok(None) => break,
                Err(e) => break 'feed ending(&e),
            }
        }
    };
    assert_eq!(frames, want_frames, "frames differ from the reference");
    assert_eq!(
        end, want_end,
        "the stream's ending differs from the reference"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Encoder;

    #[test]
    fn reference_and_decoder_agree_on_simple_streams() {
        let mut wire = BytesMut::new();
        FrameCodec::new(64).encode(b"abc", &mut wire).unwrap();
        FrameCodec::new(64).encode(b"", &mut wire).unwrap();
        for limit in 0..LIMITS.len() as u8 {
            for seed in [0u8, 1, 7, 255] {
                let mut data = vec![limit, seed];
                data.extend_from_slice(&wire);
                frame_stream(&data);
                data.truncate(data.len() - 1);
                frame_stream(&data);
                data.extend_from_slice(&[0xff; 8]);
                frame_stream(&data);
            }
        }
    }
}
