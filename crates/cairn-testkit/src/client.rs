//! A small HTTP client that signs every request with an Ed25519 key, as an account (or a
//! peer) does, and decodes JSON answers or the error body.

use cairn_net::PoolCallError;
use cairn_net::signed::Method;
use cairn_proto::ErrorBody;
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// The server answered with an error status.
    #[error("{status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its error body (`code` "unparsed" if it had none).
        body: ErrorBody,
    },
    /// The request did not complete.
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer was not the expected JSON.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ApiFailure {
    /// The error code, if the server refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { body, .. } => Some(&body.code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Signs requests to one server with one key (through [`cairn_net::SignedClient`], as
/// every other client of the pool does).
#[derive(Clone)]
pub struct SignedClient {
    inner: cairn_net::SignedClient,
    key: SigningKey,
}

impl SignedClient {
    /// A client for `base` (e.g. `http://127.0.0.1:7700`) signing with `key`.
    pub fn new(base: &str, key: SigningKey) -> Self {
        let inner =
            cairn_net::SignedClient::from_parts(reqwest::Client::new(), base, Some(key.clone()));
        Self { inner, key }
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Sends `method path` with `body` bytes, signed; returns the status and body bytes.
    pub async fn send_raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), ApiFailure> {
        let method =
            Method::from_bytes(method.as_bytes()).map_err(|e| ApiFailure::Decode(e.to_string()))?;
        let answer = self.inner.send(method, path_and_query, body, true).await;
        let answer = answer.map_err(ApiFailure::from)?;
        Ok((answer.status, answer.body.to_vec()))
    }

    /// Sends a signed request with a JSON body (or none) and decodes a JSON answer.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<T, ApiFailure> {
        let method =
            Method::from_bytes(method.as_bytes()).map_err(|e| ApiFailure::Decode(e.to_string()))?;
        let answer = self.inner.call(method, path_and_query, body).await;
        answer.map_err(ApiFailure::from)
    }
}

impl From<PoolCallError> for ApiFailure {
    fn from(error: PoolCallError) -> Self {
        match error {
            PoolCallError::Refused { status, error, .. } => Self::Refused {
                status,
                body: error,
            },
            PoolCallError::Unreachable { source, .. } => Self::Transport(source),
            other => Self::Decode(other.to_string()),
        }
    }
}
