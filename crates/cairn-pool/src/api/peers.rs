//! Peer endpoints, as thin adapters over the [`Registry`]: registration, heartbeats,
//! draining and repair reports.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_core::PeerId;
use cairn_proto::api::{Heartbeat, HeartbeatAck, PeerRegistered, RegisterPeer, RepairReport};

use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::service::Registry;
use crate::store::MetadataStore;

fn peer_id(signer: [u8; 32]) -> Result<PeerId, ApiError> {
    PeerId::from_bytes(signer)
        .map_err(|e| ApiError::bad_request(format!("the peer key is invalid: {e}")))
}

/// `POST /v1/peers/register`.
pub async fn register<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<RegisterPeer>,
) -> Result<Json<PeerRegistered>, ApiError> {
    let id = peer_id(request.signer)?;
    Ok(Json(Registry::new(&app).register(id, request.body).await?))
}

/// `POST /v1/peers/heartbeat`.
pub async fn heartbeat<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Heartbeat>,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let id = peer_id(request.signer)?;
    Ok(Json(Registry::new(&app).heartbeat(id, request.body).await?))
}

/// `POST /v1/peers/drain`: the peer wants to leave; it stops receiving new pieces.
pub async fn drain<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<StatusCode, ApiError> {
    let id = peer_id(request.signer)?;
    Registry::new(&app).drain(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/repairs/report`: a peer's outcome of a repair job it ran.
pub async fn repair_report<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<RepairReport>,
) -> Result<StatusCode, ApiError> {
    let id = peer_id(request.signer)?;
    (Registry::new(&app))
        .repair_report(id, request.body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
