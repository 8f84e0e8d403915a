//! The signed-request extractor: proves the caller holds its key (a peer's or an
//! account's), refuses replays, holds each key to its request rate ([`crate::rate`]), then
//! decodes the JSON body that was signed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use cairn_proto::RequestAuth;
use cairn_proto::limits::MAX_SIGNED_BODY;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::error::ApiError;

/// A request signed by `signer`, with its decoded body (an empty body reads as `{}`/`null`
/// for types that accept it).
#[derive(Debug)]
pub struct Signed<T> {
    /// The signer's public key.
    pub signer: [u8; 32],
    /// The decoded body.
    pub body: T,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl<S, T> FromRequest<Arc<App<S>>> for Signed<T>
where
    S: Send + Sync + 'static,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &Arc<App<S>>) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let auth = RequestAuth::from_headers(|name| header(&parts.headers, name))?;
        let declared = super::limits::declared_length(&parts.headers);
        let bytes =
            super::limits::read_body(body, declared, MAX_SIGNED_BODY, app.config.body_timeout)
                .await?;
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
        // The signature is checked outside the replay memory's lock, so requests are not
        // verified one at a time.
        auth.check_signature(parts.method.as_str(), path, &bytes)?;
        let signer = {
            let mut requests = app.requests.lock().map_err(|_| {
                ApiError::internal("checking a signature", &"request memory poisoned")
            })?;
            requests.remember(&auth, app.now_ms())?
        };
        // Counted only once the signature holds, so nobody can spend another key's requests.
        app.rates
            .lock()
            .map_err(|_| ApiError::internal("checking a request rate", &"rate memory poisoned"))?
            .check(signer, app.now_ms())?;
        let body = decode(&bytes)?;
        Ok(Self { signer, body })
    }
}

/// Most characters of a decoding error shown back (serde quotes the offending value, which
/// may be megabytes long).
const MAX_DECODE_ERROR: usize = 300;

/// Decodes a JSON body; an empty body decodes as `null`.
pub(super) fn decode<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.is_empty() { b"null" } else { bytes };
    serde_json::from_slice(text).map_err(|e| {
        let reason = cairn_net::http::bounded(&e.to_string(), MAX_DECODE_ERROR);
        ApiError::bad_request(format!("the request body is not valid: {reason}"))
    })
}
