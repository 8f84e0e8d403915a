//! What every request to the pool meets before and after its handler: a cap on the body it
//! declares, a deadline on the body it sends, and a JSON [`ErrorBody`] for every refusal —
//! including the ones axum makes itself (unknown route, wrong method, a path or query that
//! does not parse), which it would otherwise answer empty or in plain text.

use cairn_proto::codes;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_net::http::{BodyDeadline, MAX_ECHOED, MIN_BODY_RATE, bounded, close, json_refusal};
use futures_util::StreamExt;

use crate::error::ApiError;
use cairn_proto::limits::MAX_SIGNED_BODY;

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
        codes::REQUEST_TOO_LARGE,
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
    let deadline = BodyDeadline::new(timeout, declared.unwrap_or(limit as u64));
    let too_slow = || {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            codes::REQUEST_TIMEOUT,
            format!(
                "the request body arrived too slowly (nothing for {} s, or under {MIN_BODY_RATE} bytes a second); send it again",
                timeout.as_secs_f64()
            ),
        )
    };
    let mut stream = body.into_data_stream();
    let mut received: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline.next_chunk(), stream.next()).await {
            Err(_) => return Err(too_slow()),
            Ok(None) => return Ok(Bytes::from(received)),
            Ok(Some(chunk)) => chunk,
        };
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::REQUEST_INCOMPLETE,
                "the request body was cut off before its declared end; send it again",
            )
        })?;
        if received.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        received.extend_from_slice(&chunk);
    }
}

/// The fallback for a path no route serves: `404 unknown_endpoint`.
pub(super) async fn unknown_endpoint(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(
        codes::UNKNOWN_ENDPOINT,
        format!(
            "the pool has no endpoint {method} {}; check the URL and that client and pool are the same version",
            bounded(uri.path(), MAX_ECHOED)
        ),
    )
}

/// Caps the declared body before any handler runs, then makes every refusal a JSON
/// [`ErrorBody`] and closes the connection after a `408` (its body was never read).
pub(super) async fn refusals(request: Request, next: Next) -> Response {
    if declared_length(request.headers()).is_some_and(|n| n > MAX_SIGNED_BODY as u64) {
        return close(too_large(MAX_SIGNED_BODY).into_response());
    }
    let method = request.method().clone();
    let path = bounded(request.uri().path(), MAX_ECHOED);
    let response = json_refusal(next.run(request).await, &method, &path, "pool").await;
    let status = response.status();
    if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::PAYLOAD_TOO_LARGE {
        close(response)
    } else {
        response
    }
}
