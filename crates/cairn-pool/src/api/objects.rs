//! Account endpoints on the object index, as thin adapters over [`Uploads`] and [`Objects`]:
//! upload is begin → place segment → (client uploads pieces to peers) → commit segment with
//! the peers' receipts → commit object (begins and commits also many at once); listing,
//! reading, renaming and deleting work on committed objects only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cairn_core::AccountId;
use cairn_proto::api::{
    Answer, BeginMany, BeginUpload, CommitMany, CommitSegment, CommitUpload, FindLedger,
    ImportObjects, LedgerFound, ManyAnswers, ManySources, ObjectList, ObjectSources,
    ObjectsImported, PlaceSegment, Refusal, Rename, Renamed, SegmentPlaced, SourcesRequest,
    UploadBegun, UploadCommitted,
};
use cairn_proto::codes;
use cairn_proto::limits::{MAX_AT_ONCE, MAX_IMPORT};
use serde::Deserialize;

use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::service::{Objects, Recovery, Uploads};
use crate::store::MetadataStore;

pub(super) fn account_id(signer: [u8; 32]) -> Result<AccountId, ApiError> {
    AccountId::from_bytes(signer)
        .map_err(|e| ApiError::bad_request(format!("the account key is invalid: {e}")))
}

/// `POST /v1/uploads`.
pub async fn begin<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<BeginUpload>,
) -> Result<Json<UploadBegun>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Uploads::new(&app).begin(account, request.body).await?))
}

/// `POST /v1/uploads/many`: many begins, each answered as `POST /v1/uploads` would, run
/// together (the registry is read once and their store writes share a transaction).
pub async fn begin_many<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<BeginMany>,
) -> Result<Json<ManyAnswers<UploadBegun>>, ApiError> {
    let account = account_id(request.signer)?;
    let uploads = request.body.uploads;
    at_once(&app, request.signer, uploads.len(), "uploads begun")?;
    let answers = Uploads::new(&app).begin_many(account, uploads).await?;
    Ok(Json(many(answers)))
}

/// Refuses a request carrying `count` items beyond [`MAX_AT_ONCE`]; charges the signer's
/// request rate for every item past the first (the request itself paid for one).
fn at_once<S>(app: &App<S>, signer: [u8; 32], count: usize, what: &str) -> Result<(), ApiError> {
    if count > MAX_AT_ONCE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_MANY_AT_ONCE,
            format!("{count} {what} in one request; at most {MAX_AT_ONCE}"),
        ));
    }
    let extra = u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX);
    app.rates
        .lock()
        .map_err(|_| ApiError::internal("checking a request rate", &"rate memory poisoned"))?
        .charge(signer, extra, app.now_ms())?;
    Ok(())
}

/// Each item's outcome as a [`ManyAnswers`], refusals as the single request would answer.
fn many<T, E: Into<ApiError>>(outcomes: Vec<Result<T, E>>) -> ManyAnswers<T> {
    let answers = outcomes
        .into_iter()
        .map(|outcome| match outcome.map_err(Into::into) {
            Ok(answer) => Answer::Ok(answer),
            Err(e) => Answer::Refused(Refusal {
                status: e.status.as_u16(),
                code: e.code.to_owned(),
                message: e.message,
            }),
        })
        .collect();
    ManyAnswers { answers }
}

/// `POST /v1/uploads/{upload}/segments/{index}/place`.
pub async fn place<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path((upload, index)): Path<(String, u32)>,
    request: Signed<PlaceSegment>,
) -> Result<Json<SegmentPlaced>, ApiError> {
    let account = account_id(request.signer)?;
    let placed = (Uploads::new(&app))
        .place(account, &upload, index, &request.body)
        .await?;
    Ok(Json(placed))
}

/// `POST /v1/uploads/{upload}/segments/{index}/commit`: records the pieces the peers
/// vouched for.
pub async fn commit_segment<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path((upload, index)): Path<(String, u32)>,
    request: Signed<CommitSegment>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    (Uploads::new(&app))
        .commit_segment(account, &upload, index, &request.body.pieces)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/uploads/{upload}/commit`.
pub async fn commit<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path(upload): Path<String>,
    request: Signed<CommitUpload>,
) -> Result<Json<UploadCommitted>, ApiError> {
    let account = account_id(request.signer)?;
    let committed = (Uploads::new(&app))
        .commit(account, &upload, request.body)
        .await?;
    Ok(Json(committed))
}

/// `POST /v1/uploads/commits`: many commits, each answered as
/// `POST /v1/uploads/{upload}/commit` would, run together (their store writes share a
/// transaction).
pub async fn commit_many<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<CommitMany>,
) -> Result<Json<ManyAnswers<UploadCommitted>>, ApiError> {
    let account = account_id(request.signer)?;
    let commits = request.body.commits;
    at_once(&app, request.signer, commits.len(), "commits")?;
    let commits = commits
        .into_iter()
        .map(|one| (one.upload, one.commit))
        .collect();
    let answers = Uploads::new(&app).commit_many(account, commits).await;
    Ok(Json(many(answers)))
}

/// `DELETE /v1/uploads/{upload}`: abandons an upload; its pieces are collected.
pub async fn abort<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path(upload): Path<String>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    Uploads::new(&app).abort(account, &upload).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/objects`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Folder prefix (empty or ending in `/`).
    #[serde(default)]
    prefix: String,
    /// Start after this path.
    after: Option<String>,
    /// Page size.
    limit: Option<u32>,
}

/// `GET /v1/objects?prefix=&after=&limit=`.
pub async fn list<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<ListQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<ObjectList>, ApiError> {
    let account = account_id(request.signer)?;
    let page = (Objects::new(&app))
        .list(account, query.prefix, query.after, query.limit)
        .await?;
    Ok(Json(page))
}

/// Query naming one object.
#[derive(Debug, Deserialize)]
pub struct PathQuery {
    /// Encrypted path.
    pub(super) path: String,
}

/// `GET /v1/object?path=`: the object's record with a get order for every readable piece.
pub async fn get<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<PathQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<ObjectSources>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(Objects::new(&app).get(account, &query.path).await?))
}

/// `POST /v1/objects/sources`: what `GET /v1/object` answers, for many paths in one
/// request (`null` for a path the account has no object at).
pub async fn get_many<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<SourcesRequest>,
) -> Result<Json<ManySources>, ApiError> {
    let account = account_id(request.signer)?;
    let objects = (Objects::new(&app))
        .get_many(account, request.body.paths)
        .await?;
    Ok(Json(ManySources { objects }))
}

/// `DELETE /v1/object?path=`: removes the object; its peers delete the pieces.
pub async fn delete<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<PathQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    Objects::new(&app).delete(account, &query.path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/rename`: one object, or (both ending in `/`) every object under a folder.
pub async fn rename<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Rename>,
) -> Result<Json<Renamed>, ApiError> {
    let account = account_id(request.signer)?;
    let Rename { from, to } = request.body;
    let objects = Objects::new(&app).rename(account, from, to).await?;
    Ok(Json(Renamed { objects }))
}

/// `POST /v1/ledger/find`.
pub async fn find_ledger<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<FindLedger>,
) -> Result<Json<LedgerFound>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(
        Recovery::new(&app)
            .find_ledger(account, request.body)
            .await?,
    ))
}

/// `POST /v1/objects/import`: every record past the first is charged to the signer's
/// request rate, as a batch of begins is.
pub async fn import<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<ImportObjects>,
) -> Result<Json<ObjectsImported>, ApiError> {
    let account = account_id(request.signer)?;
    let count = request.body.objects.len();
    if count <= MAX_IMPORT {
        at_once(&app, request.signer, count, "records given back")?;
    }
    Ok(Json(
        Recovery::new(&app).import(account, request.body).await?,
    ))
}
