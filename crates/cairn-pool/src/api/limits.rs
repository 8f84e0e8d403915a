//! What every request to the pool meets before and after its handler: a cap on the body it
//! declares, a deadline on the body it sends, and a JSON [`ErrorBody`] for every refusal —
//! including the ones axum makes itself (unknown route, wrong method, a path or query that
//! does not parse), which it would otherwise answer empty or in plain text.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_proto::ErrorBody;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::MAX_SIGNED_BODY;
use crate::error::ApiError;

/// Default of [`crate::PoolConfig::body_timeout`]: how long a request body may stall, and
/// how long a small one may take in all.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Slowest rate, in bytes per second, a large body is granted beyond the body timeout:
/// a body of `n` bytes may take `body_timeout + n / MIN_BODY_RATE` seconds.
pub const MIN_BODY_RATE: u64 = 64 * 1024;

/// Most bytes of a plain-text refusal (axum's own) carried into the JSON message.
const MAX_REFUSAL_TEXT: usize = 1024;

/// Most characters of a request path echoed back in a message.
const MAX_ECHOED_PATH: usize = 100;

/// The `Content-Length` a request declares, if it declares a valid one.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `413`: the body is (or says it is) larger than `limit`.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
        format!("the request body is larger than {limit} bytes"),
    )
}

/// Reads a whole request body of at most `limit` bytes, refusing it with `408` if it stalls
/// for `timeout` or takes longer than `timeout` plus its [`MIN_BODY_RATE`] allowance.
///
/// Memory grows only with bytes actually received, never with what the client declares.
pub(super) async fn read_body(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let expected = declared.unwrap_or(limit as u64);
    let deadline = Instant::now() + timeout + Duration::from_secs(expected / MIN_BODY_RATE);
    let too_slow = || {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body arrived too slowly (nothing for {} s, or under {MIN_BODY_RATE} bytes a second); send it again",
                timeout.as_secs_f64()
            ),
        )
    };
    let mut stream = body.into_data_stream();
    let mut received: Vec<u8> = Vec::new();
    loop {
        let stall = (Instant::now() + timeout).min(deadline);
        let chunk = match tokio::time::timeout_at(stall, stream.next()).await {
            Err(_) => return Err(too_slow()),
            Ok(None) => return Ok(Bytes::from(received)),
            Ok(Some(chunk)) => chunk,
        };
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "request_incomplete",
                "the request body was cut off before its declared end; send it again",
            )
        })?;
        if received.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        received.extend_from_slice(&chunk);
    }
}

/// At most `max` characters of `text`, with an ellipsis if cut.
pub(super) fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// The fallback for a path no route serves: `404 unknown_endpoint`.
pub(super) async fn unknown_endpoint(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(
        "unknown_endpoint",
        format!(
            "the pool has no endpoint {method} {}; check the URL and that client and pool are the same version",
            bounded(uri.path(), MAX_ECHOED_PATH)
        ),
    )
}

/// The stable code for a refusal axum (or a layer) made without one.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Caps the declared body before any handler runs, then makes every refusal a JSON
/// [`ErrorBody`] and closes the connection after a `408` (its body was never read).
pub(super) async fn refusals(request: Request, next: Next) -> Response {
    if declared_length(request.headers()).is_some_and(|n| n > MAX_SIGNED_BODY as u64) {
        return close(too_large(MAX_SIGNED_BODY).into_response());
    }
    let method = request.method().clone();
    let path = bounded(request.uri().path(), MAX_ECHOED_PATH);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let response = if is_json {
        response
    } else {
        let (mut parts, body) = response.into_parts();
        let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        let message = if status.is_server_error() {
            tracing::error!(%method, %path, %status, "refused: {text}");
            "the pool failed to answer; see its log".to_owned()
        } else if status == StatusCode::METHOD_NOT_ALLOWED {
            format!("{path} does not accept {method}")
        } else if text.is_empty() {
            format!(
                "the request was refused: {}",
                status.canonical_reason().unwrap_or("client error")
            )
        } else {
            text
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let body = ErrorBody::new(code_for(status), message).to_json();
        Response::from_parts(parts, Body::from(body))
    };
    if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::PAYLOAD_TOO_LARGE {
        close(response)
    } else {
        response
    }
}

/// Asks hyper to close the connection after this answer: the request's body was not read
/// to its end, so the connection cannot carry another request.
fn close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
