//! Account endpoints outside the upload path, as thin adapters over [`Objects`]: opening an
//! account, and how healthy its objects are, one in detail (every piece and its state) or
//! all at a glance.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use cairn_proto::api::{AccountHealth, AccountOpened, AccountUsage, ObjectHealth};

use super::objects::{PathQuery, account_id};
use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::service::Objects;
use crate::store::MetadataStore;

/// `POST /v1/account`: opens the signing account; opening it again changes nothing.
pub async fn open<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<AccountOpened>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Objects::new(&app).open_account(account).await?))
}

/// `GET /v1/object/health?path=`: every recorded piece of a committed object with its state,
/// and per segment whether it is at full redundancy and whether it can be read.
pub async fn object_health<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<PathQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<ObjectHealth>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Objects::new(&app).health(account, &query.path).await?))
}

/// `GET /v1/account/usage`: the space the account uses against its quota (one sum in the
/// store, cheap enough for every WebDAV quota question).
pub async fn account_usage<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<AccountUsage>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Objects::new(&app).account_usage(account).await?))
}

/// `GET /v1/account/health`: the account's committed objects counted by condition (see
/// [`Objects::account_health`] for what it costs).
pub async fn account_health<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<AccountHealth>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Objects::new(&app).account_health(account).await?))
}
