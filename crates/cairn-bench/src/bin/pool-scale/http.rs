//! Requests to the pool's API as peers and clients send them: JSON bodies signed with the
//! sender's Ed25519 key (through `cairn_net::SignedClient`), over one shared pool of
//! HTTP/1.1 connections, so many simulated senders cost one client.

use std::time::Duration;

use anyhow::Context;
use cairn_net::signed::Method;
use cairn_net::{PoolCallError, SignedClient};
use ed25519_dalek::SigningKey;
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
    /// Unsigned until [`SignedClient::with_key`] names the sender.
    pool: SignedClient,
}

impl From<PoolCallError> for Failure {
    fn from(error: PoolCallError) -> Self {
        match error {
            PoolCallError::Refused { status, error, .. } => Self::Refused {
                status,
                code: error.code,
                message: error.message,
            },
            PoolCallError::Unreachable { source, .. } => Self::Transport(source.to_string()),
            other => Self::Decode(other.to_string()),
        }
    }
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
            pool: SignedClient::from_parts(http, base, None),
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
        Ok(self.pool.with_key(key.clone()).post(path, body).await?)
    }

    /// `GET path`, unsigned, as text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> Result<String, Failure> {
        let answer = self.pool.send(Method::GET, path, Vec::new(), false).await?;
        let bytes = answer.success()?;
        String::from_utf8(bytes.to_vec()).map_err(|e| Failure::Decode(e.to_string()))
    }
}
