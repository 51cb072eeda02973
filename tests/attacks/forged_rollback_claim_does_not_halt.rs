//! A forged rollback claim is not a kill switch. A `Pull` whose cursor is far above the node's
//! sequence floor, from another incarnation, used to make the node mark its folder rolled back
//! and stop replicating with every peer. Now such a claim counts only with the node's own cursor
//! proof (an HMAC under a secret that never leaves its folder). Here a plaintext client and a
//! cluster-key holder each send every kind of forgery they can make (no proof, random bytes, a
//! genuine proof of another cursor taken from a real `End`): each connection is served the whole
//! data set (as for a puller that knows nothing), the node never halts nor marks its folder, the
//! claims are counted, and writes keep flowing both ways with its honest peer.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::attack::{hello, noise_dial};
use common::{config, keyed_with, start, wait_until, TestNode, KEY};
use futures_util::{SinkExt, StreamExt};
use meshkv::replication::frame::FrameCodec;
use meshkv::replication::message::{self, Message};
use meshkv::NodeId;
use tokio_util::codec::Framed;

/// The forged pulls: cursors far above `floor`, from an incarnation that is not the node's,
/// with no proof, junk, and `real`'s genuine proof (of another cursor and incarnation).
fn forgeries(floor: u64, real: (u64, u64, [u8; 32])) -> Vec<Message> {
    let (real_seq, real_inc, real_proof) = real;
    let claim = |cursor: u64, inc: u64, proof: Option<[u8; 32]>| Message::Pull {
        cursor: Some(cursor),
        skip_own_after: None,
        cursor_incarnation: Some(inc),
        cursor_proof: proof,
    };
    vec![
        claim(floor + 1_000_000, 12345, None),
        claim(floor + 1_000_000, 12345, Some(rand::random())),
        claim(u64::MAX / 2, 1, Some([0; 32])),
        // A real proof, replayed for another incarnation or a higher sequence.
        claim(real_seq, real_inc.wrapping_add(1).max(1), Some(real_proof)),
        claim(
            floor + 10,
            real_inc.wrapping_add(1).max(1),
            Some(real_proof),
        ),
        claim(real_seq.max(floor) + 1, real_inc ^ 1, Some(real_proof)),
    ]
}

/// What the victim sends back to one pull: `Some(End)` fields once a round ends, or the refusal.
enum Answer {
    Served {
        entries: usize,
        end: (u64, u64, [u8; 32]),
    },
    Refused(String),
}

async fn answer(mut recv: impl AsyncFnMut() -> Option<Message>) -> Answer {
    let mut entries = 0;
    loop {
        match recv().await {
            Some(Message::Batch { entries: e }) => entries += e.len(),
            Some(Message::Heartbeat { .. }) => {}
            Some(Message::End {
                high_seq,
                incarnation,
                proof,
                ..
            }) => {
                return Answer::Served {
                    entries,
                    end: (high_seq, incarnation, proof),
                }
            }
            Some(Message::Refuse { reason }) => return Answer::Refused(reason),
            other => panic!("unexpected answer {other:?}"),
        }
    }
}

async fn plaintext_pull(victim: &TestNode, pull: &Message) -> Answer {
    let stream = tokio::net::TcpStream::connect(victim.node.local_addr())
        .await
        .unwrap();
    let mut framed = Framed::new(stream, FrameCodec::new(1 << 24));
    for m in [hello(NodeId::random(), None), pull.clone()] {
        framed.send(Bytes::from(message::encode(&m))).await.unwrap();
    }
    // The victim's hello first.
    let mut first = true;
    answer(async || loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), framed.next())
            .await
            .expect("no answer")?
            .ok()?;
        let m = message::decode(&frame).ok()?;
        if std::mem::take(&mut first) && matches!(m, Message::Hello(_)) {
            continue;
        }
        return Some(m);
    })
    .await
}

async fn keyed_pull(victim: &TestNode, pull: &Message) -> Answer {
    let mut client = noise_dial(victim.node.local_addr(), KEY)
        .await
        .expect("the right key works");
    client.send(&hello(client.node_id, None)).await;
    client.send(pull).await;
    let mut first = true;
    answer(async || loop {
        let m = client.recv().await?;
        if std::mem::take(&mut first) && matches!(m, Message::Hello(_)) {
            continue;
        }
        return Some(m);
    })
    .await
}

async fn check(victim: TestNode, honest: TestNode, keyed: bool) {
    for i in 0..20u32 {
        victim.db.put(format!("v{i}"), b"x").unwrap();
        honest.db.put(format!("h{i}"), b"y").unwrap();
    }
    common::converged(&[&victim.db, &honest.db], 40, Duration::from_secs(20)).await;
    let floor = victim.db.replica().seq_floor();
    let pull = |m: Message| {
        let victim = &victim;
        async move {
            match keyed {
                true => keyed_pull(victim, &m).await,
                false => plaintext_pull(victim, &m).await,
            }
        }
    };
    // One honest pull, for a genuine proof to replay.
    let fresh = Message::Pull {
        cursor: None,
        skip_own_after: None,
        cursor_incarnation: None,
        cursor_proof: None,
    };
    let real = match pull(fresh).await {
        Answer::Served { end, .. } => end,
        Answer::Refused(r) => panic!("an honest pull was refused: {r}"),
    };
    let forged = forgeries(floor, real);
    for (i, m) in forged.iter().enumerate() {
        match pull(m.clone()).await {
            Answer::Served { entries, .. } => {
                assert_eq!(
                    entries, 40,
                    "forgery {i}: served everything, as a new puller"
                );
            }
            Answer::Refused(r) => panic!("forgery {i} was taken for evidence: {r}"),
        }
    }
    let status = victim.node.status();
    assert_eq!(status.halted, None);
    assert!(status.healthy());
    assert_eq!(status.unproven_rollback_claims, forged.len() as u64);
    assert_eq!(victim.db.replica().rolled_back().unwrap(), None);
    // Replication with the honest peer goes on, both ways.
    victim.db.put(b"after-victim", b"1").unwrap();
    honest.db.put(b"after-honest", b"2").unwrap();
    let (v, h) = (&victim.db, &honest.db);
    wait_until(Duration::from_secs(20), "writes after the attack", || {
        [v, h].iter().all(|db| {
            db.get(b"after-victim").unwrap().is_some() && db.get(b"after-honest").unwrap().is_some()
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_cannot_halt_a_node() {
    let _memory = common::attack::sharing_memory().await;
    let victim = start(config(vec![])).await;
    let honest = start(config(vec![victim.addr()])).await;
    check(victim, honest, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_key_holder_cannot_halt_a_node() {
    let _memory = common::attack::sharing_memory().await;
    let victim = start(keyed_with(vec![], KEY)).await;
    let honest = start(keyed_with(vec![victim.addr()], KEY)).await;
    check(victim, honest, true).await;
}
