//! The pool's HTTP API, version 1 (paths in [`cairn_proto::api`]).

mod accounts;
mod objects;
mod peers;
mod reports;
mod signed;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use cairn_proto::api as paths;

use crate::app::App;
use crate::store::MetadataStore;

pub use objects::MAX_PIECE_SIZE;
pub(crate) use peers::duration_ms;
pub use signed::MAX_SIGNED_BODY;

/// The router serving every endpoint.
pub fn router<S: MetadataStore>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route(paths::INFO, get(status::info::<S>))
        .route(paths::STATUS, get(status::status::<S>))
        .route(paths::METRICS, get(status::metrics::<S>))
        .route(paths::PEER_REGISTER, post(peers::register::<S>))
        .route(paths::PEER_HEARTBEAT, post(peers::heartbeat::<S>))
        .route(paths::PEER_DRAIN, post(peers::drain::<S>))
        .route(paths::REPAIR_REPORT, post(peers::repair_report::<S>))
        .route(paths::REPORT_CORRUPT, post(reports::corrupt::<S>))
        .route(paths::ACCOUNT, post(accounts::open::<S>))
        .route(paths::ACCOUNT_HEALTH, get(accounts::account_health::<S>))
        .route(paths::UPLOADS, post(objects::begin::<S>))
        .route("/v1/uploads/{upload}", delete(objects::abort::<S>))
        .route("/v1/uploads/{upload}/commit", post(objects::commit::<S>))
        .route(
            "/v1/uploads/{upload}/segments/{index}/place",
            post(objects::place::<S>),
        )
        .route(
            "/v1/uploads/{upload}/segments/{index}/commit",
            post(objects::commit_segment::<S>),
        )
        .route(paths::OBJECTS, get(objects::list::<S>))
        .route(
            paths::OBJECT,
            get(objects::get::<S>).delete(objects::delete::<S>),
        )
        .route(paths::OBJECT_HEALTH, get(accounts::object_health::<S>))
        .route(paths::RENAME, post(objects::rename::<S>))
        .layer(DefaultBodyLimit::max(MAX_SIGNED_BODY))
        .with_state(app)
}
