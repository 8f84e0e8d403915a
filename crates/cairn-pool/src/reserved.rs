//! Room the pool has promised on each peer that the peer's last report may not count yet:
//! every piece placed is reserved here until a heartbeat that surely includes it. Placement
//! takes it off the reported free space, so the pieces of one upload — or of many at once —
//! never add up to more than a peer has, however long ago it last reported.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use cairn_core::PeerId;

/// A reservation older than this is dropped even if its peer never reports again (it has
/// gone offline and is no longer a candidate).
const FORGET_MS: u64 = 60 * 60 * 1000;

/// Bytes promised per peer, with when.
#[derive(Debug, Default)]
pub struct Reserved(Mutex<HashMap<PeerId, Vec<Promise>>>);

#[derive(Debug, Clone, Copy)]
struct Promise {
    at_ms: u64,
    bytes: u64,
}

impl Reserved {
    fn lock(&self) -> MutexGuard<'_, HashMap<PeerId, Vec<Promise>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Promises `bytes` on `peer` at `now_ms` (a piece placed there).
    pub fn add(&self, peer: PeerId, bytes: u64, now_ms: u64) {
        let mut all = self.lock();
        let promises = all.entry(peer).or_default();
        promises.retain(|p| p.at_ms.saturating_add(FORGET_MS) > now_ms);
        promises.push(Promise {
            at_ms: now_ms,
            bytes,
        });
    }

    /// `peer` reported its usage at `at_ms`: promises made more than `settle_ms` before
    /// are in that figure (their pieces were stored, or never will be) and are dropped.
    pub fn reported(&self, peer: PeerId, at_ms: u64, settle_ms: u64) {
        let mut all = self.lock();
        if let Some(promises) = all.get_mut(&peer) {
            promises.retain(|p| p.at_ms.saturating_add(settle_ms) > at_ms);
            if promises.is_empty() {
                all.remove(&peer);
            }
        }
    }

    /// Bytes promised on `peer` that its reported usage may not count yet.
    pub fn pending(&self, peer: PeerId) -> u64 {
        self.lock()
            .get(&peer)
            .map_or(0, |promises| promises.iter().map(|p| p.bytes).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn peer(n: u8) -> PeerId {
        PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
    }

    #[test]
    fn promises_count_until_a_report_that_includes_them() {
        let reserved = Reserved::default();
        reserved.add(peer(1), 8, 1_000);
        reserved.add(peer(1), 8, 5_000);
        reserved.add(peer(2), 3, 5_000);
        assert_eq!(reserved.pending(peer(1)), 16);
        assert_eq!(reserved.pending(peer(3)), 0);
        // A report at 6 s, settling 2 s: the promise of 1 s is in it, that of 5 s may not be.
        reserved.reported(peer(1), 6_000, 2_000);
        assert_eq!(reserved.pending(peer(1)), 8);
        assert_eq!(reserved.pending(peer(2)), 3);
        reserved.reported(peer(1), 7_001, 2_000);
        assert_eq!(reserved.pending(peer(1)), 0);
        // A peer that never reports again is forgotten in time.
        reserved.add(peer(2), 1, 5_000 + FORGET_MS);
        assert_eq!(reserved.pending(peer(2)), 1);
    }
}
