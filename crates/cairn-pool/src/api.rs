//! The pool's HTTP API, version 1 (paths in [`cairn_proto::api`]): a thin adapter over
//! [`crate::service`] — each handler extracts a signed request, calls one service method
//! and answers JSON; domain errors become refusals in `refusal.rs`.

mod accounts;
mod in_flight;
mod limits;
mod link_page;
mod listing;
mod objects;
mod peers;
mod refusal;
mod reports;
mod shares;
mod signed;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use cairn_proto::api as paths;
use cairn_proto::limits::MAX_SIGNED_BODY;

use crate::app::App;
use crate::store::MetadataStore;

pub use in_flight::MAX_IN_FLIGHT_REQUESTS;
pub use shares::MAX_PUBLIC_BODY;

/// Every endpoint the router serves, as (method, path pattern). Keep it in step with
/// [`router`]: `tests/authorization.rs` checks that each entry is served, that no other
/// method is, that the router has as many routes as this list has paths, and that each
/// entry has a row in the authorization matrix.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", paths::INFO),
    ("GET", paths::STATUS),
    ("GET", paths::METRICS),
    ("POST", paths::PEER_REGISTER),
    ("POST", paths::PEER_HEARTBEAT),
    ("POST", paths::PEER_DRAIN),
    ("POST", paths::REPAIR_REPORT),
    ("POST", paths::REPORT_CORRUPT),
    ("POST", paths::ACCOUNT),
    ("GET", paths::ACCOUNT_HEALTH),
    ("GET", paths::ACCOUNT_USAGE),
    ("POST", paths::UPLOADS),
    ("POST", paths::UPLOADS_MANY),
    ("POST", paths::COMMITS_MANY),
    ("DELETE", "/v1/uploads/{upload}"),
    ("POST", "/v1/uploads/{upload}/commit"),
    ("POST", "/v1/uploads/{upload}/segments/{index}/place"),
    ("POST", "/v1/uploads/{upload}/segments/{index}/commit"),
    ("GET", paths::OBJECTS),
    ("POST", paths::OBJECT_SOURCES),
    ("GET", paths::OBJECT),
    ("DELETE", paths::OBJECT),
    ("GET", paths::OBJECT_HEALTH),
    ("GET", paths::OBJECTS_LEVEL),
    ("GET", paths::OBJECT_RANGE),
    ("POST", paths::RENAME),
    ("POST", paths::LEDGER_FIND),
    ("POST", paths::OBJECTS_IMPORT),
    ("POST", paths::SHARES),
    ("GET", paths::SHARES),
    ("POST", paths::SHARE_REVOKE),
    ("POST", paths::SHARE_OPEN),
    ("POST", paths::SHARE_SOURCES),
    ("GET", paths::LINK_PAGE),
    ("GET", paths::LINK_PAGE_PINNED),
];

/// The router serving every endpoint. Every refusal, including an unknown route or a wrong
/// method, is a JSON [`cairn_proto::ErrorBody`]; bodies are capped at [`MAX_SIGNED_BODY`]
/// and must arrive within [`crate::PoolConfig::body_timeout`].
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
        .route(paths::ACCOUNT_USAGE, get(accounts::account_usage::<S>))
        .route(paths::UPLOADS, post(objects::begin::<S>))
        .route(paths::UPLOADS_MANY, post(objects::begin_many::<S>))
        .route(paths::COMMITS_MANY, post(objects::commit_many::<S>))
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
        .route(paths::OBJECT_SOURCES, post(objects::get_many::<S>))
        .route(
            paths::OBJECT,
            get(objects::get::<S>).delete(objects::delete::<S>),
        )
        .route(paths::OBJECT_HEALTH, get(accounts::object_health::<S>))
        .route(paths::OBJECTS_LEVEL, get(listing::level::<S>))
        .route(paths::OBJECT_RANGE, get(listing::range::<S>))
        .route(paths::RENAME, post(objects::rename::<S>))
        .route(paths::LEDGER_FIND, post(objects::find_ledger::<S>))
        .route(paths::OBJECTS_IMPORT, post(objects::import::<S>))
        .route(
            paths::SHARES,
            post(shares::create::<S>).get(shares::list::<S>),
        )
        .route(paths::SHARE_REVOKE, post(shares::revoke::<S>))
        .route(paths::SHARE_OPEN, post(shares::open::<S>))
        .route(paths::SHARE_SOURCES, post(shares::sources::<S>))
        .route(paths::LINK_PAGE, get(link_page::show))
        .route(paths::LINK_PAGE_PINNED, get(link_page::show))
        .fallback(limits::unknown_endpoint)
        .layer(DefaultBodyLimit::max(MAX_SIGNED_BODY))
        .layer(axum::middleware::from_fn(limits::refusals))
        .layer(axum::middleware::from_fn_with_state(
            in_flight::permits(),
            in_flight::limit,
        ))
        .with_state(app)
}
