//! What the pool's API answers when it refuses: an HTTP status and a
//! [`cairn_proto::ErrorBody`] with a stable code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_proto::{AuthError, ErrorBody, ErrorCode};

use crate::placement::PlacementError;
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
}

impl ApiError {
    /// A refusal with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400`: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
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
            "internal",
            format!("the pool failed while {context}; see its log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody::new(self.code, self.message))).into_response()
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
            "network_too_small",
            error.to_string(),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::NotFound(_) => Self::not_found("not_found", error.to_string()),
            StoreError::AlreadyExists(_) => {
                Self::new(StatusCode::CONFLICT, "already_exists", error.to_string())
            }
            StoreError::Incomplete { .. } => {
                Self::new(StatusCode::CONFLICT, "upload_incomplete", error.to_string())
            }
            StoreError::Conflict(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            _ => Self::internal("using its metadata store", &error),
        }
    }
}
