//! A small HTTP client that signs every request with an Ed25519 key, as an account (or a
//! peer) does, and decodes JSON answers or the error body.

use cairn_proto::clock::now_ms;
use cairn_proto::{ErrorBody, RequestAuth};
use ed25519_dalek::SigningKey;
use rand::RngCore;
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

/// Signs requests to one server with one key.
#[derive(Clone)]
pub struct SignedClient {
    http: reqwest::Client,
    base: String,
    key: SigningKey,
}

impl SignedClient {
    /// A client for `base` (e.g. `http://127.0.0.1:7700`) signing with `key`.
    pub fn new(base: &str, key: SigningKey) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
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
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let auth = RequestAuth::sign(&self.key, method, path_and_query, &body, now_ms(), nonce);
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ApiFailure::Decode(e.to_string()))?;
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.base))
            .body(body);
        for (name, value) in auth.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?.to_vec()))
    }

    /// Sends a signed request with a JSON body (or none) and decodes a JSON answer.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<T, ApiFailure> {
        let bytes = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| ApiFailure::Decode(e.to_string()))?
            }
            None => Vec::new(),
        };
        let (status, answer) = self.send_raw(method, path_and_query, bytes).await?;
        if !(200..300).contains(&status) {
            let body = ErrorBody::from_json(&answer)
                .unwrap_or_else(|_| ErrorBody::new("unparsed", String::from_utf8_lossy(&answer)));
            return Err(ApiFailure::Refused { status, body });
        }
        let answer: &[u8] = if answer.is_empty() { b"null" } else { &answer };
        serde_json::from_slice(answer).map_err(|e| ApiFailure::Decode(e.to_string()))
    }
}
