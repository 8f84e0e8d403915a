//! Account endpoints: the object index. Upload is begin → place segment → (client uploads
//! pieces to peers) → commit segment with the peers' receipts → commit object (begins and
//! commits also many at once); listing, reading, renaming and deleting work on committed
//! objects only.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cairn_core::{AccountId, EncryptedPath, PeerId, Redundancy, RedundancyPolicy};
use cairn_proto::api::{
    Answer, BeginMany, BeginUpload, CommitMany, CommitSegment, CommitUpload, CommittedPiece,
    GetTarget, MAX_AT_ONCE, MAX_SOURCES, ManyAnswers, ManySources, ObjectEntry, ObjectList,
    ObjectSources, PlaceSegment, PutTarget, Refusal, Rename, Renamed, SegmentPlaced,
    SegmentSources, SourcesRequest, SpareTarget, UploadBegun, UploadCommitted,
};
use cairn_proto::{Holder, OrderAction, PeerAddr, PeerState, Receipt};
use data_encoding::BASE64URL_NOPAD;
use futures_util::future::join_all;
use serde::Deserialize;

use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::placement::{self, Candidate, PlacementRequest};
use crate::quota::Verdict;
use crate::store::{
    CommitObject, MetadataStore, NewUpload, ObjectRecord, PeerRecord, PiecePlacement,
    SegmentCommit, UploadId, UploadRecord,
};
use cairn_proto::clock::now_ms;

/// Largest piece the pool places (a 64 MiB segment cut in two, with room to spare).
pub const MAX_PIECE_SIZE: u64 = 256 * 1024 * 1024;
/// Largest sealed metadata blob accepted.
pub const MAX_METADATA: usize = 1024 * 1024;
/// Most segments one object may have.
pub const MAX_SEGMENTS: u32 = 1 << 24;
/// Default and largest page of a listing.
const DEFAULT_PAGE: u32 = 1000;
const MAX_PAGE: u32 = 10_000;

pub(super) fn account_id(signer: [u8; 32]) -> Result<AccountId, ApiError> {
    AccountId::from_bytes(signer)
        .map_err(|e| ApiError::bad_request(format!("the account key is invalid: {e}")))
}

pub(super) fn check_path(path: &str) -> Result<(), ApiError> {
    if path.is_empty() {
        return Err(ApiError::bad_request("the path is empty"));
    }
    EncryptedPath::parse(path)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request(format!("the path is not an encrypted path: {e}")))
}

/// A folder prefix: empty (everything) or an encrypted path followed by `/`.
fn check_prefix(prefix: &str) -> Result<(), ApiError> {
    match prefix.strip_suffix('/') {
        None if prefix.is_empty() => Ok(()),
        Some(folder) => check_path(folder),
        None => Err(ApiError::bad_request("a folder prefix must end with '/'")),
    }
}

fn parse_upload(text: &str) -> Result<UploadId, ApiError> {
    UploadId::from_str(text)
        .map_err(|_| ApiError::bad_request(format!("{text:?} is not an upload id")))
}

async fn open_upload<S: MetadataStore>(
    app: &App<S>,
    account: AccountId,
    upload: UploadId,
) -> Result<UploadRecord, ApiError> {
    app.store.upload(account, upload).await?.ok_or_else(|| {
        ApiError::not_found(
            "upload_unknown",
            format!("upload {upload} does not exist, was committed or expired; begin a new one"),
        )
    })
}

/// Online peers as placement candidates, with their addresses.
type Online = (Vec<Candidate>, HashMap<PeerId, String>);

/// The online peers, read once per request.
async fn candidates<S: MetadataStore>(app: &App<S>) -> Result<Online, ApiError> {
    let mut addresses = HashMap::new();
    let candidates = app
        .store
        .peers()
        .await?
        .into_iter()
        .filter(|p| p.state == PeerState::Online)
        .map(|p| {
            let candidate = Candidate {
                id: p.id,
                domain: placement::failure_domain(p.zone.as_deref(), &p.address),
                free: p.free(),
                availability: p.availability,
                rtt_ms: p.rtt_ms,
            };
            addresses.insert(p.id, p.address);
            candidate
        })
        .collect();
    Ok((candidates, addresses))
}

/// `POST /v1/uploads`.
pub async fn begin<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<BeginUpload>,
) -> Result<Json<UploadBegun>, ApiError> {
    let account = account_id(request.signer)?;
    let checked = check_begin(request.body)?;
    let online = candidates(&app).await?;
    Ok(Json(start_upload(&app, &online, account, checked).await?))
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
    let checked: Vec<_> = uploads.into_iter().map(check_begin).collect();
    // The registry is read only if some begin passed its checks.
    let online = if checked.iter().any(Result::is_ok) {
        candidates(&app).await?
    } else {
        Online::default()
    };
    let (app, online) = (&app, &online);
    let answers = join_all(
        checked
            .into_iter()
            .map(|checked| async move { start_upload(app, online, account, checked?).await }),
    )
    .await;
    Ok(Json(many(answers)))
}

/// Refuses a request carrying `count` items beyond [`MAX_AT_ONCE`]; charges the signer's
/// request rate for every item past the first (the request itself paid for one).
fn at_once<S>(app: &App<S>, signer: [u8; 32], count: usize, what: &str) -> Result<(), ApiError> {
    if count > MAX_AT_ONCE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_at_once",
            format!("{count} {what} in one request; at most {MAX_AT_ONCE}"),
        ));
    }
    let extra = u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX);
    app.rates
        .lock()
        .map_err(|_| ApiError::internal("checking a request rate", &"rate memory poisoned"))?
        .charge(signer, extra, now_ms())?;
    Ok(())
}

/// Each item's outcome as a [`ManyAnswers`].
fn many<T>(outcomes: Vec<Result<T, ApiError>>) -> ManyAnswers<T> {
    let answers = outcomes
        .into_iter()
        .map(|outcome| match outcome {
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

/// A begin that passed the checks made before the registry is read.
struct CheckedBegin {
    body: BeginUpload,
    policy: RedundancyPolicy,
}

fn check_begin(body: BeginUpload) -> Result<CheckedBegin, ApiError> {
    check_path(&body.path)?;
    let policy = RedundancyPolicy::from_str(&body.redundancy)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_redundancy", e.to_string()))?;
    if let Some(first) = &body.first_segment {
        let RedundancyPolicy::Fixed(shape) = policy else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_redundancy",
                "a first segment can be placed with `begin` only under a concrete redundancy \
                 (ec:K+M or rep:KxR); with `auto`, begin first and place it after",
            ));
        };
        check_place(shape, 0, first)?;
    }
    Ok(CheckedBegin { body, policy })
}

/// Opens a checked upload for `account` among the `online` peers (placing its first
/// segment if it came with one).
async fn start_upload<S: MetadataStore>(
    app: &App<S>,
    online: &Online,
    account: AccountId,
    CheckedBegin { body, policy }: CheckedBegin,
) -> Result<UploadBegun, ApiError> {
    let redundancy = placement::resolve_policy(policy, &online.0, app.config.durability_target)?;
    let now = now_ms();
    app.store.ensure_account(account, now).await?;
    let id = UploadId::random();
    let expires_at = now.saturating_add(crate::api::duration_ms(app.config.upload_ttl));
    let upload = NewUpload {
        id,
        account,
        path: body.path,
        redundancy,
        created_at: now,
        expires_at,
    };
    let placed = match &body.first_segment {
        Some(first) => {
            let (placed, placements) =
                plan_segment(app, online, account, redundancy, expires_at, 0, first).await?;
            app.store.begin_with_placement(upload, placements).await?;
            Some(placed)
        }
        None => {
            app.store.begin_upload(upload).await?;
            None
        }
    };
    Ok(UploadBegun {
        upload: id.to_string(),
        redundancy: redundancy.to_string(),
        expires_at_ms: expires_at,
        placed,
    })
}

/// `POST /v1/uploads/{upload}/segments/{index}/place`.
pub async fn place<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path((upload, index)): Path<(String, u32)>,
    request: Signed<PlaceSegment>,
) -> Result<Json<SegmentPlaced>, ApiError> {
    let account = account_id(request.signer)?;
    let upload = open_upload(&app, account, parse_upload(&upload)?).await?;
    check_place(upload.redundancy, index, &request.body)?;
    let online = candidates(&app).await?;
    let (placed, placements) = plan_segment(
        &app,
        &online,
        account,
        upload.redundancy,
        upload.expires_at,
        index,
        &request.body,
    )
    .await?;
    app.store.record_placement(upload.id, placements).await?;
    Ok(Json(placed))
}

/// Refuses a placement request that does not fit segment `index` of an upload shaped
/// `shape` (checked before the registry is read).
fn check_place(shape: Redundancy, index: u32, body: &PlaceSegment) -> Result<(), ApiError> {
    if index >= MAX_SEGMENTS {
        return Err(ApiError::bad_request(format!(
            "an object has at most {MAX_SEGMENTS} segments"
        )));
    }
    let fragments = usize::from(shape.fragments());
    if body.fragments.len() != fragments
        || body
            .fragments
            .iter()
            .enumerate()
            .any(|(i, f)| usize::from(f.fragment) != i)
    {
        return Err(ApiError::bad_request(format!(
            "a segment under {shape} has fragments 0 to {}, listed once each in order",
            fragments - 1
        )));
    }
    if body.piece_size == 0 || body.piece_size > MAX_PIECE_SIZE {
        return Err(ApiError::bad_request(format!(
            "a piece must be 1 to {MAX_PIECE_SIZE} bytes, not {}",
            body.piece_size
        )));
    }
    Ok(())
}

/// Chooses peers for segment `index` of an upload shaped `shape` (expiring at
/// `expires_at_ms`), reserves its put orders against the account's quota and signs them;
/// returns the answer and the placements to record. The request passed [`check_place`].
async fn plan_segment<S: MetadataStore>(
    app: &App<S>,
    (candidates, addresses): &Online,
    account: AccountId,
    shape: Redundancy,
    expires_at_ms: u64,
    index: u32,
    body: &PlaceSegment,
) -> Result<(SegmentPlaced, Vec<PiecePlacement>), ApiError> {
    let fragments = usize::from(shape.fragments());
    let copies = usize::from(shape.r());
    let chosen = placement::place(
        candidates,
        &PlacementRequest {
            pieces: fragments * copies,
            piece_size: body.piece_size,
            spares: app.config.spares,
        },
        &mut rand::rng(),
    )?;
    // Every put order handed out (spares included) lets the account store a piece, so all
    // of them count against its quota until the segment is committed.
    let orders = chosen.peers.len() + chosen.spares.len() * fragments;
    let needed = (orders as u64).saturating_mul(body.piece_size);
    let quota = app.config.account_quota;
    let verdict = (app.quotas)
        .reserve(account, needed, quota, async || {
            app.store.account_usage(account).await
        })
        .await?;
    if let Verdict::Over { used } = verdict {
        return Err(over_quota(used, needed, quota));
    }
    let address = |peer: &PeerId| {
        let stored = addresses.get(peer).map(String::as_str).unwrap_or_default();
        PeerAddr::parse(stored).map_err(|e| ApiError::internal("a peer's address", &e))
    };
    let now = now_ms();
    let ttl = std::time::Duration::from_millis(expires_at_ms.saturating_sub(now))
        .min(app.config.order_ttl.max(std::time::Duration::from_secs(60)));
    let holder = Holder::Account(account);
    let expires_at = App::<S>::expiry(now, ttl);
    let put = |peer: PeerId, fragment: usize| {
        let hash = body.fragments[fragment].hash;
        app.order(
            peer,
            hash,
            OrderAction::Put,
            body.piece_size,
            holder,
            expires_at,
        )
    };
    let mut placements = Vec::new();
    let mut targets = Vec::with_capacity(chosen.peers.len());
    for (slot, peer) in chosen.peers.iter().enumerate() {
        let fragment = slot / copies;
        targets.push(PutTarget {
            fragment: body.fragments[fragment].fragment,
            peer: *peer,
            address: address(peer)?,
            order: put(*peer, fragment)?,
        });
        placements.push((fragment, *peer));
    }
    let mut spares = Vec::with_capacity(chosen.spares.len());
    for peer in &chosen.spares {
        let orders = (0..fragments)
            .map(|f| put(*peer, f))
            .collect::<Result<_, _>>()?;
        placements.extend((0..fragments).map(|f| (f, *peer)));
        spares.push(SpareTarget {
            peer: *peer,
            address: address(peer)?,
            orders,
        });
    }
    let placements = placements
        .into_iter()
        .map(|(fragment, peer)| PiecePlacement {
            segment: index,
            fragment: body.fragments[fragment].fragment,
            hash: body.fragments[fragment].hash,
            size: body.piece_size,
            peer,
        })
        .collect();
    Ok((SegmentPlaced { targets, spares }, placements))
}

/// The refusal of a placement of `needed` bytes that would take an account using `used`
/// bytes past `quota`.
fn over_quota(used: u64, needed: u64, quota: u64) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "quota_exceeded",
        format!(
            "this account's pieces use {used} of its {quota} bytes and this segment needs \
             {needed} more; delete files or ask the pool's operator for a larger quota"
        ),
    )
}

/// `POST /v1/uploads/{upload}/segments/{index}/commit`: records the pieces the peers
/// vouched for; every fragment needs its `r` copies, every piece on a different peer that
/// the pool placed it on.
pub async fn commit_segment<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path((upload, index)): Path<(String, u32)>,
    request: Signed<CommitSegment>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    let upload = open_upload(&app, account, parse_upload(&upload)?).await?;
    let segment = checked_segment(&app, &upload, index, &request.body.pieces).await?;
    app.store
        .commit_segment(account, upload.id, segment)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Segment `index` of `upload` as the receipts in `pieces` vouch for it, checked against
/// what was placed.
async fn checked_segment<S: MetadataStore>(
    app: &App<S>,
    upload: &UploadRecord,
    index: u32,
    pieces: &[CommittedPiece],
) -> Result<SegmentCommit, ApiError> {
    let placed = app.store.placements(upload.id, index).await?;
    if placed.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "segment_not_placed",
            format!("segment {index} was not placed; place it before committing it"),
        ));
    }
    let pieces = check_receipts(upload.redundancy, &placed, pieces)?;
    let piece_size = pieces.first().map_or(0, |p| p.size);
    Ok(SegmentCommit {
        index,
        piece_size,
        pieces,
    })
}

/// Checks a segment commit against what was placed; returns the pieces to record.
fn check_receipts(
    shape: Redundancy,
    placed: &[PiecePlacement],
    stored: &[CommittedPiece],
) -> Result<Vec<PiecePlacement>, ApiError> {
    let refuse = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_commit", message);
    let mut peers = HashSet::new();
    let mut copies = vec![0u16; usize::from(shape.fragments())];
    let mut pieces = Vec::with_capacity(stored.len());
    let checked = Receipt::verify_many(stored.iter().map(|piece| &piece.receipt));
    for (piece, checked) in stored.iter().zip(checked) {
        let receipt = &piece.receipt;
        checked.map_err(|e| refuse(e.to_string()))?;
        let Some(placement) = placed
            .iter()
            .find(|p| p.fragment == piece.fragment && p.peer == receipt.peer)
        else {
            return Err(refuse(format!(
                "fragment {} was not placed on peer {}",
                piece.fragment, receipt.peer
            )));
        };
        if placement.hash != receipt.piece || placement.size != receipt.size {
            return Err(refuse(format!(
                "the receipt from peer {} is for another piece than fragment {} was placed as",
                receipt.peer, piece.fragment
            )));
        }
        if !peers.insert(receipt.peer) {
            return Err(refuse(format!(
                "peer {} holds two pieces of the segment; every piece must be on a different peer",
                receipt.peer
            )));
        }
        copies[usize::from(piece.fragment)] += 1;
        pieces.push(placement.clone());
    }
    if let Some((fragment, have)) = copies.iter().enumerate().find(|(_, c)| **c != shape.r()) {
        return Err(refuse(format!(
            "fragment {fragment} has {have} stored copies; {shape} needs {}",
            shape.r()
        )));
    }
    Ok(pieces)
}

/// `POST /v1/uploads/{upload}/commit`.
pub async fn commit<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path(upload): Path<String>,
    request: Signed<CommitUpload>,
) -> Result<Json<UploadCommitted>, ApiError> {
    let account = account_id(request.signer)?;
    Ok(Json(
        commit_one(&app, account, &upload, request.body).await?,
    ))
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
    let app = &app;
    let answers = join_all(
        commits
            .into_iter()
            .map(|one| async move { commit_one(app, account, &one.upload, one.commit).await }),
    )
    .await;
    Ok(Json(many(answers)))
}

/// Commits `account`'s open upload `upload` as an object.
async fn commit_one<S: MetadataStore>(
    app: &App<S>,
    account: AccountId,
    upload: &str,
    body: CommitUpload,
) -> Result<UploadCommitted, ApiError> {
    let upload = open_upload(app, account, parse_upload(upload)?).await?;
    if body.metadata.len() > MAX_METADATA.div_ceil(3) * 4 {
        return Err(ApiError::bad_request(format!(
            "the metadata is larger than {MAX_METADATA} bytes"
        )));
    }
    let metadata = BASE64URL_NOPAD
        .decode(body.metadata.as_bytes())
        .map_err(|_| ApiError::bad_request("the metadata is not unpadded base64url"))?;
    if body.segment_count > MAX_SEGMENTS {
        return Err(ApiError::bad_request(format!(
            "an object has at most {MAX_SEGMENTS} segments, not {}",
            body.segment_count
        )));
    }
    // An empty object (a folder marker, say) has no segments; anything else has some.
    if body.segment_count == 0 && body.size != 0 {
        return Err(ApiError::bad_request(format!(
            "an object of {} bytes needs at least one segment; only an empty object has none",
            body.size
        )));
    }
    let commit = CommitObject {
        metadata,
        size: body.size,
        segment_count: body.segment_count,
    };
    let replaced = match &body.last_segment {
        Some(last) => {
            let segment = checked_segment(app, &upload, last.index, &last.pieces).await?;
            (app.store)
                .commit_with_segment(account, upload.id, segment, commit, now_ms())
                .await?
        }
        None => {
            (app.store)
                .commit_object(account, upload.id, commit, now_ms())
                .await?
        }
    };
    Ok(UploadCommitted {
        path: upload.path,
        replaced: replaced.is_some(),
    })
}

/// `DELETE /v1/uploads/{upload}`: abandons an upload; its pieces are collected.
pub async fn abort<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Path(upload): Path<String>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    let upload = open_upload(&app, account, parse_upload(&upload)?).await?;
    app.store.abort_upload(account, upload.id, now_ms()).await?;
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
    check_prefix(&query.prefix)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let found = app
        .store
        .list_objects(account, query.prefix, query.after, limit)
        .await?;
    let next = (found.len() == limit as usize)
        .then(|| found.last().map(|o| o.path.clone()))
        .flatten();
    Ok(Json(ObjectList {
        objects: found
            .into_iter()
            .map(|o| ObjectEntry {
                path: o.path,
                size: o.size,
                committed_at_ms: o.committed_at,
                metadata: BASE64URL_NOPAD.encode(&o.metadata),
            })
            .collect(),
        next,
    }))
}

/// Query naming one object.
#[derive(Debug, Deserialize)]
pub struct PathQuery {
    /// Encrypted path.
    pub(super) path: String,
}

pub(super) fn no_object(path: &str) -> ApiError {
    ApiError::not_found(
        "object_not_found",
        format!("no object at encrypted path {path}"),
    )
}

/// `GET /v1/object?path=`: the object's record with a get order for every readable piece.
pub async fn get<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<PathQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<ObjectSources>, ApiError> {
    let account = account_id(request.signer)?;
    check_path(&query.path)?;
    let object = app
        .store
        .object(account, query.path.clone())
        .await?
        .ok_or_else(|| no_object(&query.path))?;
    let peers = app.store.peers().await?;
    Ok(Json(sources(&app, account, object, &peers)?))
}

/// `POST /v1/objects/sources`: what `GET /v1/object` answers, for many paths in one
/// request (`null` for a path the account has no object at).
pub async fn get_many<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<SourcesRequest>,
) -> Result<Json<ManySources>, ApiError> {
    let account = account_id(request.signer)?;
    let paths = request.body.paths;
    if paths.len() > MAX_SOURCES {
        return Err(ApiError::bad_request(format!(
            "{} paths asked at once; at most {MAX_SOURCES}",
            paths.len()
        )));
    }
    for path in &paths {
        check_path(path)?;
    }
    let peers = app.store.peers().await?;
    let mut objects = Vec::with_capacity(paths.len());
    for path in paths {
        objects.push(match app.store.object(account, path).await? {
            Some(object) => Some(sources(&app, account, object, &peers)?),
            None => None,
        });
    }
    Ok(Json(ManySources { objects }))
}

/// An object's record with a get order for every piece on a peer that may still serve it.
fn sources<S: MetadataStore>(
    app: &App<S>,
    account: AccountId,
    object: ObjectRecord,
    peers: &[PeerRecord],
) -> Result<ObjectSources, ApiError> {
    let peers: HashMap<PeerId, &PeerRecord> = peers.iter().map(|p| (p.id, p)).collect();
    let holder = Holder::Account(account);
    let expires_at = App::<S>::expiry(now_ms(), app.config.order_ttl);
    let mut segments = Vec::with_capacity(object.segments.len());
    for segment in object.segments {
        let mut pieces = Vec::with_capacity(segment.pieces.len());
        for piece in segment.pieces {
            if segment.corrupt.contains(&piece.peer) {
                continue;
            }
            let Some(peer) = peers.get(&piece.peer) else {
                continue;
            };
            if matches!(
                peer.state,
                PeerState::Lost | PeerState::Left | PeerState::Disqualified
            ) {
                continue;
            }
            // A peer whose address cannot be dialled is passed over, as a lost one is.
            let Ok(address) = PeerAddr::parse(&peer.address) else {
                continue;
            };
            pieces.push(GetTarget {
                fragment: piece.fragment,
                hash: piece.hash,
                peer: piece.peer,
                address,
                state: peer.state,
                order: app.order(
                    piece.peer,
                    piece.hash,
                    OrderAction::Get,
                    piece.size,
                    holder,
                    expires_at,
                )?,
            });
        }
        segments.push(SegmentSources {
            index: segment.index,
            piece_size: segment.piece_size,
            pieces,
        });
    }
    Ok(ObjectSources {
        path: object.path,
        redundancy: object.redundancy.to_string(),
        size: object.size,
        committed_at_ms: object.committed_at,
        metadata: BASE64URL_NOPAD.encode(&object.metadata),
        segments,
    })
}

/// `DELETE /v1/object?path=`: removes the object; its peers delete the pieces.
pub async fn delete<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<PathQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    check_path(&query.path)?;
    match app
        .store
        .delete_object(account, query.path.clone(), now_ms())
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(crate::store::StoreError::NotFound(_)) => Err(no_object(&query.path)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/rename`: one object, or (both ending in `/`) every object under a folder.
pub async fn rename<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Rename>,
) -> Result<Json<Renamed>, ApiError> {
    let account = account_id(request.signer)?;
    let Rename { from, to } = request.body;
    let now = now_ms();
    let objects = match (from.ends_with('/'), to.ends_with('/')) {
        (true, true) => {
            check_prefix(&from)?;
            check_prefix(&to)?;
            if from.is_empty() || to.is_empty() {
                return Err(ApiError::bad_request("the root folder cannot be renamed"));
            }
            if to.starts_with(&from) {
                return Err(ApiError::bad_request("a folder cannot move into itself"));
            }
            app.store.rename_prefix(account, from, to, now).await?
        }
        (false, false) => {
            check_path(&from)?;
            check_path(&to)?;
            match app
                .store
                .rename_object(account, from.clone(), to, now)
                .await
            {
                Ok(()) => 1,
                Err(crate::store::StoreError::NotFound(_)) => return Err(no_object(&from)),
                Err(e) => return Err(e.into()),
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "rename a folder to a folder (both ending in '/') or a file to a file",
            ));
        }
    };
    Ok(Json(Renamed { objects }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_refusal_says_what_is_used_and_needed() {
        let refused = over_quota(60, 41, 100);
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.code, "quota_exceeded");
        assert!(refused.message.contains("use 60 of its 100 bytes"));
        assert!(refused.message.contains("needs 41 more"));
    }

    #[test]
    fn prefixes_are_folders() {
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("abc/").is_ok());
        assert!(check_prefix("abc/def/").is_ok());
        assert!(check_prefix("abc").is_err());
        assert!(check_prefix("/").is_err());
        assert!(check_prefix("a%b/").is_err());
    }
}
