//! What the pool's API answers when it refuses: an HTTP status and a
//! [`cairn_proto::ErrorBody`] with a stable code.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_proto::codes;
use cairn_proto::{AuthError, ErrorBody, ErrorCode};

use crate::placement::PlacementError;
use crate::rate::RateRefusal;
use crate::store::StoreError;

/// A refusal: status, stable code and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable wire code.
    pub code: &'static str,
    /// One sentence for a person.
    pub message: String,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// A refusal with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The same refusal, telling the caller to retry after `secs` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// `400`: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// `404` with a specific code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// `500`: something failed inside the pool; the details go to the log, not the wire.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!("{context}: {error}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            format!("the pool failed while {context}; see its log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(ErrorBody::new(self.code, self.message))).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<RateRefusal> for ApiError {
    fn from(refusal: RateRefusal) -> Self {
        let (status, code) = match refusal {
            RateRefusal::TooFast { .. } => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED),
            RateRefusal::TooManyKeys => (StatusCode::SERVICE_UNAVAILABLE, codes::POOL_BUSY),
        };
        Self::new(status, code, refusal.to_string()).with_retry_after(refusal.retry_after_secs())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let status = match error {
            AuthError::Replayed => StatusCode::CONFLICT,
            AuthError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        Self::new(status, error.code(), error.to_string())
    }
}

impl From<PlacementError> for ApiError {
    fn from(error: PlacementError) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::NETWORK_TOO_SMALL,
            error.to_string(),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::NotFound(_) => Self::not_found(codes::NOT_FOUND, error.to_string()),
            StoreError::AlreadyExists(_) => Self::new(
                StatusCode::CONFLICT,
                codes::ALREADY_EXISTS,
                error.to_string(),
            ),
            StoreError::Incomplete { .. } => Self::new(
                StatusCode::CONFLICT,
                codes::UPLOAD_INCOMPLETE,
                error.to_string(),
            ),
            StoreError::Conflict(_) => {
                Self::new(StatusCode::CONFLICT, codes::CONFLICT, error.to_string())
            }
            _ => Self::internal("using its metadata store", &error),
        }
    }
}
