//! Establishing a connection: the Noise handshake (with cluster keys) and the hello exchange.
//!
//! Every decision is a plain function the async parts call: [`check_hello`] (is this hello one
//! of ours?), [`judge_hello`] (what the listener does with the first message after Noise),
//! [`judge_reply`] (what the dialer does with the listener's answer) and [`noise_respond`] (which
//! of our keys, if any, opens the dialer's first Noise message). The async functions only move
//! bytes, so the fuzz harness (`crate::fuzzing`) drives the same decisions with arbitrary peer
//! messages, and the state machine has no other way to accept a peer.
//!
//! - Identity: Noise `XXpsk0`. Both sides prove their static key (the folder's `node.key`) and
//!   the cluster key; a keyed hello is accepted only if its node id is the one derived from the
//!   key the peer proved ([`check_identity`]), so a key holder cannot speak as another node.
//!   Plaintext (loopback only) has no keys: there a hello's node id is self-declared.
//! - Keys: each configured cluster key is turned into a 32-byte pre-shared key with SHA-256
//!   (`"meshkv-psk-v1" || key`). The dialer uses the first; the listener tries each in turn on the
//!   dialer's first Noise message, so keys can be rotated by adding the new one everywhere, then
//!   moving it first, then dropping the old one.
//! - Before the hello is accepted a connection may only carry small frames ([`PRE_AUTH_MAX`]).
//! - A refusal is sent to the other side as [`Message::Refuse`] before closing, so both sides log
//!   the same reason.

use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use super::channel::{Channel, NOISE_MAX};
use super::frame::FrameCodec;
use super::message::{Hello, Limits, Message, MAGIC, PROTOCOL_VERSION};
use crate::{Error, NodeId, Result};

/// Largest frame before the hello is accepted.
pub const PRE_AUTH_MAX: usize = 64 << 10;

/// The Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s";

/// What a node says about itself and expects of its peers.
#[derive(Clone)]
pub(crate) struct HandshakeConfig {
    pub(crate) cluster: String,
    pub(crate) node_id: NodeId,
    /// The private half of the folder's static key pair (Noise's local static key).
    pub(crate) static_key: [u8; 32],
    /// Pre-shared keys derived from the cluster keys; empty for plaintext.
    pub(crate) psks: Vec<[u8; 32]>,
    pub(crate) advertise: Option<String>,
    /// Largest message once the hello is accepted.
    pub(crate) max_message: usize,
    /// What this node accepts and sends, told in its hello.
    pub(crate) limits: Limits,
    /// Node ids refused at the handshake, both ways: the decommissioned members, shared with
    /// the node's member table.
    pub(crate) refused_ids: RefusedIds,
}

/// The set of node ids a handshake refuses (decommissioned members).
pub(crate) type RefusedIds =
    std::sync::Arc<parking_lot::RwLock<std::collections::BTreeSet<NodeId>>>;

/// How a refusal of a decommissioned id begins (followed by the id): the dialer that reads it
/// about itself stops replicating.
pub(crate) const DECOMMISSIONED_REFUSAL: &str = "decommissioned node ";

/// Whether a refusal's `reason` (as the dialer reports it) says that node `own` was
/// decommissioned.
pub(crate) fn says_decommissioned(reason: &str, own: NodeId) -> bool {
    let told = format!("the peer refused us: {DECOMMISSIONED_REFUSAL}{own}:");
    reason.starts_with(&told)
}

/// Refuses a peer whose id was decommissioned: it was removed from the cluster for good, and
/// may come back only as a new node (a new id).
pub fn check_admitted(
    refused: &std::collections::BTreeSet<NodeId>,
    theirs: &Hello,
) -> Result<(), String> {
    if refused.contains(&theirs.node_id) {
        return Err(format!(
            "{DECOMMISSIONED_REFUSAL}{}: it was removed from this cluster for good; give its \
             folder a new id (renew-id) to join as a new node",
            theirs.node_id
        ));
    }
    Ok(())
}

/// Whether a node with `server` limits may serve a puller with `puller` limits: never a key or
/// value the puller would refuse, never a message over its frame limit. Both sides run it (the
/// dialer is the puller), so both reach the same verdict; the error names both limits.
pub fn check_pull(server: &Limits, puller: &Limits) -> Result<(), String> {
    if server.max_value_size > puller.max_value_size {
        return Err(format!(
            "the serving node takes values up to {} bytes and the pulling node only up to {} \
             (max_value_size): values written there could never replicate here; give both \
             the same max_value_size",
            server.max_value_size, puller.max_value_size
        ));
    }
    if server.max_key_size > puller.max_key_size {
        return Err(format!(
            "the serving node takes keys up to {} bytes and the pulling node only up to {} \
             (max_key_size); give both the same max_key_size",
            server.max_key_size, puller.max_key_size
        ));
    }
    if server.largest_message() > puller.max_frame_size {
        return Err(format!(
            "the serving node sends messages up to {} bytes (its sync_batch_bytes, or its largest \
             key and value) and the pulling node accepts frames up to {} (max_frame_size)",
            server.largest_message(),
            puller.max_frame_size
        ));
    }
    Ok(())
}

/// The 32-byte Noise pre-shared key for a cluster key of any length.
pub fn derive_psk(key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"meshkv-psk-v1");
    h.update(key);
    h.finalize().into()
}

/// Checks a peer's hello against our own identity; the error is the refusal's reason.
pub fn check_hello(own_cluster: &str, own_id: NodeId, hello: &Hello) -> Result<(), String> {
    if hello.magic != MAGIC {
        return Err("not a meshkv peer (bad magic)".into());
    }
    if hello.version < PROTOCOL_VERSION {
        // Version 4 added deadlines to entries (an older peer would drop them and resurrect
        // expired keys), version 5 anti-entropy connections (an older peer closes them as
        // protocol errors), version 6 `Members` (an older puller closes on it): refused until
        // it is upgraded.
        return Err(format!(
            "protocol version {} is older than ours ({PROTOCOL_VERSION}, which carries key \
             deadlines, anti-entropy and member summaries): upgrade that node",
            hello.version
        ));
    }
    if hello.version != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version {} is not ours ({PROTOCOL_VERSION})",
            hello.version
        ));
    }
    if hello.cluster != own_cluster {
        return Err(format!(
            "cluster {:?} is not ours ({own_cluster:?})",
            hello.cluster
        ));
    }
    if hello.node_id == own_id {
        return Err(format!(
            "the peer presents our own node id {own_id} (a copied data directory, or a node dialing itself)"
        ));
    }
    Ok(())
}

/// Checks that a keyed peer's hello names the node id derived from the static key it proved in
/// the Noise handshake (`remote_static`; `None` in plaintext, where ids are self-declared). The
/// error is the refusal's reason.
pub fn check_identity(hello: &Hello, remote_static: Option<&[u8]>) -> Result<(), String> {
    let Some(key) = remote_static else {
        return Ok(());
    };
    let owner = NodeId::of_public_key(key);
    if owner == hello.node_id {
        return Ok(());
    }
    Err(format!(
        "the hello claims node id {} but the peer's key belongs to node {owner}: a node speaks \
         only as the id derived from its key (a folder with an id set by hand or made before \
         node keys needs `meshkv renew-id`)",
        hello.node_id
    ))
}

/// What a side of the handshake does with the message it received in place of a hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The peer's hello is ours: the connection is established.
    Accept(Hello),
    /// Refused: tell the peer why with a [`Message::Refuse`], then fail with `Error::Refused`.
    Refuse(String),
    /// The handshake is broken: tell the peer why (if `tell`), then fail with
    /// `Error::Handshake`.
    Fail {
        /// Why, for both sides' logs.
        reason: String,
        /// Whether to send the reason to the peer before closing.
        tell: bool,
    },
    /// The peer refused us: fail with `Error::Refused` carrying its reason.
    RefusedByPeer(String),
}

/// The listener's decision on the first message of the dialer after Noise (`None`: the dialer
/// closed the connection). Only a hello that passes [`check_hello`] is accepted.
pub fn judge_hello(own_cluster: &str, own_id: NodeId, received: Option<Message>) -> Verdict {
    match received {
        Some(Message::Hello(h)) => match check_hello(own_cluster, own_id, &h) {
            Ok(()) => Verdict::Accept(h),
            Err(reason) => Verdict::Refuse(reason),
        },
        Some(other) => Verdict::Fail {
            reason: format!("expected a hello, got a {}", other.kind()),
            tell: true,
        },
        None => Verdict::Fail {
            reason: "the dialer closed the connection".into(),
            tell: false,
        },
    }
}

/// The dialer's decision on the listener's answer to its hello (`None`: the listener closed
/// the connection). Only a hello that passes [`check_hello`] is accepted.
pub fn judge_reply(own_cluster: &str, own_id: NodeId, received: Option<Message>) -> Verdict {
    match received {
        Some(Message::Hello(h)) => match check_hello(own_cluster, own_id, &h) {
            Ok(()) => Verdict::Accept(h),
            Err(reason) => Verdict::Refuse(reason),
        },
        Some(Message::Refuse { reason }) => Verdict::RefusedByPeer(reason),
        Some(other) => Verdict::Fail {
            reason: format!("expected a hello, got a {}", other.kind()),
            tell: false,
        },
        None => Verdict::Fail {
            reason: "the peer closed the connection".into(),
            tell: false,
        },
    }
}

/// The responder's first step: the dialer's first Noise message opened with each of `psks` in
/// turn. `Some` (the handshake state, ready to answer) under the first key that opens it;
/// `None` if none does: a wrong key, a plaintext dialer, garbage or a replayed message from
/// another session all end here.
pub fn noise_respond(
    psks: &[[u8; 32]],
    static_key: &[u8; 32],
    first: &[u8],
) -> Option<snow::HandshakeState> {
    let mut buf = vec![0u8; NOISE_MAX];
    psks.iter().find_map(|psk| {
        let mut noise = noise_builder(psk, static_key)
            .ok()?
            .build_responder()
            .ok()?;
        noise.read_message(first, &mut buf).ok().map(|_| noise)
    })
}

/// The dialer's Noise state for cluster key `psk` and the node's private `static_key`.
pub fn noise_initiator(psk: &[u8; 32], static_key: &[u8; 32]) -> Result<snow::HandshakeState> {
    noise_builder(psk, static_key)?
        .build_initiator()
        .map_err(|e| handshake_error("-", e.to_string()))
}

/// Acts on a [`Verdict`]: sends a refusal if it says so, then returns the hello or the error.
async fn conclude<S: AsyncRead + AsyncWrite + Unpin>(
    channel: &mut Channel<S>,
    verdict: Verdict,
) -> Result<Hello> {
    let peer = channel.peer().to_string();
    match verdict {
        Verdict::Accept(h) => Ok(h),
        Verdict::Refuse(reason) => {
            let _ = channel
                .send(&Message::Refuse {
                    reason: reason.clone(),
                })
                .await;
            Err(Error::Refused { peer, reason })
        }
        Verdict::Fail { reason, tell } => {
            if tell {
                let _ = channel
                    .send(&Message::Refuse {
                        reason: reason.clone(),
                    })
                    .await;
            }
            Err(handshake_error(&peer, reason))
        }
        Verdict::RefusedByPeer(reason) => Err(Error::Refused {
            peer,
            reason: format!("the peer refused us: {reason}"),
        }),
    }
}

fn hello(cfg: &HandshakeConfig) -> Message {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    Message::Hello(Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        cluster: cfg.cluster.clone(),
        node_id: cfg.node_id,
        nonce,
        advertise: cfg.advertise.clone(),
        limits: cfg.limits,
    })
}

/// Refuses (telling the peer) when `check` failed.
async fn refuse_unless<S: AsyncRead + AsyncWrite + Unpin>(
    channel: &mut Channel<S>,
    check: Result<(), String>,
) -> Result<()> {
    let Err(reason) = check else {
        return Ok(());
    };
    let _ = channel
        .send(&Message::Refuse {
            reason: reason.clone(),
        })
        .await;
    Err(Error::Refused {
        peer: channel.peer().to_string(),
        reason,
    })
}

fn handshake_error(peer: &str, detail: impl Into<String>) -> Error {
    Error::Handshake {
        peer: peer.to_string(),
        detail: detail.into(),
    }
}

async fn next_frame<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S, FrameCodec>,
    peer: &str,
) -> Result<bytes::Bytes> {
    use futures_util::StreamExt;
    match framed.next().await {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(e)) => Err(handshake_error(peer, e.to_string())),
        None => Err(handshake_error(
            peer,
            "connection closed during the handshake",
        )),
    }
}

async fn send_frame<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S, FrameCodec>,
    peer: &str,
    bytes: Vec<u8>,
) -> Result<()> {
    use futures_util::SinkExt;
    framed
        .send(bytes::Bytes::from(bytes))
        .await
        .map_err(|e| handshake_error(peer, e.to_string()))
}

fn noise_builder<'a>(psk: &'a [u8; 32], static_key: &'a [u8; 32]) -> Result<snow::Builder<'a>> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|e| handshake_error("-", format!("noise parameters: {e:?}")))?;
    Ok(snow::Builder::new(params)
        .psk(0, psk)
        .local_private_key(static_key))
}

/// The static key the peer proved, once the handshake is done.
fn remote_static(transport: &snow::TransportState) -> Option<Vec<u8>> {
    transport.get_remote_static().map(<[u8]>::to_vec)
}

/// Dials: Noise as initiator with key number `key` (the node starts with the first and moves to
/// the next after a failed handshake, so a peer that does not know the new key yet is still
/// reached), then hello out, hello or refusal in.
pub(crate) async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: String,
    cfg: &HandshakeConfig,
    key: usize,
) -> Result<(Channel<S>, Hello)> {
    let mut framed = Framed::new(stream, FrameCodec::new(PRE_AUTH_MAX));
    let psk = if cfg.psks.is_empty() {
        None
    } else {
        cfg.psks.get(key % cfg.psks.len())
    };
    let (mut channel, proven) = match psk {
        None => (Channel::plaintext(framed, PRE_AUTH_MAX, peer.clone()), None),
        Some(psk) => {
            // -> psk, e; <- e, ee, s, es; -> s, se.
            let mut noise = noise_initiator(psk, &cfg.static_key)?;
            let mut buf = vec![0u8; NOISE_MAX];
            let n = noise
                .write_message(&[], &mut buf)
                .map_err(|e| handshake_error(&peer, e.to_string()))?;
            send_frame(&mut framed, &peer, buf[..n].to_vec()).await?;
            let reply = next_frame(&mut framed, &peer).await?;
            noise.read_message(&reply, &mut buf).map_err(|_| {
                handshake_error(
                    &peer,
                    "the peer does not hold our cluster key (or speaks plaintext, or a meshkv \
                     older than node keys)",
                )
            })?;
            let n = noise
                .write_message(&[], &mut buf)
                .map_err(|e| handshake_error(&peer, e.to_string()))?;
            send_frame(&mut framed, &peer, buf[..n].to_vec()).await?;
            let transport = noise
                .into_transport_mode()
                .map_err(|e| handshake_error(&peer, e.to_string()))?;
            let proven = remote_static(&transport);
            let channel = Channel::secure(framed, transport, PRE_AUTH_MAX, peer.clone());
            (channel, proven)
        }
    };
    channel.send(&hello(cfg)).await?;
    let received = channel.recv().await?;
    let theirs = conclude(
        &mut channel,
        judge_reply(&cfg.cluster, cfg.node_id, received),
    )
    .await?;
    refuse_unless(&mut channel, check_identity(&theirs, proven.as_deref())).await?;
    let admitted = check_admitted(&cfg.refused_ids.read(), &theirs);
    refuse_unless(&mut channel, admitted).await?;
    // We pull from the listener.
    refuse_unless(&mut channel, check_pull(&theirs.limits, &cfg.limits)).await?;
    channel.set_max_message(cfg.max_message);
    Ok((channel, theirs))
}

/// Accepts: Noise as responder (trying every key), then hello in, hello or refusal out.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: String,
    cfg: &HandshakeConfig,
) -> Result<(Channel<S>, Hello)> {
    let mut framed = Framed::new(stream, FrameCodec::new(PRE_AUTH_MAX));
    let (mut channel, proven) = if cfg.psks.is_empty() {
        (Channel::plaintext(framed, PRE_AUTH_MAX, peer.clone()), None)
    } else {
        let first = next_frame(&mut framed, &peer).await?;
        let Some(mut noise) = noise_respond(&cfg.psks, &cfg.static_key, &first) else {
            return Err(handshake_error(
                &peer,
                "the dialer does not hold any of our cluster keys (or speaks plaintext)",
            ));
        };
        let mut buf = vec![0u8; NOISE_MAX];
        let n = noise
            .write_message(&[], &mut buf)
            .map_err(|e| handshake_error(&peer, e.to_string()))?;
        send_frame(&mut framed, &peer, buf[..n].to_vec()).await?;
        let third = next_frame(&mut framed, &peer).await?;
        noise
            .read_message(&third, &mut buf)
            .map_err(|_| handshake_error(&peer, "the dialer's static key did not verify"))?;
        let transport = noise
            .into_transport_mode()
            .map_err(|e| handshake_error(&peer, e.to_string()))?;
        let proven = remote_static(&transport);
        let channel = Channel::secure(framed, transport, PRE_AUTH_MAX, peer.clone());
        (channel, proven)
    };
    let received = match channel.recv().await {
        Ok(received) => received,
        Err(e) if cfg.psks.is_empty() => {
            let reason = "expected a plaintext hello (does the dialer use a cluster key?)";
            let _ = channel
                .send(&Message::Refuse {
                    reason: reason.into(),
                })
                .await;
            return Err(handshake_error(&peer, format!("{reason}: {e}")));
        }
        Err(e) => return Err(e),
    };
    let theirs = conclude(
        &mut channel,
        judge_hello(&cfg.cluster, cfg.node_id, received),
    )
    .await?;
    refuse_unless(&mut channel, check_identity(&theirs, proven.as_deref())).await?;
    let admitted = check_admitted(&cfg.refused_ids.read(), &theirs);
    refuse_unless(&mut channel, admitted).await?;
    // The dialer pulls from us.
    refuse_unless(&mut channel, check_pull(&cfg.limits, &theirs.limits)).await?;
    channel.send(&hello(cfg)).await?;
    // The listener only ever receives pulls and heartbeats: it keeps the small limit.
    Ok((channel, theirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_never_sends_a_puller_what_it_refuses() {
        let base = Limits::default();
        assert!(check_pull(&base, &base).is_ok());
        // (server, puller, the limit the refusal names)
        let cases = [
            (
                Limits {
                    max_value_size: base.max_value_size + 1,
                    ..base
                },
                base,
                Some("max_value_size"),
            ),
            (
                Limits {
                    max_key_size: base.max_key_size + 1,
                    ..base
                },
                base,
                Some("max_key_size"),
            ),
            (
                base,
                Limits {
                    max_frame_size: base.largest_message() - 1,
                    ..base
                },
                Some("max_frame_size"),
            ),
            (
                Limits {
                    sync_batch_bytes: base.max_frame_size,
                    ..base
                },
                base,
                Some("sync_batch_bytes"),
            ),
            // A puller that takes more than the server sends is served.
            (
                base,
                Limits {
                    max_value_size: base.max_value_size * 2,
                    max_key_size: base.max_key_size * 2,
                    ..base
                },
                None,
            ),
        ];
        for (server, puller, names) in cases {
            match (check_pull(&server, &puller), names) {
                (Ok(()), None) => {}
                (Err(reason), Some(name)) => {
                    assert!(reason.contains(name), "{reason}");
                    assert!(reason.contains("pulling node"), "{reason}");
                }
                (got, want) => panic!("{got:?}, expected a refusal naming {want:?}"),
            }
        }
    }

    fn good() -> Hello {
        Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            cluster: "c".into(),
            node_id: NodeId([2; 16]),
            nonce: [0; 16],
            advertise: None,
            limits: Limits::default(),
        }
    }

    #[test]
    fn hello_checks_name_the_problem() {
        let me = NodeId([1; 16]);
        assert!(check_hello("c", me, &good()).is_ok());
        let mut h = good();
        h.magic = *b"xxxxxxxx";
        assert!(check_hello("c", me, &h).unwrap_err().contains("magic"));
        let mut h = good();
        h.version = 99;
        assert!(check_hello("c", me, &h).unwrap_err().contains("version 99"));
        assert!(check_hello("other", me, &good())
            .unwrap_err()
            .contains("cluster"));
        assert!(check_hello("c", NodeId([2; 16]), &good())
            .unwrap_err()
            .contains("own node id"));
    }

    #[test]
    fn verdicts_of_both_sides() {
        let me = NodeId([1; 16]);
        let hi = Some(Message::Hello(good()));
        assert_eq!(judge_hello("c", me, hi.clone()), Verdict::Accept(good()));
        assert_eq!(judge_reply("c", me, hi.clone()), Verdict::Accept(good()));
        assert!(
            matches!(judge_hello("d", me, hi.clone()), Verdict::Refuse(r) if r.contains("cluster"))
        );
        assert!(matches!(judge_reply("d", me, hi), Verdict::Refuse(r) if r.contains("cluster")));
        let pull = Some(Message::Pull {
            cursor: None,
            skip_own_after: None,
            cursor_incarnation: None,
            cursor_proof: None,
        });
        assert!(matches!(
            judge_hello("c", me, pull.clone()),
            Verdict::Fail { tell: true, .. }
        ));
        assert!(matches!(
            judge_reply("c", me, pull),
            Verdict::Fail { tell: false, .. }
        ));
        assert!(matches!(
            judge_hello("c", me, None),
            Verdict::Fail { tell: false, .. }
        ));
        assert!(matches!(
            judge_reply("c", me, None),
            Verdict::Fail { tell: false, .. }
        ));
        let refuse = Some(Message::Refuse { reason: "x".into() });
        assert!(matches!(
            judge_hello("c", me, refuse.clone()),
            Verdict::Fail { .. }
        ));
        assert_eq!(
            judge_reply("c", me, refuse),
            Verdict::RefusedByPeer("x".into())
        );
    }

    #[test]
    fn noise_respond_needs_one_of_our_keys() {
        let psk = derive_psk(b"k");
        let (dialer, me) = ([1u8; 32], [2u8; 32]);
        let mut init = noise_initiator(&psk, &dialer).unwrap();
        let mut buf = vec![0u8; NOISE_MAX];
        let n = init.write_message(&[], &mut buf).unwrap();
        let first = &buf[..n];
        assert!(noise_respond(&[psk], &me, first).is_some());
        assert!(noise_respond(&[derive_psk(b"x"), psk], &me, first).is_some());
        assert!(noise_respond(&[derive_psk(b"x")], &me, first).is_none());
        assert!(noise_respond(&[], &me, first).is_none());
        assert!(noise_respond(&[psk], &me, &first[..n - 1]).is_none());
        assert!(noise_respond(&[psk], &me, b"").is_none());
    }

    #[test]
    fn psks_differ_per_key_and_are_stable() {
        assert_eq!(derive_psk(b"a"), derive_psk(b"a"));
        assert_ne!(derive_psk(b"a"), derive_psk(b"b"));
    }

    async fn pair(
        dialer: HandshakeConfig,
        listener: HandshakeConfig,
    ) -> (
        Result<(Channel<tokio::io::DuplexStream>, Hello)>,
        Result<(Channel<tokio::io::DuplexStream>, Hello)>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 20);
        tokio::join!(
            dial(a, "listener".into(), &dialer, 0),
            accept(b, "dialer".into(), &listener)
        )
    }

    /// Node `id`'s config: its key is `[id; 32]` and its node id the one derived from it.
    fn cfg(id: u8, keys: &[&[u8]]) -> HandshakeConfig {
        let key = crate::storage::identity::NodeKey::from_private([id; 32]);
        HandshakeConfig {
            cluster: "c".into(),
            node_id: key.node_id(),
            static_key: key.private,
            psks: keys.iter().map(|k| derive_psk(k)).collect(),
            advertise: Some(format!("node{id}")),
            max_message: 1 << 20,
            limits: Limits::default(),
            refused_ids: RefusedIds::default(),
        }
    }

    #[tokio::test]
    async fn a_decommissioned_id_is_refused_both_ways() {
        for keys in [&[b"k".as_slice()][..], &[]] {
            // The listener decommissioned the dialer.
            let listener = cfg(2, keys);
            listener.refused_ids.write().insert(cfg(1, &[]).node_id);
            let (d, l) = pair(cfg(1, keys), listener).await;
            let Err(Error::Refused { reason, .. }) = d else {
                panic!("the dialer was not told");
            };
            assert!(reason.contains("decommissioned"), "{reason}");
            // The dialer reads it as its own decommission, and only its own.
            assert!(says_decommissioned(&reason, cfg(1, &[]).node_id));
            assert!(!says_decommissioned(&reason, cfg(2, &[]).node_id));
            assert!(l.is_err());
            // The dialer decommissioned the listener.
            let dialer = cfg(1, keys);
            dialer.refused_ids.write().insert(cfg(2, &[]).node_id);
            let (d, l) = pair(dialer, cfg(2, keys)).await;
            assert!(matches!(d, Err(Error::Refused { .. })));
            // The listener finished its half first; the refusal is what it reads next.
            let (mut lc, _) = l.unwrap();
            assert!(matches!(lc.recv().await, Ok(Some(Message::Refuse { .. }))));
        }
    }

    #[tokio::test]
    async fn keyed_and_plaintext_handshakes() {
        let (d, l) = pair(cfg(1, &[b"k"]), cfg(2, &[b"k"])).await;
        let (mut dc, lh) = d.unwrap();
        let (mut lc, dh) = l.unwrap();
        assert_eq!(lh.node_id, cfg(2, &[]).node_id);
        assert_eq!(dh.advertise.as_deref(), Some("node1"));
        // A message larger than one Noise message travels in chunks (listener to dialer).
        let big = Message::Batch {
            entries: vec![(
                1,
                crate::Entry {
                    key: b"k".to_vec(),
                    value: Some(vec![7; 200_000]),
                    version: crate::Version {
                        clock: 1,
                        timestamp: 1,
                        origin: NodeId([1; 16]),
                    },
                    expires_at: None,
                },
            )],
        };
        lc.send(&big).await.unwrap();
        assert_eq!(dc.recv().await.unwrap(), Some(big.clone()));
        // The listener only takes small messages (pulls and heartbeats).
        dc.send(&big).await.unwrap();
        assert!(matches!(lc.recv().await, Err(Error::Protocol { .. })));

        let (d, l) = pair(cfg(1, &[]), cfg(2, &[])).await;
        assert!(d.is_ok() && l.is_ok());
    }

    #[test]
    fn a_keyed_hello_must_name_the_id_of_the_proven_key() {
        let key = crate::storage::identity::NodeKey::from_private([5; 32]);
        let mut h = match hello(&cfg(5, &[b"k"])) {
            Message::Hello(h) => h,
            _ => unreachable!(),
        };
        assert!(check_identity(&h, Some(&key.public)).is_ok());
        // Plaintext: self-declared.
        h.node_id = NodeId([9; 16]);
        assert!(check_identity(&h, None).is_ok());
        let reason = check_identity(&h, Some(&key.public)).unwrap_err();
        assert!(reason.contains(&key.node_id().to_string()), "{reason}");
    }

    #[tokio::test]
    async fn a_key_holder_cannot_speak_as_another_node() {
        // Node 3 holds the cluster key and its own static key but claims node 4's id, as
        // dialer and as listener: both refused, and the honest side names the real owner.
        let mut liar = cfg(3, &[b"k"]);
        liar.node_id = cfg(4, &[]).node_id;
        let (d, l) = pair(liar.clone(), cfg(1, &[b"k"])).await;
        let owner = cfg(3, &[]).node_id.to_string();
        assert!(
            matches!(&l, Err(Error::Refused { reason, .. }) if reason.contains(&owner)),
            "{:?}",
            l.err()
        );
        assert!(d.is_err());
        let (d, l) = pair(cfg(1, &[b"k"]), liar).await;
        assert!(
            matches!(&d, Err(Error::Refused { reason, .. }) if reason.contains(&owner)),
            "{:?}",
            d.err()
        );
        // (The liar's own side finished its part; it gets nothing from the honest dialer.)
        drop(l);
        // In plaintext the same claim is believed (documented: loopback only).
        let mut claimer = cfg(3, &[]);
        claimer.node_id = cfg(4, &[]).node_id;
        let (d, l) = pair(claimer, cfg(1, &[])).await;
        assert!(d.is_ok() && l.is_ok());
    }

    #[tokio::test]
    async fn rotation_wrong_keys_and_downgrades() {
        // The listener accepts any of its keys.
        let (d, l) = pair(cfg(1, &[b"k1"]), cfg(2, &[b"k2", b"k1"])).await;
        assert!(d.is_ok() && l.is_ok());
        // A dialer whose first key the listener lacks is refused; its second key works.
        let (a, b) = tokio::io::duplex(1 << 16);
        let (rotating, old) = (cfg(1, &[b"k2", b"k1"]), cfg(2, &[b"k1"]));
        let (d, _) = tokio::join!(
            dial(a, "l".into(), &rotating, 1),
            accept(b, "d".into(), &old)
        );
        assert!(d.is_ok());
        let (d, l) = pair(cfg(1, &[b"k1"]), cfg(2, &[b"k2"])).await;
        assert!(matches!(d, Err(Error::Handshake { .. })), "{:?}", d.err());
        assert!(matches!(l, Err(Error::Handshake { .. })));
        // Plaintext dialer against a keyed listener, and the other way round.
        let (d, l) = pair(cfg(1, &[]), cfg(2, &[b"k"])).await;
        assert!(d.is_err() && l.is_err());
        let (d, l) = pair(cfg(1, &[b"k"]), cfg(2, &[])).await;
        assert!(d.is_err() && l.is_err());
    }

    #[tokio::test]
    async fn refusals_reach_both_sides() {
        let mut other = cfg(2, &[b"k"]);
        other.cluster = "other".into();
        let (d, l) = pair(cfg(1, &[b"k"]), other).await;
        assert!(
            matches!(d, Err(Error::Refused { ref reason, .. }) if reason.contains("cluster")),
            "{:?}",
            d.err()
        );
        assert!(matches!(l, Err(Error::Refused { .. })));
        let (d, l) = pair(cfg(1, &[]), cfg(1, &[])).await;
        assert!(
            matches!(d, Err(Error::Refused { ref reason, .. }) if reason.contains("own node id"))
        );
        assert!(l.is_err());
    }
}
