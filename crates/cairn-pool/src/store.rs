//! The pool's metadata store behind one trait: the peer registry, accounts, uploads and
//! objects with their segments and pieces, and the queue of pieces peers should delete.
//!
//! Every method that changes several rows is one transaction. Times are arguments (Unix
//! milliseconds), never read from a clock. [`SqliteStore`] is the embedded default; a
//! PostgreSQL backend implements the same trait and passes the same
//! conformance suite (`store/conformance.rs`).

mod error;
mod model;
mod sqlite;

#[cfg(test)]
mod conformance;

use cairn_core::{AccountId, PeerId, PieceHash};

pub use error::StoreError;
pub use model::{
    AuditTally, BadUploadId, CommitObject, HeartbeatStats, LevelEntry, NewUpload, ObjectRecord,
    ObjectSegment, ObjectSummary, PeerHealthUpdate, PeerRecord, PeerRegistration, PeerUsage,
    PiecePlacement, SegmentCommit, StoreStats, StoredSegment, UploadId, UploadRecord,
};
pub use sqlite::SqliteStore;

use crate::state::PeerState;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The pool's persistence. See the module documentation for the rules every backend keeps.
pub trait MetadataStore: Send + Sync + 'static {
    /// Registers a peer or updates its registration: address, zone and usage are replaced
    /// and its last heartbeat is `now`. A new peer starts `online`; a known one returns to
    /// `online` unless it is `disqualified`, which it stays.
    fn register_peer(
        &self,
        registration: PeerRegistration,
        now: u64,
    ) -> impl Future<Output = StoreResult<PeerRecord>> + Send;

    /// Records a heartbeat: usage and `now`. A `suspect`, `offline` or `lost` peer is
    /// `online` again; other states stay. [`StoreError::NotFound`] for an unknown peer.
    fn heartbeat(
        &self,
        id: PeerId,
        stats: HeartbeatStats,
        now: u64,
    ) -> impl Future<Output = StoreResult<PeerRecord>> + Send;

    /// One peer.
    fn peer(&self, id: PeerId) -> impl Future<Output = StoreResult<Option<PeerRecord>>> + Send;

    /// Every peer, by id.
    fn peers(&self) -> impl Future<Output = StoreResult<Vec<PeerRecord>>> + Send;

    /// Writes a health tick's states and scores, in one transaction; unknown ids are
    /// skipped, and so is the state of a peer heard from (or moved) since the tick read it.
    fn update_health(
        &self,
        updates: Vec<PeerHealthUpdate>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records a peer's round-trip estimate.
    fn set_peer_rtt(&self, id: PeerId, rtt_ms: f64)
    -> impl Future<Output = StoreResult<()>> + Send;

    /// Puts a peer in `state` (since `now` if it changes).
    fn set_peer_state(
        &self,
        id: PeerId,
        state: PeerState,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Creates the account if new; returns whether it was.
    fn ensure_account(
        &self,
        id: AccountId,
        now: u64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Opens an upload (creating its account if new); [`StoreError::AlreadyExists`] if the
    /// id is taken.
    fn begin_upload(&self, upload: NewUpload) -> impl Future<Output = StoreResult<()>> + Send;

    /// An open upload of this account.
    fn upload(
        &self,
        account: AccountId,
        id: UploadId,
    ) -> impl Future<Output = StoreResult<Option<UploadRecord>>> + Send;

    /// [`begin_upload`](Self::begin_upload) then [`record_placement`](Self::record_placement)
    /// in one transaction.
    fn begin_with_placement(
        &self,
        upload: NewUpload,
        pieces: Vec<PiecePlacement>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Remembers that peers were given put orders for these pieces of an open upload, so
    /// that whatever they store is collected if it is not committed. A placed piece is taken
    /// off its peer's delete queue. [`StoreError::NotFound`] unless the upload is open.
    fn record_placement(
        &self,
        upload: UploadId,
        pieces: Vec<PiecePlacement>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The placements recorded for one segment of an open upload.
    fn placements(
        &self,
        upload: UploadId,
        segment: u32,
    ) -> impl Future<Output = StoreResult<Vec<PiecePlacement>>> + Send;

    /// Records a segment's stored pieces; committing an index again replaces its pieces.
    /// [`StoreError::NotFound`] unless the upload is this account's and open;
    /// [`StoreError::Conflict`] if a fragment is listed twice on one peer.
    fn commit_segment(
        &self,
        account: AccountId,
        upload: UploadId,
        segment: SegmentCommit,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Makes an upload a visible object once segments `0..segment_count` (and no others)
    /// are committed. An object already at the path is replaced and its pieces queued for
    /// deletion, as are placed pieces that were not committed. Returns the replaced
    /// object's id.
    fn commit_object(
        &self,
        account: AccountId,
        upload: UploadId,
        commit: CommitObject,
        now: u64,
    ) -> impl Future<Output = StoreResult<Option<UploadId>>> + Send;

    /// [`commit_segment`](Self::commit_segment) then [`commit_object`](Self::commit_object)
    /// in one transaction: a small file's last (often only) segment and the object land
    /// together or not at all.
    fn commit_with_segment(
        &self,
        account: AccountId,
        upload: UploadId,
        segment: SegmentCommit,
        commit: CommitObject,
        now: u64,
    ) -> impl Future<Output = StoreResult<Option<UploadId>>> + Send;

    /// Abandons an open upload; everything placed for it is queued for deletion.
    fn abort_upload(
        &self,
        account: AccountId,
        upload: UploadId,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Abandons every open upload whose expiry is at or before `now`; returns how many.
    fn expire_uploads(&self, now: u64) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Committed objects whose path starts with `prefix` (byte-wise) and sorts after
    /// `after`, in path order, at most `limit`.
    fn list_objects(
        &self,
        account: AccountId,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ObjectSummary>>> + Send;

    /// One level under `prefix` (empty or ending in `/`), as a listing with delimiter `/`:
    /// committed objects directly under it and the sub-folder prefixes of deeper ones, in
    /// path order, after `after` (an object's path, or a sub-folder prefix whose contents
    /// are then skipped), at most `limit` entries in all. Each sub-folder costs one seek
    /// past its contents, never a read of them.
    fn list_level(
        &self,
        account: AccountId,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<LevelEntry>>> + Send;

    /// One committed object with its segments and pieces.
    fn object(
        &self,
        account: AccountId,
        path: String,
    ) -> impl Future<Output = StoreResult<Option<ObjectRecord>>> + Send;

    /// Moves an object to a free path.
    fn rename_object(
        &self,
        account: AccountId,
        from: String,
        to: String,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Moves every object under `from_prefix` to `to_prefix`, all or none; returns how many.
    /// [`StoreError::AlreadyExists`] if a target is held by an object that does not move.
    fn rename_prefix(
        &self,
        account: AccountId,
        from_prefix: String,
        to_prefix: String,
        now: u64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Removes an object and queues its pieces for deletion.
    fn delete_object(
        &self,
        account: AccountId,
        path: String,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

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

    /// Counts across the store.
    fn stats(&self) -> impl Future<Output = StoreResult<StoreStats>> + Send;

    /// Committed segments (of every account) below full redundancy, the repair queue: a
    /// segment counts when some fragment `0..k+m` of its object's shape has fewer than `r`
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
        object: UploadId,
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

    /// Counts one audit of `peer` (passed or failed) and returns its tally.
    /// [`StoreError::NotFound`] for an unknown peer.
    fn record_audit(
        &self,
        peer: PeerId,
        passed: bool,
    ) -> impl Future<Output = StoreResult<AuditTally>> + Send;

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
        after: Option<(UploadId, u32)>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ObjectSegment>>> + Send;

    /// Bytes of pieces `account` may have on peers now, what its quota counts: every piece
    /// of its segments committed (in objects and in open uploads), and every placement (put
    /// order, spares included) of its open uploads' segments not committed yet. A segment
    /// placed twice counts both placements until it is committed.
    fn account_usage(&self, account: AccountId) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Whether a committed object of `account` has piece `hash` on `peer`.
    fn account_has_piece(
        &self,
        account: AccountId,
        peer: PeerId,
        hash: PieceHash,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}
