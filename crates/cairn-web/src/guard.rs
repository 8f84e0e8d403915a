//! The rules of a local web server that holds someone's files: only this machine's
//! browser, signed in with the one-time secret it was given, may use it.
//!
//! - Every request's `Host` must name the loopback address the server listens on, so a
//!   web page whose DNS name is rebound to 127.0.0.1 is refused (421).
//! - [`LOGIN`] exchanges the one-time secret of the printed address for an
//!   `HttpOnly; SameSite=Strict` session cookie and redirects to a clean address; any other
//!   request without the cookie gets 401.
//! - A request that changes anything must come from the drive's own pages: its `Origin`
//!   must be the drive's (403 otherwise), on top of the `SameSite=Strict` cookie.
//! - Every answer carries a strict Content-Security-Policy, `nosniff`, no referrer and no
//!   framing by others; user files get their own, stricter policy (see `raw.rs`).

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::pages;
use crate::state::{AppState, same};

/// Where the printed address points: `LOGIN?secret=…`.
pub const LOGIN: &str = "/login";
/// The session cookie's name.
pub const COOKIE: &str = "cairn_drive";
/// How long a browser stays signed in (while the same server runs).
const SESSION_SECONDS: u64 = 30 * 24 * 3600;
/// The policy of the drive's own pages: nothing but its own scripts, styles and media.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; media-src 'self'; frame-src 'self'; connect-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether the `Host` names this server.
fn host_allowed(headers: &HeaderMap, state: &AppState) -> bool {
    host_is_loopback(headers, state.addr().port())
}

/// Whether the `Host` names the loopback address at `port` (what DNS rebinding cannot
/// forge: a rebound name arrives as its own name).
pub(crate) fn host_is_loopback(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let allowed = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// Whether the request carries this server's session cookie.
fn signed_in(headers: &HeaderMap, state: &AppState) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value.as_bytes(), state.session().as_bytes()))
}

/// Whether a write comes from the drive's own pages.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    let fetch_site = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok());
    let origin_ok = matches!((origin, host), (Some(origin), Some(host))
        if origin.eq_ignore_ascii_case(&format!("http://{host}")));
    origin_ok && fetch_site.is_none_or(|site| site == "same-origin")
}

/// The checks above, around every route.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !host_allowed(headers, &state) {
        return refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "This address is not the drive's. Open the address `cairn ui` printed (it starts with http://127.0.0.1).",
        );
    }
    let path = request.uri().path();
    if path.starts_with("/dav/") {
        // WebDAV clients carry no cookie and no `Origin`: the secret in the path is their
        // key, checked by the WebDAV server itself.
        return next.run(request).await;
    }
    let public = path == LOGIN || path.starts_with("/assets/");
    if !public && !signed_in(headers, &state) {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "This browser is not signed in to the drive. Open the address `cairn ui` (or `cairn local`) printed in its terminal; it signs this browser in.",
        );
    }
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if !reads && !same_origin(headers) {
        return refusal(
            StatusCode::FORBIDDEN,
            "Changes are accepted only from the drive's own pages.",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Nothing leaves for other sites; `no-referrer` would also make the browser send
    // `Origin: null` on the drive's own form posts, which the origin check refuses.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let mut response = (status, pages::plain_page("Cairn drive", message)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    response
}

#[derive(Deserialize)]
pub(crate) struct Login {
    #[serde(default)]
    secret: String,
}

/// `GET /login?secret=…`: the one-time secret becomes the session cookie; the address bar
/// is cleaned by the redirect. A browser already signed in just goes on.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(login): Query<Login>,
) -> Response {
    if signed_in(&headers, &state) {
        return Redirect::to("/").into_response();
    }
    if !state.take_login(&login.secret) {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "This sign-in address was already used or is not the current one. Each address signs in one browser once; stop `cairn ui` and run it again for a new one.",
        );
    }
    // It outlives a browser restart (a person closing the window should not need a new
    // address); it is worth nothing once this server stops, as each run has its own.
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}",
        state.session()
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
