//! The metadata store's object index: the [`ObjectStore`] trait.

use cairn_core::{AccountId, PeerId, PieceHash};

use super::*;

/// The object index: accounts, uploads and their placements, segments and pieces,
/// committed objects, listing, renames, store counts, and what an account stores.
///
/// One part of [`MetadataStore`]; the module documentation of `store` has the rules
/// every backend keeps.
pub trait ObjectStore: Send + Sync + 'static {
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
        id: ObjectId,
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
        upload: ObjectId,
        pieces: Vec<PiecePlacement>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The placements recorded for one segment of an open upload.
    fn placements(
        &self,
        upload: ObjectId,
        segment: u32,
    ) -> impl Future<Output = StoreResult<Vec<PiecePlacement>>> + Send;

    /// Records a segment's stored pieces; committing an index again replaces its pieces.
    /// [`StoreError::NotFound`] unless the upload is this account's and open;
    /// [`StoreError::Conflict`] if a fragment is listed twice on one peer.
    fn commit_segment(
        &self,
        account: AccountId,
        upload: ObjectId,
        segment: SegmentCommit,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Makes an upload a visible object once segments `0..segment_count` (and no others)
    /// are committed. An object already at the path is replaced and its pieces queued for
    /// deletion, as are placed pieces that were not committed. Returns the replaced
    /// object's id.
    fn commit_object(
        &self,
        account: AccountId,
        upload: ObjectId,
        commit: CommitObject,
        now: u64,
    ) -> impl Future<Output = StoreResult<Option<ObjectId>>> + Send;

    /// [`commit_segment`](Self::commit_segment) then [`commit_object`](Self::commit_object)
    /// in one transaction: a small file's last (often only) segment and the object land
    /// together or not at all.
    fn commit_with_segment(
        &self,
        account: AccountId,
        upload: ObjectId,
        segment: SegmentCommit,
        commit: CommitObject,
        now: u64,
    ) -> impl Future<Output = StoreResult<Option<ObjectId>>> + Send;

    /// Abandons an open upload; everything placed for it is queued for deletion.
    fn abort_upload(
        &self,
        account: AccountId,
        upload: ObjectId,
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

    /// Counts across the store.
    fn stats(&self) -> impl Future<Output = StoreResult<StoreStats>> + Send;

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
