//! Negative controls: switches that break meshkv on purpose, so that the fault suite can prove
//! its checker catches what it exists for (test-only, compiled only with the cargo feature
//! `negative-controls`; without it every check below is a constant `false`).
//!
//! One switch is active at a time, process-wide:
//! - [`Sabotage::ArrivalOrderTieBreak`]: on equal clocks the incoming write always wins, so the
//!   winner depends on the order writes arrive in — nodes diverge.
//! - [`Sabotage::DropTombstonesOnApply`]: remote deletes are ignored — deleted keys come back.
//! - [`Sabotage::AckBeforeCommit`]: every fifth uncontended `put`/`delete` is acknowledged with
//!   its version but never committed — acknowledged writes are lost.
//! - [`Sabotage::CursorBeforeCommit`]: a puller stores a round's cursor at its `End` before it
//!   commits the round's entries (invariant 8 broken), and one such round in four dies in
//!   between, as a crash would: its entries are gone while the cursor covers them — writes are
//!   lost on the puller, and on every node that pulls them through it.
//! - [`Sabotage::OutOfOrderVisibility`]: every eighth sequence is held back and taken by a later
//!   commit, as by a writer that took its sequence outside the commit lock (invariant 3 broken):
//!   a round sees sequence N + 1 before N, its cursor passes N, and N is never sent — writes are
//!   lost on every peer.
//! - [`Sabotage::ReuseSequences`]: after a restart, a write to a key last written before it
//!   rewrites that key's log entry in place, at its old sequence, instead of taking a new one
//!   (invariant 4 broken): peers whose cursor passed that sequence never fetch the write —
//!   writes are lost and nodes diverge.

#[cfg(feature = "negative-controls")]
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// A way to break meshkv on purpose. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Sabotage {
    /// Everything works as documented.
    Off = 0,
    /// Equal clocks: the incoming write wins.
    ArrivalOrderTieBreak = 1,
    /// Remote deletes are skipped.
    DropTombstonesOnApply = 2,
    /// Some writes are acknowledged and never committed.
    AckBeforeCommit = 3,
    /// A round's cursor is stored before its entries are committed.
    CursorBeforeCommit = 4,
    /// Some sequences become visible after a higher one.
    OutOfOrderVisibility = 5,
    /// After a restart, sequences handed out before are handed out again.
    ReuseSequences = 6,
}

#[cfg(feature = "negative-controls")]
static ACTIVE: AtomicU8 = AtomicU8::new(0);
#[cfg(feature = "negative-controls")]
static ACKED: AtomicU64 = AtomicU64::new(0);

/// Activates `sabotage` for the whole process (`Sabotage::Off` restores normal behaviour).
#[cfg(feature = "negative-controls")]
pub fn set(sabotage: Sabotage) {
    ACTIVE.store(sabotage as u8, Ordering::SeqCst);
}

/// True while `sabotage` is active.
#[cfg(feature = "negative-controls")]
pub(crate) fn active(sabotage: Sabotage) -> bool {
    ACTIVE.load(Ordering::Relaxed) == sabotage as u8
}

/// True while `sabotage` is active (never: built without `negative-controls`).
#[cfg(not(feature = "negative-controls"))]
pub(crate) const fn active(_sabotage: Sabotage) -> bool {
    false
}

/// True while any sabotage is active (the fault suites then turn anti-entropy off, which would
/// repair the damage some of them do and hide it from the checker).
#[cfg(feature = "negative-controls")]
pub fn any_active() -> bool {
    ACTIVE.load(Ordering::Relaxed) != Sabotage::Off as u8
}

/// True while any sabotage is active (never: built without `negative-controls`).
#[cfg(not(feature = "negative-controls"))]
pub const fn any_active() -> bool {
    false
}

/// With [`Sabotage::AckBeforeCommit`] active, true for every fifth write: acknowledge it, skip
/// the commit.
pub(crate) fn skip_commit() -> bool {
    #[cfg(feature = "negative-controls")]
    {
        active(Sabotage::AckBeforeCommit) && ACKED.fetch_add(1, Ordering::Relaxed) % 5 == 4
    }
    #[cfg(not(feature = "negative-controls"))]
    {
        false
    }
}
