//! Requests to the pool's API as peers and clients send them: JSON bodies signed with the
//! sender's Ed25519 key (`cairn_proto::RequestAuth`), over one shared pool of HTTP/1.1
//! connections, so many simulated senders cost one client.

use std::time::Duration;

use anyhow::Context;
use cairn_proto::clock::now_ms;
use cairn_proto::{ErrorBody, RequestAuth};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long one request may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The pool answered with an error status.
    #[error("{status} {code}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The pool's error code.
        code: String,
        /// The pool's explanation.
        message: String,
    },
    /// The request or its answer did not get through.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer was not what the API promises.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl Failure {
    /// A short reason for tallies: `429 rate_limited`, `transport`, `decode`.
    pub fn reason(&self) -> String {
        match self {
            Self::Refused { status, code, .. } => format!("{status} {code}"),
            Self::Transport(_) => "transport".to_owned(),
            Self::Decode(_) => "decode".to_owned(),
        }
    }
}

/// The pool's API at one base URL.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client of the pool at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .timeout(TIMEOUT)
            .build()
            .context("cannot build an HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// `POST path` with `body` as JSON, signed by `key`; decodes the JSON answer (an empty
    /// answer decodes as `null`, so `()` for `204 No Content`).
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        key: &SigningKey,
        path: &str,
        body: &B,
    ) -> Result<T, Failure> {
        let bytes = serde_json::to_vec(body).map_err(|e| Failure::Decode(e.to_string()))?;
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let auth = RequestAuth::sign(key, "POST", path, &bytes, now_ms(), nonce);
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        for (name, value) in auth.headers() {
            request = request.header(name, value);
        }
        Self::answer(request).await
    }

    /// `GET path`, unsigned, as text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> Result<String, Failure> {
        let bytes = Self::body(self.http.get(format!("{}{path}", self.base))).await?;
        String::from_utf8(bytes).map_err(|e| Failure::Decode(e.to_string()))
    }

    async fn answer<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, Failure> {
        let bytes = Self::body(request).await?;
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| Failure::Decode(e.to_string()))
    }

    /// Sends `request`; the answer's bytes if its status is a success.
    async fn body(request: reqwest::RequestBuilder) -> Result<Vec<u8>, Failure> {
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        if !status.is_success() {
            let body = ErrorBody::from_json(&bytes).unwrap_or_else(|_| {
                ErrorBody::new("unparsed", String::from_utf8_lossy(&bytes).into_owned())
            });
            return Err(Failure::Refused {
                status: status.as_u16(),
                code: body.code,
                message: body.message,
            });
        }
        Ok(bytes.to_vec())
    }
}
