//! Account endpoints outside the upload path: opening an account, and how healthy its objects
//! are, one in detail (every piece and its state) or all at a glance.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use cairn_core::PeerId;
use cairn_proto::api::{AccountHealth, AccountOpened, ObjectHealth};

use super::objects::{PathQuery, account_id, check_path, no_object};
use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::health::{self, ObjectCondition};
use crate::state::PeerState;
use crate::store::MetadataStore;
use cairn_proto::clock::now_ms;

/// Most paths each list of an [`AccountHealth`] names.
pub const MAX_HEALTH_PATHS: usize = 1000;
/// Objects listed per store call while checking an account.
const HEALTH_PAGE: u32 = 1000;

/// Every registered peer's state.
async fn peer_states<S: MetadataStore>(
    app: &App<S>,
) -> Result<HashMap<PeerId, PeerState>, ApiError> {
    Ok(app
        .store
        .peers()
        .await?
        .into_iter()
        .map(|p| (p.id, p.state))
        .collect())
}

/// `POST /v1/account`: opens the signing account; opening it again changes nothing.
pub async fn open<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<AccountOpened>, ApiError> {
    let account = account_id(request.signer)?;
    let created = app.store.ensure_account(account, now_ms()).await?;
    Ok(Json(AccountOpened { account, created }))
}

/// `GET /v1/object/health?path=`: every recorded piece of a committed object with its state,
/// and per segment whether it is at full redundancy and whether it can be read.
pub async fn object_health<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<PathQuery>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<ObjectHealth>, ApiError> {
    let account = account_id(request.signer)?;
    check_path(&query.path)?;
    let object = app
        .store
        .object(account, query.path.clone())
        .await?
        .ok_or_else(|| no_object(&query.path))?;
    let peers = peer_states(&app).await?;
    let mut answer = health::object_health(&object, &peers);
    for segment in &mut answer.segments {
        segment.repairing = app.repairs.is_repairing(object.id, segment.index);
    }
    Ok(Json(answer))
}

/// `GET /v1/account/health`: the account's committed objects counted by condition, naming
/// (up to [`MAX_HEALTH_PATHS`] each) those below full redundancy and those unreadable now.
///
/// Cost: one store call per [`HEALTH_PAGE`] objects listed plus one per object read, all in
/// this request, so the time grows with the account's size (each object is read with its
/// segments and pieces). Peer states are read once at the start; an object deleted or
/// renamed while the check runs is skipped.
pub async fn account_health<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<Json<AccountHealth>, ApiError> {
    let account = account_id(request.signer)?;
    let peers = peer_states(&app).await?;
    let mut answer = AccountHealth {
        objects: 0,
        full: 0,
        degraded: Vec::new(),
        unreadable: Vec::new(),
    };
    let mut after = None;
    loop {
        let page = app
            .store
            .list_objects(account, String::new(), after.take(), HEALTH_PAGE)
            .await?;
        for summary in &page {
            let Some(object) = app.store.object(account, summary.path.clone()).await? else {
                continue;
            };
            answer.objects += 1;
            let segments = health::object_health(&object, &peers).segments;
            let named = match health::object_condition(&segments) {
                ObjectCondition::Full => {
                    answer.full += 1;
                    continue;
                }
                ObjectCondition::Degraded => &mut answer.degraded,
                ObjectCondition::Unreadable => &mut answer.unreadable,
            };
            if named.len() < MAX_HEALTH_PATHS {
                named.push(object.path);
            }
        }
        if page.len() < HEALTH_PAGE as usize {
            break;
        }
        after = page.last().map(|o| o.path.clone());
    }
    Ok(Json(answer))
}
