//! Peer endpoints: registration with proof of the peer key and an inventory check,
//! heartbeats that carry delete orders back, and draining.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_core::PeerId;
use cairn_proto::api::{Heartbeat, HeartbeatAck, PeerRegistered, RegisterPeer, RepairReport};
use cairn_proto::{Holder, OrderAction, PeerState};

use super::signed::Signed;
use crate::app::App;
use crate::counters::Counters;
use crate::error::ApiError;
use crate::probe;
use crate::store::{HeartbeatStats, MetadataStore, PeerRegistration, StoreError};
use cairn_proto::clock::now_ms;

/// Longest peer address accepted.
const MAX_ADDRESS_LEN: usize = 256;
/// Longest zone name accepted.
const MAX_ZONE_LEN: usize = 64;
/// Most delete orders sent with one heartbeat answer.
const DELETES_PER_HEARTBEAT: u32 = 1000;

fn peer_id(signer: [u8; 32]) -> Result<PeerId, ApiError> {
    PeerId::from_bytes(signer)
        .map_err(|e| ApiError::bad_request(format!("the peer key is invalid: {e}")))
}

/// Checks a peer's advertised base URL: `http://host:port` with nothing after it.
fn check_address(address: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("the peer address {address:?} {why}"));
    if address.len() > MAX_ADDRESS_LEN {
        return Err(bad("is too long"));
    }
    let rest = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) || !rest.is_ascii() {
        return Err(bad("must be a bare http://host:port base URL"));
    }
    Ok(())
}

fn check_zone(zone: Option<&str>) -> Result<(), ApiError> {
    if let Some(zone) = zone
        && (zone.is_empty()
            || zone.len() > MAX_ZONE_LEN
            || !zone.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(ApiError::bad_request(format!(
            "the zone {zone:?} must be 1 to {MAX_ZONE_LEN} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

fn refuse_if_gone(state: PeerState) -> Result<(), ApiError> {
    match state {
        PeerState::Disqualified => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "peer_disqualified",
            "this peer was disqualified by the pool after failed audits",
        )),
        _ => Ok(()),
    }
}

/// `POST /v1/peers/register`.
pub async fn register<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<RegisterPeer>,
) -> Result<Json<PeerRegistered>, ApiError> {
    let id = peer_id(request.signer)?;
    let body = request.body;
    check_address(body.address.as_str())?;
    check_zone(body.zone.as_deref())?;
    let now = now_ms();
    let piece_count = body.pieces.len() as u64;
    let record = app
        .store
        .register_peer(
            PeerRegistration {
                id,
                address: body.address.to_string(),
                zone: body.zone.clone(),
                capacity: body.capacity,
                used: body.used,
                piece_count,
            },
            now,
        )
        .await?;
    refuse_if_gone(record.state)?;
    let known: HashSet<_> = app.store.pieces_on_peer(id).await?.into_iter().collect();
    let held: HashSet<_> = body.pieces.iter().copied().collect();
    let unknown_pieces = body
        .pieces
        .iter()
        .copied()
        .filter(|p| !known.contains(p))
        .collect();
    // Pieces the records place on this peer that it no longer holds (a disk replaced or
    // damaged while it was away) are gone: marking them damaged has them rebuilt elsewhere.
    // (Pieces only placed for an open upload are not in the records yet and stay alone.)
    let mut missing = 0u64;
    for piece in known.iter().filter(|p| !held.contains(p)) {
        missing += app.store.mark_corrupt(id, *piece).await?;
    }
    if missing > 0 {
        tracing::warn!(peer = %id, missing, "peer re-registered without pieces it held; they will be rebuilt");
        Counters::add(&app.counters.pieces_marked_corrupt, missing);
    }
    tracing::info!(peer = %id, address = %body.address, zone = ?body.zone, pieces = piece_count, "peer registered");
    probe::spawn_probe(app.clone(), id, body.address);
    Ok(Json(PeerRegistered {
        pool: app.pool_id(),
        peer: id,
        state: record.state,
        heartbeat_interval_ms: duration_ms(app.config.timers.heartbeat_interval),
        unknown_pieces,
    }))
}

/// Milliseconds in a duration, saturating.
pub(crate) fn duration_ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `POST /v1/peers/heartbeat`.
pub async fn heartbeat<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Heartbeat>,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let id = peer_id(request.signer)?;
    let body = request.body;
    let now = now_ms();
    let stats = HeartbeatStats {
        used: body.used,
        piece_count: body.piece_count,
        load: body.load,
    };
    let record = match app.store.heartbeat(id, stats, now).await {
        Ok(record) => record,
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(
                "peer_unknown",
                "the pool does not know this peer; register first",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    refuse_if_gone(record.state)?;
    if !body.deleted.is_empty() {
        app.store.ack_deletes(id, body.deleted).await?;
    }
    let pending = app.store.pending_deletes(id, DELETES_PER_HEARTBEAT).await?;
    let expires_at = App::<S>::expiry(now, app.config.order_ttl);
    let delete = pending
        .into_iter()
        .map(|piece| {
            app.order(
                id,
                piece,
                OrderAction::Delete,
                0,
                Holder::Peer(id),
                expires_at,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(HeartbeatAck {
        state: record.state,
        delete,
        repairs: app.repairs.take_for(id),
    }))
}

/// `POST /v1/peers/drain`: the peer wants to leave; it stops receiving new pieces.
pub async fn drain<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<Option<serde_json::Value>>,
) -> Result<StatusCode, ApiError> {
    let id = peer_id(request.signer)?;
    let record =
        app.store.peer(id).await?.ok_or_else(|| {
            ApiError::not_found("peer_unknown", "the pool does not know this peer")
        })?;
    refuse_if_gone(record.state)?;
    // Asking again is harmless: a draining peer keeps draining, a departed one stays gone.
    if !matches!(record.state, PeerState::Draining | PeerState::Left) {
        app.store
            .set_peer_state(id, PeerState::Draining, now_ms())
            .await?;
        tracing::info!(peer = %id, "peer draining");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/repairs/report`: a peer's outcome of a repair job it ran.
pub async fn repair_report<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<RepairReport>,
) -> Result<StatusCode, ApiError> {
    let id = peer_id(request.signer)?;
    crate::repair::report(&app, id, request.body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_bare_base_urls() {
        for good in [
            "http://127.0.0.1:7000",
            "https://peer.example:443",
            "http://[::1]:8",
        ] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:7000",
            "http://",
            "http://a/b",
            "ftp://a",
            "http://a b",
            "http://u@h",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
        assert!(check_address(&format!("http://{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn zones_are_short_and_printable() {
        assert!(check_zone(None).is_ok());
        assert!(check_zone(Some("eu-west-1")).is_ok());
        assert!(check_zone(Some("")).is_err());
        assert!(check_zone(Some("a b")).is_err());
        assert!(check_zone(Some(&"z".repeat(65))).is_err());
    }
}
