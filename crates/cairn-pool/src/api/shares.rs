//! Share endpoints (issue 17), thin adapters over [`Shares`]: an owner makes, lists and
//! revokes its shares with signed requests; whoever has a link opens the share and asks
//! orders for its objects without an account, each share held to a request rate of its
//! own.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use cairn_core::ShareId;
use cairn_proto::api::{
    CreateShare, OpenShare, RevokeShare, ShareCreated, ShareList, ShareOpened, ShareRevoked,
    ShareSources, ShareSourcesRequest,
};
use serde::de::DeserializeOwned;

use super::objects::account_id;
use super::signed::{Signed, decode};
use crate::app::App;
use crate::error::ApiError;
use crate::service::Shares;
use crate::store::MetadataStore;

/// The largest body a request without a signature may carry.
pub const MAX_PUBLIC_BODY: usize = 64 * 1024;

/// The rate key of share `id`: its own bucket, apart from every signing key's (no
/// Ed25519 key anyone can make starts with these 16 bytes).
fn rate_key(id: ShareId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(b"cairn share rate");
    key[16..].copy_from_slice(id.as_bytes());
    key
}

/// A request without a signature (a share's recipient has no account): its JSON body,
/// at most [`MAX_PUBLIC_BODY`].
#[derive(Debug)]
pub struct Public<T>(pub T);

impl<S, T> FromRequest<Arc<App<S>>> for Public<T>
where
    S: Send + Sync + 'static,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &Arc<App<S>>) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let declared = super::limits::declared_length(&parts.headers);
        let bytes: Bytes =
            super::limits::read_body(body, declared, MAX_PUBLIC_BODY, app.config.body_timeout)
                .await?;
        Ok(Self(decode(&bytes)?))
    }
}

/// Charges `requests` to share `id`'s rate.
fn charge<S>(app: &App<S>, id: ShareId, requests: u32) -> Result<(), ApiError> {
    app.rates
        .lock()
        .map_err(|_| ApiError::internal("checking a request rate", &"rate memory poisoned"))?
        .charge(rate_key(id), requests.max(1), app.now_ms())?;
    Ok(())
}

/// `POST /v1/shares`: keeps the share the signing account made.
pub async fn create<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<CreateShare>,
) -> Result<Json<ShareCreated>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Shares::new(&app).create(account, request.body).await?))
}

/// `GET /v1/shares`: the signing account's shares, newest first.
pub async fn list<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<ShareList>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Shares::new(&app).list(account).await?))
}

/// `POST /v1/shares/revoke`: revokes one of the signing account's shares.
pub async fn revoke<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<RevokeShare>,
) -> Result<Json<ShareRevoked>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Shares::new(&app).revoke(account, request.body).await?))
}

/// `POST /v1/public/shares/open`: opens a share, counting one download.
pub async fn open<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Public(body): Public<OpenShare>,
) -> Result<Json<ShareOpened>, ApiError> {
    charge(&app, body.id, 1)?;
    Ok(Json(Shares::new(&app).open(body).await?))
}

/// `POST /v1/public/shares/sources`: get orders for objects of a live share, each object
/// charged to the share's rate.
pub async fn sources<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Public(body): Public<ShareSourcesRequest>,
) -> Result<Json<ShareSources>, ApiError> {
    let asked = u32::try_from(body.objects.len()).unwrap_or(u32::MAX);
    charge(&app, body.id, asked)?;
    Ok(Json(Shares::new(&app).sources(body).await?))
}
