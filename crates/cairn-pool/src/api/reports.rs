//! Reports from clients: a piece whose bytes did not match its hash when downloaded.
//!
//! A report proves nothing by itself (a client could lie to get good pieces dropped), so it
//! only makes the pool look: the piece is audited whole on that peer, and only a failed
//! audit marks it damaged (see [`crate::audit`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use cairn_proto::api::CorruptReport;

use super::objects::account_id;
use super::signed::Signed;
use crate::app::App;
use crate::audit;
use crate::counters::Counters;
use crate::error::ApiError;
use crate::state::PeerState;
use crate::store::MetadataStore;

/// `POST /v1/reports/corrupt`: `202` once the report is taken (the audit runs afterwards);
/// `404` unless one of the account's objects has that piece on that peer.
pub async fn corrupt<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<CorruptReport>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    let CorruptReport { peer, hash } = request.body;
    if !app.store.account_has_piece(account, peer, hash).await? {
        return Err(ApiError::not_found(
            "piece_unknown",
            format!("none of your files has piece {hash} on peer {peer}"),
        ));
    }
    Counters::add(&app.counters.corruption_reports, 1);
    let auditable = app
        .store
        .peer(peer)
        .await?
        .filter(|p| !matches!(p.state, PeerState::Disqualified | PeerState::Left));
    if let Some(record) = auditable
        && !audit::spawn_whole_audit(app.clone(), record, hash)
    {
        tracing::info!(%peer, piece = %hash, "too many audits running; a reported piece waits for the routine audits");
    }
    Ok(StatusCode::ACCEPTED)
}
