//! The metadata store's deletion queue: the [`DeletionStore`] trait.

use cairn_core::{PeerId, PieceHash};

use super::*;

/// The deletion queue: pieces peers should delete, and every piece the pool expects a
/// peer to hold.
///
/// One part of [`MetadataStore`]; the module documentation of `store` has the rules
/// every backend keeps.
pub trait DeletionStore: Send + Sync + 'static {
    /// Pieces a peer should delete, oldest first.
    fn pending_deletes(
        &self,
        peer: PeerId,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<PieceHash>>> + Send;

    /// Forgets deletions the peer reports done.
    fn ack_deletes(
        &self,
        peer: PeerId,
        hashes: Vec<PieceHash>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Every piece the pool expects on a peer (committed or part of an open upload).
    fn pieces_on_peer(
        &self,
        peer: PeerId,
    ) -> impl Future<Output = StoreResult<Vec<PieceHash>>> + Send;
}
