//! The metadata store's shares (issue 17): the [`ShareStore`] trait.
//!
//! A share is what an owner's client left at the pool for a link: the hash of the token a
//! recipient shows, the manifest sealed under the link's key (opaque here), a label sealed
//! under the owner's keys (opaque here: the owner's client lists its shares by it), the
//! objects it shares, and its limits. The pool never sees the link's key.
//!
//! An object its owner deletes or replaces while a share still opening (not revoked,
//! expired or spent) names it is kept — charged to the owner, repaired as any other — at
//! a path of its own under [`KEPT_FOLDER`], which no client lists, and removed once no
//! such share names it ([`ShareStore::sweep_kept`], and at once on a revocation).

/// The first component of the path of an object kept for shares after its owner removed
/// it: `kept/<object id>`. Shorter than any name's ciphertext, so it never names a file.
pub use cairn_proto::api::KEPT_FOLDER;

use cairn_core::{AccountId, ObjectId, ShareId};

use super::*;

/// A share as the owner's client creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    /// Its id (from the link).
    pub id: ShareId,
    /// The owner.
    pub account: AccountId,
    /// The hash of the token a recipient shows.
    pub token_hash: [u8; 32],
    /// The manifest, sealed under the link's key.
    pub manifest: Vec<u8>,
    /// What the owner's client calls it, sealed under the owner's keys.
    pub label: Vec<u8>,
    /// The objects it shares (the owner's committed objects).
    pub objects: Vec<ObjectId>,
    /// When it was made (Unix ms).
    pub created_ms: u64,
    /// When it stops opening (Unix ms), if ever.
    pub expires_ms: Option<u64>,
    /// How many times it may be opened, if limited.
    pub max_downloads: Option<u64>,
}

/// A share as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    /// Its id.
    pub id: ShareId,
    /// The owner.
    pub account: AccountId,
    /// The hash of the token a recipient shows.
    pub token_hash: [u8; 32],
    /// The sealed manifest.
    pub manifest: Vec<u8>,
    /// The sealed label.
    pub label: Vec<u8>,
    /// How many objects it shares.
    pub objects: u64,
    /// When it was made (Unix ms).
    pub created_ms: u64,
    /// When it stops opening (Unix ms), if ever.
    pub expires_ms: Option<u64>,
    /// How many times it may be opened, if limited.
    pub max_downloads: Option<u64>,
    /// How many times it was opened.
    pub downloads: u64,
    /// When its owner revoked it (Unix ms), if they did.
    pub revoked_ms: Option<u64>,
}

/// Where a share stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareState {
    /// It opens.
    Live,
    /// Its owner revoked it.
    Revoked,
    /// Its time is over.
    Expired,
    /// It was opened as many times as it may be.
    Exhausted,
}

impl ShareState {
    /// The word the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Exhausted => "exhausted",
        }
    }
}

impl ShareRecord {
    /// Its state at `now` (Unix ms).
    pub fn state(&self, now: u64) -> ShareState {
        if self.revoked_ms.is_some() {
            ShareState::Revoked
        } else if self.expires_ms.is_some_and(|at| now >= at) {
            ShareState::Expired
        } else if self.max_downloads.is_some_and(|max| self.downloads >= max) {
            ShareState::Exhausted
        } else {
            ShareState::Live
        }
    }
}

/// Shares: made by owners, opened by whoever has a link.
///
/// One part of [`MetadataStore`]; the module documentation of `store` has the rules
/// every backend keeps.
pub trait ShareStore: Send + Sync + 'static {
    /// Keeps `share`. `AlreadyExists` if its id is taken; `NotFound` (and nothing kept)
    /// if one of its objects is not a committed object of its account.
    fn create_share(&self, share: NewShare) -> impl Future<Output = StoreResult<()>> + Send;

    /// The share `id`, whoever owns it.
    fn share(&self, id: ShareId) -> impl Future<Output = StoreResult<Option<ShareRecord>>> + Send;

    /// `account`'s shares, newest first.
    fn shares(
        &self,
        account: AccountId,
    ) -> impl Future<Output = StoreResult<Vec<ShareRecord>>> + Send;

    /// Revokes `account`'s share `id` at `now` (revoking again changes nothing);
    /// `NotFound` if the account has no such share.
    fn revoke_share(
        &self,
        account: AccountId,
        id: ShareId,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Counts one opening of share `id` if it is live at `now`, in one step (two
    /// recipients racing for the last download cannot both have it); answers whether it
    /// was.
    fn count_download(
        &self,
        id: ShareId,
        now: u64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Removes the objects kept for shares (their owner removed or replaced them) that
    /// no share still opening at `now` names; answers how many went.
    fn sweep_kept(&self, now: u64) -> impl Future<Output = StoreResult<u64>> + Send;

    /// The record of `object` if share `id` shares it and it is still committed.
    fn shared_object(
        &self,
        id: ShareId,
        object: ObjectId,
    ) -> impl Future<Output = StoreResult<Option<ObjectRecord>>> + Send;
}
