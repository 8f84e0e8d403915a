//! HTTP for the reads a front end makes of a drive without walking it (the logic is
//! [`crate::service::Objects`]): one level of a folder (a
//! listing with delimiter `/`, each sub-folder skipped with one seek) and the sources of
//! the segments a byte range needs (orders signed for those pieces only).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use cairn_proto::api::{FolderList, ObjectSources};
use serde::Deserialize;

use super::objects::account_id;
use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::service::Objects;
use crate::store::MetadataStore;

/// Query of `GET /v1/objects/level`.
#[derive(Debug, Deserialize)]
pub struct LevelQuery {
    /// Folder prefix (empty or ending in `/`).
    #[serde(default)]
    prefix: String,
    /// Start after this object path or sub-folder prefix.
    after: Option<String>,
    /// Entries (objects and sub-folders) per page.
    limit: Option<u32>,
}

/// `GET /v1/objects/level?prefix=&after=&limit=`: one level of a folder.
pub async fn level<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<LevelQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<FolderList>, ApiError> {
    let account = account_id(request.signer)?;
    let page = (Objects::new(&app))
        .level(account, query.prefix, query.after, query.limit)
        .await?;
    Ok(Json(page))
}

/// Query of `GET /v1/object/range`.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    /// Encrypted path.
    path: String,
    /// First segment wanted (the first, if absent).
    #[serde(default)]
    first: u32,
    /// Last segment wanted, inclusive (the last, if absent).
    #[serde(default = "last_segment")]
    last: u32,
}

fn last_segment() -> u32 {
    u32::MAX
}

/// `GET /v1/object/range?path=&first=&last=`: the object's record with get orders for the
/// pieces of segments `first..=last` only.
pub async fn range<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<RangeQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<ObjectSources>, ApiError> {
    let account = account_id(request.signer)?;
    let sources = (Objects::new(&app))
        .range(account, &query.path, query.first, query.last)
        .await?;
    Ok(Json(sources))
}
