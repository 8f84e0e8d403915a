//! Reports from clients: a piece whose bytes did not match its hash when downloaded (the
//! pool audits it; see [`Objects::report_corrupt`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use cairn_proto::api::CorruptReport;

use super::objects::account_id;
use super::signed::Signed;
use crate::app::App;
use crate::error::ApiError;
use crate::service::Objects;
use crate::store::MetadataStore;

/// `POST /v1/reports/corrupt`: `202` once the report is taken (the audit runs afterwards);
/// `404` unless one of the account's objects has that piece on that peer.
pub async fn corrupt<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
    request: Signed<CorruptReport>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(request.signer)?;
    let CorruptReport { peer, hash } = request.body;
    (Objects::new(&app))
        .report_corrupt(account, peer, hash)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
