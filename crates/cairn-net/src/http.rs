//! What both daemons' HTTP servers share beyond the accept loop: the deadline a request
//! body must meet, bounded echoes of what the client sent, and the turning of every plain
//! refusal (axum's own: unknown route, wrong method, a path or query that does not parse)
//! into a JSON [`ErrorBody`].

use cairn_proto::codes;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use cairn_proto::ErrorBody;
use tokio::time::Instant;

/// How long a request body may stall, and how long a small one may take in all (the
/// default of both daemons' `body_timeout`).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Slowest rate, in bytes per second, a large body is granted beyond the body timeout: a
/// body of `n` bytes may take `body_timeout + n / MIN_BODY_RATE` seconds.
pub const MIN_BODY_RATE: u64 = 64 * 1024;

/// Most bytes of a plain-text refusal carried into the JSON message.
const MAX_REFUSAL_TEXT: usize = 1024;

/// Most characters of a request path or name echoed back in a message.
pub const MAX_ECHOED: usize = 100;

/// The deadlines of one request body: it may stall at most `timeout` at a time, and must
/// end by `timeout` plus its [`MIN_BODY_RATE`] allowance for `size` bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    timeout: Duration,
    end: Instant,
}

impl BodyDeadline {
    /// The deadlines for a body of `size` bytes, starting now.
    pub fn new(timeout: Duration, size: u64) -> Self {
        Self {
            timeout,
            end: Instant::now() + timeout + Duration::from_secs(size / MIN_BODY_RATE),
        }
    }

    /// When the next chunk must have arrived.
    pub fn next_chunk(&self) -> Instant {
        (Instant::now() + self.timeout).min(self.end)
    }
}

/// At most `max` characters of `text`, with an ellipsis if cut.
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// The stable code for a refusal made without one.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => codes::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => codes::METHOD_NOT_ALLOWED,
        StatusCode::REQUEST_TIMEOUT => codes::REQUEST_TIMEOUT,
        StatusCode::LENGTH_REQUIRED => codes::LENGTH_REQUIRED,
        StatusCode::PAYLOAD_TOO_LARGE => codes::REQUEST_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => codes::UNSUPPORTED_MEDIA_TYPE,
        s if s.is_server_error() => codes::INTERNAL,
        _ => codes::BAD_REQUEST,
    }
}

/// `response` to `method path` (the path already [`bounded`]) with a refusal that is not
/// JSON rewritten as an [`ErrorBody`]; `server` names who failed in a 5xx message (whose
/// detail goes to the log instead). Successes and JSON refusals pass unchanged.
pub async fn json_refusal(
    response: Response,
    method: &Method,
    path: &str,
    server: &str,
) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if status.is_server_error() {
        tracing::error!(%method, %path, %status, "refused: {text}");
        format!("the {server} failed to answer; see its log")
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
    Response::from_parts(
        parts,
        Body::from(ErrorBody::new(code_for(status), message).to_json()),
    )
}

/// Asks hyper to close the connection after `response`: the request's body was not read
/// to its end, so the connection cannot carry another request.
pub fn close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_bounded_on_character_boundaries() {
        assert_eq!(bounded("abc", 5), "abc");
        assert_eq!(bounded("ééééé", 2), "éé…");
    }

    #[tokio::test]
    async fn plain_refusals_become_error_bodies_and_the_rest_pass() {
        let plain = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body(Body::empty())
            .unwrap();
        let answer = json_refusal(plain, &Method::PATCH, "/v1/x", "pool").await;
        let bytes = axum::body::to_bytes(answer.into_body(), 4096)
            .await
            .unwrap();
        let error = ErrorBody::from_json(&bytes).unwrap();
        assert_eq!(error.code, codes::METHOD_NOT_ALLOWED);
        assert_eq!(error.message, "/v1/x does not accept PATCH");
        let ok = Response::new(Body::from("fine"));
        let answer = json_refusal(ok, &Method::GET, "/", "pool").await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
}
