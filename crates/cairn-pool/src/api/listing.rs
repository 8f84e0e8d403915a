//! Reads a front end makes of a drive without walking it: one level of a folder (a
//! listing with delimiter `/`, each sub-folder skipped with one seek) and the sources of
//! the segments a byte range needs (orders signed for those pieces only).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use cairn_proto::api::{FOLDER_MARKER, FolderEntry, FolderList, ObjectEntry, ObjectSources};
use data_encoding::BASE64URL_NOPAD;
use serde::Deserialize;

use super::objects::{
    DEFAULT_PAGE, MAX_PAGE, account_id, check_path, check_prefix, no_object, sources,
};
use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::store::{LevelEntry, MetadataStore};

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
    check_prefix(&query.prefix)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let found = app
        .store
        .list_level(account, query.prefix, query.after, limit)
        .await?;
    let next = (found.len() == limit as usize)
        .then(|| {
            found.last().map(|entry| match entry {
                LevelEntry::Object(o) => o.path.clone(),
                LevelEntry::Folder(prefix) => prefix.clone(),
            })
        })
        .flatten();
    let mut list = FolderList {
        objects: Vec::new(),
        folders: Vec::new(),
        next,
    };
    for entry in found {
        match entry {
            LevelEntry::Object(o) => list.objects.push(ObjectEntry {
                path: o.path,
                size: o.size,
                committed_at_ms: o.committed_at,
                metadata: BASE64URL_NOPAD.encode(&o.metadata),
            }),
            LevelEntry::Folder(prefix) => {
                // A folder marker has no segments: one indexed lookup.
                let marker = app
                    .store
                    .object(account, format!("{prefix}{FOLDER_MARKER}"))
                    .await?;
                list.folders.push(FolderEntry {
                    prefix,
                    marker_committed_at_ms: marker.map(|m| m.committed_at),
                });
            }
        }
    }
    Ok(Json(list))
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
    check_path(&query.path)?;
    if query.first > query.last {
        return Err(ApiError::bad_request(format!(
            "segments {}..={} are an empty range",
            query.first, query.last
        )));
    }
    let mut object = app
        .store
        .object(account, query.path.clone())
        .await?
        .ok_or_else(|| no_object(&query.path))?;
    object
        .segments
        .retain(|s| (query.first..=query.last).contains(&s.index));
    let peers = app.store.peers().await?;
    Ok(Json(sources(&app, account, object, &peers)?))
}
