//! The metadata store's memory of what peers hold that its records do not place, and how
//! forgotten records are given back: the [`RecoveryStore`] trait.
//!
//! A pool whose store was lost or restored from an older copy learns from each peer's
//! registration which pieces it holds that the records do not place (`held`), and which
//! of them start as ledger pieces (`cairn_core::ledger`), by locator. An account's client
//! finds its ledger through those, and gives its records back
//! ([`RecoveryStore::import_objects`]); each fragment is placed on the peers that said they
//! hold it, and a fragment no peer has reported yet is awaited: placed when a peer holding
//! it registers.

use cairn_core::{AccountId, PeerId, PieceHash};

use super::*;

/// Pieces peers hold that the records do not place, ledger pieces by locator, and records
/// given back.
///
/// One part of [`MetadataStore`]; the module documentation of `store` has the rules
/// every backend keeps.
pub trait RecoveryStore: Send + Sync + 'static {
    /// Records what peer `peer` said at registration it holds that the records do not
    /// place (`unknown`) and its ledger pieces (`ledger`: locator, piece, size), replacing
    /// what it said before. An unknown piece an imported record awaits is placed at once
    /// (unless the peer holds another fragment of that segment). Returns how many were
    /// placed.
    fn record_held(
        &self,
        peer: PeerId,
        unknown: Vec<PieceHash>,
        ledger: Vec<([u8; 16], PieceHash, u64)>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Ledger pieces under `locator` by hash (after `after`), at most `limit` rows, each
    /// with its size and one holder: `(piece, size, peer)`.
    fn ledger_held(
        &self,
        locator: [u8; 16],
        after: Option<PieceHash>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<(PieceHash, u64, PeerId)>>> + Send;

    /// Gives back records the store forgot, as committed objects of `account`, in one
    /// transaction, one outcome each: `Known` if the object is in the records already,
    /// `Taken` if another object holds its path (nothing changes for it in either case).
    /// Each fragment goes on peers that reported holding it and no other fragment of its
    /// segment, at most the redundancy's copies; a fragment none reported is awaited.
    fn import_objects(
        &self,
        account: AccountId,
        objects: Vec<ImportedObject>,
        now: u64,
    ) -> impl Future<Output = StoreResult<Vec<Imported>>> + Send;
}
