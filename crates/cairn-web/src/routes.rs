//! The map of the drive's addresses, and what handlers share: the open drive or where to
//! send a person who has none yet, paths from addresses, and how failures answer.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post, put};
use cairn_client::{ClientError, Drive};
use cairn_core::RemotePath;
use serde_json::json;

use crate::error::Failure;
use crate::state::{AppState, Gate};
use crate::{actions, assets, guard, pages, raw, received, setup, shares, upload, zip};

/// The whole site, behind the guard.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/drive/") }))
        .route(guard::LOGIN, get(guard::login))
        .route("/drive", get(|| async { Redirect::to("/drive/") }))
        .route("/drive/", get(pages::folder))
        .route("/drive/{*path}", get(pages::folder))
        .route("/file/{*path}", get(pages::file))
        .route("/raw/{*path}", get(raw::serve))
        .route("/zip/", get(zip::serve))
        .route("/zip/{*path}", get(zip::serve))
        .route("/search", get(pages::search))
        .route("/trash", get(pages::trash))
        .route("/network", get(pages::network))
        .route("/links", get(shares::list))
        .route("/share/{*path}", get(shares::dialog))
        .route("/open", get(received::form).post(received::open))
        .route("/received/{handle}", get(received::show))
        .route("/received/{handle}/zip", get(received::zip))
        .route("/received/{handle}/file/{index}", get(received::file))
        .route("/setup", get(setup::setup))
        .route("/setup/create", post(setup::create))
        .route(
            "/setup/recover",
            get(setup::recover_form).post(setup::recover),
        )
        .route("/setup/phrase", get(setup::phrase).post(setup::confirm))
        .route("/unlock", get(setup::unlock_form).post(setup::unlock))
        .merge(changes())
        .route("/api/uploads", post(upload::begin))
        .route("/api/uploads/{id}", put(upload::chunk))
        .route("/api/health", get(actions::health))
        .route("/api/transfers", get(actions::transfers))
        .route("/api/transfers/clear", post(actions::clear_transfers))
        .route("/api/transfers/{id}/cancel", post(actions::cancel_transfer))
        .route("/assets/{name}", get(assets::serve))
        .route("/dav/{*rest}", any(dav_entry))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// The routes that change the drive's namespace, each carried to the end even when the page
/// that asked goes away ([`actions::to_the_end`]).
fn changes() -> Router<AppState> {
    Router::new()
        .route("/do/mkdir", post(actions::mkdir))
        .route("/do/rename", post(actions::rename))
        .route("/do/move", post(actions::move_to))
        .route("/do/delete", post(actions::delete))
        .route("/do/restore", post(actions::restore))
        .route("/do/purge", post(actions::purge))
        .route("/do/empty-trash", post(actions::empty_trash))
        .route("/do/share", post(shares::create))
        .route("/do/revoke", post(shares::revoke))
        .route("/api/mkdir", post(actions::api_mkdir))
        .route("/api/move", post(actions::api_move))
        .route_layer(axum::middleware::from_fn(actions::to_the_end))
}

/// `/dav/SECRET/…`: the drive over WebDAV, for file managers pointed at the address the
/// Network page shows (the guard lets these through on the secret, not the cookie).
async fn dav_entry(State(state): State<AppState>, request: Request) -> Response {
    match state.dav() {
        Some(mount) => mount.serve(state.addr().port(), request).await,
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the drive is not open yet: unlock it (or set it up) in the page first\n",
        )
            .into_response(),
    }
}

/// What a page handler answers.
pub(crate) type Page = Result<Response, Stop>;

/// Why a page did not render: a place to send the person, or a failure to show.
pub(crate) enum Stop {
    Redirect(&'static str),
    Fail(Failure),
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Self::Fail(failure)
    }
}

impl From<ClientError> for Stop {
    fn from(error: ClientError) -> Self {
        Self::Fail(error.into())
    }
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect(to) => Redirect::to(to).into_response(),
            Self::Fail(failure) => {
                (failure.status, pages::error_page(&failure.message, None)).into_response()
            }
        }
    }
}

/// The open drive, or a redirect to the page that opens it.
pub(crate) fn gate(state: &AppState) -> Result<Arc<Drive>, Stop> {
    state.drive().map_err(|gate| {
        Stop::Redirect(match gate {
            Gate::Setup => "/setup",
            Gate::Unlock => "/unlock",
            Gate::Phrase => "/setup/phrase",
        })
    })
}

/// What a script's request answers.
pub(crate) type Api = Result<Response, Failure>;

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// The open drive, for a script: 409 with a reason when there is none.
pub(crate) fn drive_or_api(state: &AppState) -> Result<Arc<Drive>, Failure> {
    state.drive().map_err(|gate| {
        Failure::new(
            StatusCode::CONFLICT,
            match gate {
                Gate::Setup => "the drive has no account yet; reload the page to set one up",
                Gate::Unlock => "the drive is locked; reload the page and type its passphrase",
                Gate::Phrase => "confirm the recovery phrase first; reload the page",
            },
        )
    })
}

/// A drive path from the part of an address after its prefix (`None` is the root).
pub(crate) fn remote_path(text: Option<&str>) -> Result<RemotePath, Failure> {
    let text = text.unwrap_or("").trim_end_matches('/');
    RemotePath::parse(&format!("/{}", text.trim_start_matches('/')))
        .map_err(|e| Failure::bad_request(format!("that address names no path of the drive: {e}")))
}
