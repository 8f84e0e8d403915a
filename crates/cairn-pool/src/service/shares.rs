//! Shares (issue 17): an owner leaves at the pool what a link opens — the token's hash,
//! the manifest sealed under the link's key, a label sealed under the owner's keys, the
//! objects shared and the share's limits — and whoever has the link opens it and fetches
//! the shared objects' pieces under orders the pool signs only while the share is live.
//! The pool never sees the link's key, a name or a file key.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::share::{MAX_SHARED, ShareToken};
use cairn_core::{AccountId, ShareId};
use cairn_proto::api::{
    CreateShare, OpenShare, RevokeShare, ShareCreated, ShareList, ShareOpened, ShareRevoked,
    ShareSources, ShareSourcesRequest, ShareSummary,
};
use cairn_proto::limits::MAX_SOURCES;
use data_encoding::{BASE64URL_NOPAD, HEXLOWER_PERMISSIVE};

use super::{Invalid, ObjectError, Objects};
use crate::app::{App, SignError};
use crate::store::{MetadataStore, NewShare, ShareRecord, ShareState, StoreError};

/// How long a get order signed for a share lives: a revoked share's orders lapse within it.
pub const SHARE_ORDER_TTL: Duration = Duration::from_secs(10 * 60);

/// The longest sealed label kept.
const MAX_LABEL: usize = 4096;

/// Why a share request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ShareServiceError {
    /// The request does not fit the protocol.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No share has this id (for this account, when its owner asks).
    #[error("no share {0}; check the link")]
    NotFound(ShareId),
    /// The token does not open the share.
    #[error("this link (or its password) does not open share {0}")]
    WrongToken(ShareId),
    /// The owner revoked it.
    #[error("share {0} was revoked by its owner")]
    Revoked(ShareId),
    /// Its time is over.
    #[error("share {0} has expired")]
    Expired(ShareId),
    /// It was opened as often as it may be.
    #[error("share {0} was downloaded as many times as its owner allowed")]
    Exhausted(ShareId),
    /// A share with this id exists.
    #[error("share {0} already exists")]
    AlreadyExists(ShareId),
    /// One of the objects to share is not the account's.
    #[error("{0}; share only your own files")]
    ObjectNotFound(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(StoreError),
    /// An order could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl From<StoreError> for ShareServiceError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<ObjectError> for ShareServiceError {
    fn from(e: ObjectError) -> Self {
        match e {
            ObjectError::Invalid(invalid) => Self::Invalid(invalid),
            ObjectError::Store(store) => Self::Store(store),
            ObjectError::Sign(sign) => Self::Sign(sign),
            other => Self::Store(StoreError::Backend(other.to_string())),
        }
    }
}

/// The share service over a pool's state.
pub struct Shares<'a, S> {
    app: &'a Arc<App<S>>,
}

impl<'a, S: MetadataStore> Shares<'a, S> {
    /// The service over `app`.
    pub fn new(app: &'a Arc<App<S>>) -> Self {
        Self { app }
    }

    /// Keeps the share `account` made.
    pub async fn create(
        &self,
        account: AccountId,
        body: CreateShare,
    ) -> Result<ShareCreated, ShareServiceError> {
        let now = self.app.now_ms();
        let token_hash: [u8; 32] = HEXLOWER_PERMISSIVE
            .decode(body.token_hash.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Invalid::new("the token hash is not 64 hex digits"))?;
        let manifest = BASE64URL_NOPAD
            .decode(body.manifest.as_bytes())
            .map_err(|_| Invalid::new("the manifest is not unpadded base64url"))?;
        if manifest.is_empty() {
            return Err(Invalid::new("the manifest is empty").into());
        }
        let label = BASE64URL_NOPAD
            .decode(body.label.as_bytes())
            .map_err(|_| Invalid::new("the label is not unpadded base64url"))?;
        if label.len() > MAX_LABEL {
            return Err(Invalid::new(format!("the label is over {MAX_LABEL} bytes")).into());
        }
        if body.objects.len() > MAX_SHARED as usize {
            return Err(Invalid::new(format!("a share holds at most {MAX_SHARED} files")).into());
        }
        if body.expires_ms.is_some_and(|at| at <= now) {
            return Err(Invalid::new("the share would expire before it is made").into());
        }
        if body.max_downloads == Some(0) {
            return Err(Invalid::new("a share must allow at least one download").into());
        }
        let share = NewShare {
            id: body.id,
            account,
            token_hash,
            manifest,
            label,
            objects: body.objects,
            created_ms: now,
            expires_ms: body.expires_ms,
            max_downloads: body.max_downloads,
        };
        match self.app.store.create_share(share).await {
            Ok(()) => Ok(ShareCreated {
                id: body.id,
                created_ms: now,
            }),
            Err(StoreError::AlreadyExists(_)) => Err(ShareServiceError::AlreadyExists(body.id)),
            Err(StoreError::NotFound(what)) => Err(ShareServiceError::ObjectNotFound(what)),
            Err(e) => Err(e.into()),
        }
    }

    /// `account`'s shares, newest first.
    pub async fn list(&self, account: AccountId) -> Result<ShareList, ShareServiceError> {
        let now = self.app.now_ms();
        let shares = self.app.store.shares(account).await?;
        Ok(ShareList {
            shares: shares
                .into_iter()
                .map(|s| ShareSummary {
                    id: s.id,
                    label: BASE64URL_NOPAD.encode(&s.label),
                    created_ms: s.created_ms,
                    expires_ms: s.expires_ms,
                    max_downloads: s.max_downloads,
                    downloads: s.downloads,
                    objects: s.objects,
                    state: s.state(now).as_str().to_owned(),
                })
                .collect(),
        })
    }

    /// Revokes `account`'s share: nothing of it opens or is served from now on.
    pub async fn revoke(
        &self,
        account: AccountId,
        body: RevokeShare,
    ) -> Result<ShareRevoked, ShareServiceError> {
        match (self.app.store)
            .revoke_share(account, body.id, self.app.now_ms())
            .await
        {
            Ok(()) => Ok(ShareRevoked { id: body.id }),
            Err(StoreError::NotFound(_)) => Err(ShareServiceError::NotFound(body.id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a share for whoever shows its token, counting one download.
    pub async fn open(&self, body: OpenShare) -> Result<ShareOpened, ShareServiceError> {
        let share = self.checked(body.id, &body.token).await?;
        let now = self.app.now_ms();
        refuse_unless(&share, now, false)?;
        if !self.app.store.count_download(share.id, now).await? {
            // Another recipient took the last download (or the time ran out) meanwhile.
            let again = self
                .app
                .store
                .share(share.id)
                .await?
                .ok_or(ShareServiceError::NotFound(share.id))?;
            refuse_unless(&again, self.app.now_ms(), false)?;
            return Err(ShareServiceError::Exhausted(share.id));
        }
        Ok(ShareOpened {
            manifest: BASE64URL_NOPAD.encode(&share.manifest),
            expires_ms: share.expires_ms,
        })
    }

    /// Get orders for objects of a live share, for whoever shows its token: short-lived,
    /// so a revoked share's lapse within [`SHARE_ORDER_TTL`]. A share downloaded as often
    /// as allowed still serves those who opened it.
    pub async fn sources(
        &self,
        body: ShareSourcesRequest,
    ) -> Result<ShareSources, ShareServiceError> {
        if body.objects.len() > MAX_SOURCES {
            return Err(Invalid::new(format!(
                "{} objects asked at once; at most {MAX_SOURCES}",
                body.objects.len()
            ))
            .into());
        }
        let share = self.checked(body.id, &body.token).await?;
        let now = self.app.now_ms();
        refuse_unless(&share, now, true)?;
        let peers = self.app.store.peers().await?;
        let expires_at = App::<S>::expiry(now, SHARE_ORDER_TTL.min(self.app.config.order_ttl));
        let objects = Objects::new(self.app);
        let mut answers = Vec::with_capacity(body.objects.len());
        for object in body.objects {
            answers.push(
                match self.app.store.shared_object(share.id, object).await? {
                    Some(record) => {
                        let mut sources =
                            objects.sources_until(share.account, record, &peers, expires_at)?;
                        // The owner's encrypted path is none of the recipient's business.
                        sources.path = object.to_string();
                        Some(sources)
                    }
                    None => None,
                },
            );
        }
        Ok(ShareSources { objects: answers })
    }

    /// The share `id` if `token` opens it.
    async fn checked(&self, id: ShareId, token: &str) -> Result<ShareRecord, ShareServiceError> {
        let token = ShareToken::from_str(token)
            .map_err(|_| Invalid::new("the token is not 32 bytes of unpadded base64url"))?;
        let share = self
            .app
            .store
            .share(id)
            .await?
            .ok_or(ShareServiceError::NotFound(id))?;
        if !token.matches(&share.token_hash) {
            return Err(ShareServiceError::WrongToken(id));
        }
        Ok(share)
    }
}

/// Refuses a share that is not live at `now` (one downloaded as often as allowed passes
/// when `spent_ok`).
fn refuse_unless(share: &ShareRecord, now: u64, spent_ok: bool) -> Result<(), ShareServiceError> {
    match share.state(now) {
        ShareState::Live => Ok(()),
        ShareState::Exhausted if spent_ok => Ok(()),
        ShareState::Revoked => Err(ShareServiceError::Revoked(share.id)),
        ShareState::Expired => Err(ShareServiceError::Expired(share.id)),
        ShareState::Exhausted => Err(ShareServiceError::Exhausted(share.id)),
    }
}
