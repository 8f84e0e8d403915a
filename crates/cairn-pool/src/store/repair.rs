//! The metadata store's repair and migration: the [`RepairStore`] trait.

use cairn_core::{PeerId, PieceHash};

use super::*;

/// Repair and migration: the segments below redundancy or with damaged pieces, recording
/// a repair or a move (never doubling a peer in a segment, invariant 2), audit samples,
/// and cursors over what peers hold.
///
/// One part of [`MetadataStore`]; the module documentation of `store` has the rules
/// every backend keeps.
pub trait RepairStore: Send + Sync + 'static {
    /// Committed segments (of every account) below full redundancy, the repair queue: a
    /// segment counts when some fragment `0..k+m` of its object's redundancy has fewer than `r`
    /// pieces on `online` peers. Open uploads do not count.
    fn degraded_segments(&self) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Committed segments with a piece the pool can no longer count on — known damaged, or
    /// on a `lost`, `left`, `disqualified` or unknown peer — at most `limit`, each with all
    /// its pieces.
    fn damaged_segments(
        &self,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ObjectSegment>>> + Send;

    /// Records a repair of segment `index` of committed object `object`, all or nothing:
    /// the pieces on the `removed` peers leave the records (their peers are asked to delete
    /// them, so a returning peer sheds its surplus) and the `added` pieces join. If the
    /// object is gone meanwhile, the added pieces are queued for deletion instead and the
    /// answer is [`StoreError::NotFound`]; if a peer would end up holding two pieces of the
    /// segment, likewise with [`StoreError::Conflict`] (the removed pieces stay).
    fn repair_segment(
        &self,
        object: ObjectId,
        index: u32,
        removed: Vec<PeerId>,
        added: Vec<PiecePlacement>,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Marks the pieces `hash` on `peer` as damaged; returns how many records changed.
    fn mark_corrupt(
        &self,
        peer: PeerId,
        hash: PieceHash,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// A random committed piece on `peer` not known damaged, with its size.
    fn random_piece(
        &self,
        peer: PeerId,
    ) -> impl Future<Output = StoreResult<Option<(PieceHash, u64)>>> + Send;

    /// What the records place on each peer that has anything (pieces of committed
    /// segments, and deletions queued for it), by peer.
    fn peer_usage(
        &self,
    ) -> impl Future<Output = StoreResult<std::collections::HashMap<PeerId, PeerUsage>>> + Send;

    /// Committed segments with a piece on `peer` not known damaged, at most `limit`, each
    /// with all its pieces.
    fn segments_on_peer(
        &self,
        peer: PeerId,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ObjectSegment>>> + Send;

    /// Committed segments in (object, index) order after `after`, at most `limit`, each
    /// with all its pieces: a cursor over everything stored.
    fn segments_after(
        &self,
        after: Option<(ObjectId, u32)>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ObjectSegment>>> + Send;
}
