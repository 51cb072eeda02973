//! A framed message channel, in plaintext or inside a Noise `XXpsk0` session.
//!
//! Plaintext: one frame per message. With a cluster key: every frame carries one Noise transport
//! message (at most 65,535 bytes: 16 of them the authentication tag), whose plaintext is one flag
//! byte (`1`: more chunks follow, `0`: last chunk) and a chunk of the encoded message, so large
//! messages travel as several frames. Noise's per-message nonces make any replayed, reordered,
//! dropped or altered frame fail to decrypt, which closes the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use super::frame::{FrameCodec, FrameError};
use super::message::{self, Message};
use crate::{Error, Result};

/// Largest Noise message.
pub(crate) const NOISE_MAX: usize = 65_535;
/// Noise's authentication tag.
const TAG: usize = 16;
/// Message bytes per Noise chunk: the rest of a Noise message after the tag and the flag.
const CHUNK: usize = NOISE_MAX - TAG - 1;

/// Bytes a node's channels moved on the wire (frames with their 8-byte headers), after the
/// handshake: the `bytes_in` / `bytes_out` of [`NodeStatus`](crate::NodeStatus).
#[derive(Default)]
pub(crate) struct ByteCounters {
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

/// Length of a frame header: `u32` length and `u32` crc.
const FRAME_HEADER: u64 = 8;

/// One side of an established connection.
pub(crate) struct Channel<S> {
    framed: Framed<S, FrameCodec>,
    noise: Option<snow::TransportState>,
    max_message: usize,
    peer: String,
    /// Chunks of a message received so far: kept here, not in `recv`'s frame, so that `recv`
    /// is cancel-safe (a `select!` may drop it between frames).
    partial: Vec<u8>,
    /// Decryption buffer.
    plain: Vec<u8>,
    /// Where to count the bytes moved, once set by [`Channel::count_bytes`].
    counters: Option<Arc<ByteCounters>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Channel<S> {
    /// A plaintext channel accepting messages up to `max_message` bytes.
    pub(crate) fn plaintext(
        framed: Framed<S, FrameCodec>,
        max_message: usize,
        peer: String,
    ) -> Self {
        Channel {
            framed,
            noise: None,
            max_message,
            peer,
            partial: Vec::new(),
            plain: Vec::new(),
            counters: None,
        }
    }

    /// A channel over an established Noise session.
    pub(crate) fn secure(
        mut framed: Framed<S, FrameCodec>,
        noise: snow::TransportState,
        max_message: usize,
        peer: String,
    ) -> Self {
        *framed.codec_mut() = FrameCodec::new(NOISE_MAX);
        Channel {
            framed,
            noise: Some(noise),
            max_message,
            peer,
            partial: Vec::new(),
            plain: vec![0u8; NOISE_MAX],
            counters: None,
        }
    }

    /// Changes the largest message accepted (small before the hello is accepted, larger after).
    pub(crate) fn set_max_message(&mut self, max: usize) {
        self.max_message = max;
        if self.noise.is_none() {
            *self.framed.codec_mut() = FrameCodec::new(max);
        }
    }

    /// Counts every frame sent and received from now on into `counters`.
    pub(crate) fn count_bytes(&mut self, counters: Arc<ByteCounters>) {
        self.counters = Some(counters);
    }

    fn count(&self, received: bool, frame_len: usize) {
        if let Some(c) = &self.counters {
            let n = frame_len as u64 + FRAME_HEADER;
            match received {
                true => c.bytes_in.fetch_add(n, Ordering::Relaxed),
                false => c.bytes_out.fetch_add(n, Ordering::Relaxed),
            };
        }
    }

    /// The peer's address, for errors and logs.
    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    fn protocol(&self, detail: impl Into<String>) -> Error {
        Error::Protocol {
            peer: self.peer.clone(),
            detail: detail.into(),
        }
    }

    /// Sends one message.
    pub(crate) async fn send(&mut self, msg: &Message) -> Result<()> {
        let payload = message::encode(msg);
        match self.noise.as_mut() {
            None => {
                self.count(false, payload.len());
                self.framed
                    .send(Bytes::from(payload))
                    .await
                    .map_err(|e| frame_error(&self.peer, e))?;
            }
            Some(noise) => {
                let mut out = vec![0u8; NOISE_MAX];
                let mut plain = Vec::with_capacity(CHUNK + 1);
                let chunks: Vec<&[u8]> = if payload.is_empty() {
                    vec![&[]]
                } else {
                    payload.chunks(CHUNK).collect()
                };
                let last = chunks.len() - 1;
                for (i, chunk) in chunks.into_iter().enumerate() {
                    plain.clear();
                    plain.push(u8::from(i != last));
                    plain.extend_from_slice(chunk);
                    let n = noise
                        .write_message(&plain, &mut out)
                        .map_err(|e| Error::Protocol {
                            peer: self.peer.clone(),
                            detail: format!("noise encryption failed: {e}"),
                        })?;
                    if let Some(c) = &self.counters {
                        c.bytes_out
                            .fetch_add(n as u64 + FRAME_HEADER, Ordering::Relaxed);
                    }
                    self.framed
                        .feed(Bytes::copy_from_slice(&out[..n]))
                        .await
                        .map_err(|e| frame_error(&self.peer, e))?;
                }
                SinkExt::<Bytes>::flush(&mut self.framed)
                    .await
                    .map_err(|e| frame_error(&self.peer, e))?;
            }
        }
        Ok(())
    }

    /// The next message; `None` when the peer closed the connection between messages.
    pub(crate) async fn recv(&mut self) -> Result<Option<Message>> {
        let payload = match self.noise.is_some() {
            false => match self.framed.next().await {
                None => return Ok(None),
                Some(frame) => {
                    let frame = frame.map_err(|e| frame_error(&self.peer, e))?;
                    self.count(true, frame.len());
                    frame.to_vec()
                }
            },
            true => loop {
                let frame = match self.framed.next().await {
                    None if self.partial.is_empty() => return Ok(None),
                    None => return Err(self.protocol("closed in the middle of a message")),
                    Some(f) => f.map_err(|e| frame_error(&self.peer, e))?,
                };
                self.count(true, frame.len());
                let noise = self.noise.as_mut().ok_or_else(|| Error::Protocol {
                    peer: self.peer.clone(),
                    detail: "no session".into(),
                })?;
                let n =
                    noise
                        .read_message(&frame, &mut self.plain)
                        .map_err(|_| Error::Protocol {
                            peer: self.peer.clone(),
                            detail:
                                "a frame failed authentication (altered, replayed or reordered)"
                                    .into(),
                        })?;
                let Some((&more, chunk)) = self.plain[..n].split_first() else {
                    return Err(self.protocol("an empty encrypted frame"));
                };
                if self.partial.len() + chunk.len() > self.max_message {
                    return Err(self.protocol(format!(
                        "message over the limit of {} bytes",
                        self.max_message
                    )));
                }
                self.partial.extend_from_slice(chunk);
                match more {
                    0 => break std::mem::take(&mut self.partial),
                    1 => continue,
                    b => return Err(self.protocol(format!("bad chunk flag {b}"))),
                }
            },
        };
        message::decode(&payload)
            .map(Some)
            .map_err(|e| self.protocol(e.to_string()))
    }
}

fn frame_error(peer: &str, e: FrameError) -> Error {
    match e {
        FrameError::Io(io) => Error::Io(io),
        other => Error::Protocol {
            peer: peer.to_string(),
            detail: other.to_string(),
        },
    }
}
