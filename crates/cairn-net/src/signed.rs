//! One client of the pool's API that signs its requests: an account, a peer, `cairn peer
//! leave`, the testkit and the bench all reach the pool through it. Each signed request
//! carries the [`cairn_proto::auth`] headers over its method, path and query, the time, a
//! fresh nonce and BLAKE3 of its body; an answer is either the success body or the pool's
//! [`ErrorBody`].

use std::time::Duration;

use bytes::Bytes;
use cairn_proto::clock::now_ms;
use cairn_proto::{ErrorBody, RequestAuth};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::endpoint::{Endpoint, EndpointError};

pub use reqwest::Method;

/// Why a client of a pool could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The pool's address cannot be used.
    #[error(transparent)]
    Address(#[from] EndpointError),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build an HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Why a request to the pool did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PoolCallError {
    /// The pool could not be reached, or its answer broke off.
    #[error("cannot reach the pool at {url}: {source}")]
    Unreachable {
        /// The pool's base URL.
        url: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// The pool answered with an error status.
    #[error("the pool refused ({status}): {error}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The pool's error body (code `unparsed` if it sent none).
        error: ErrorBody,
        /// How long the pool asked to wait before trying again (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The request's body could not be encoded as JSON.
    #[error("cannot encode the request: {0}")]
    Encode(String),
    /// A successful answer was not the JSON the API promises.
    #[error("the pool's answer is not what the API promises: {0}")]
    BadAnswer(String),
    /// The request must be signed and this client has no key.
    #[error("this request must be signed, and this client has no key")]
    NoKey,
}

impl PoolCallError {
    /// The HTTP status, if the pool answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The pool's error code, if it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

/// An answer of any status, as it came.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `Retry-After` the pool sent, in whole seconds, if any.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body if the status is a success, else the pool's refusal.
    pub fn success(self) -> Result<Bytes, PoolCallError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let error = ErrorBody::from_json(&self.body).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&self.body);
            ErrorBody::new("unparsed", format!("HTTP {}: {}", self.status, text.trim()))
        });
        Err(PoolCallError::Refused {
            status: self.status,
            error,
            retry_after: self.retry_after,
        })
    }

    /// The success body decoded as JSON (an empty one as `null`, so `()` for `204`).
    pub fn json<T: DeserializeOwned>(self) -> Result<T, PoolCallError> {
        let body = self.success()?;
        let body: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(body).map_err(|e| PoolCallError::BadAnswer(e.to_string()))
    }
}

/// A client of one pool, signing as one key (or as no one, for the public routes); cheap
/// to clone, keeps connections alive.
#[derive(Clone)]
pub struct SignedClient {
    http: reqwest::Client,
    base: String,
    key: Option<SigningKey>,
}

impl std::fmt::Debug for SignedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl SignedClient {
    /// A client of the pool at `address` (`https://HOST:PORT#ID`, pinned to that identity,
    /// or `http://` on loopback), its connections made by `builder`, signing as `key`.
    pub fn connect(
        address: &str,
        builder: reqwest::ClientBuilder,
        key: Option<SigningKey>,
    ) -> Result<Self, ConnectError> {
        let endpoint = Endpoint::parse(address)?;
        let http = match endpoint.identity {
            Some(identity) if endpoint.is_tls() => crate::pinned_client(identity, builder),
            _ => builder.build(),
        }
        .map_err(ConnectError::Build)?;
        Ok(Self::from_parts(http, &endpoint.base, key))
    }

    /// A client of the pool at the base URL `base` over an HTTP client made elsewhere.
    pub fn from_parts(http: reqwest::Client, base: &str, key: Option<SigningKey>) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// The same pool over the same connections, signing as `key`.
    pub fn with_key(&self, key: SigningKey) -> Self {
        Self {
            key: Some(key),
            ..self.clone()
        }
    }

    /// The pool's base URL (without its identity), to which request paths are appended.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The key requests are signed with.
    pub fn key(&self) -> Option<&SigningKey> {
        self.key.as_ref()
    }

    /// Sends `method path_and_query` with `body` (JSON, if any), signed if `sign`; answers
    /// whatever the pool answered.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
        sign: bool,
    ) -> Result<Answer, PoolCallError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.base));
        if sign {
            let key = self.key.as_ref().ok_or(PoolCallError::NoKey)?;
            let mut nonce = [0u8; 16];
            rand::rng().fill_bytes(&mut nonce);
            let auth =
                RequestAuth::sign(key, method.as_str(), path_and_query, &body, now_ms(), nonce);
            for (name, value) in auth.headers() {
                request = request.header(name, value);
            }
        }
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let unreachable = |source| PoolCallError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(unreachable)?;
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// A signed request with `body` encoded as JSON (or none), its answer decoded as JSON.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<T, PoolCallError> {
        let bytes = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| PoolCallError::Encode(e.to_string()))?
            }
            None => Vec::new(),
        };
        self.send(method, path_and_query, bytes, true).await?.json()
    }

    /// A signed `GET`.
    pub async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, PoolCallError> {
        self.call::<(), T>(Method::GET, path_and_query, None).await
    }

    /// A signed `POST` of `body` as JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path_and_query: &str,
        body: &B,
    ) -> Result<T, PoolCallError> {
        self.call(Method::POST, path_and_query, Some(body)).await
    }

    /// A signed `DELETE`.
    pub async fn delete<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, PoolCallError> {
        self.call::<(), T>(Method::DELETE, path_and_query, None)
            .await
    }

    /// An unsigned `GET` of one of the pool's public routes.
    pub async fn get_public<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, PoolCallError> {
        (self
            .send(Method::GET, path_and_query, Vec::new(), false)
            .await?)
            .json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode};
    use cairn_proto::RequestVerifier;
    use cairn_proto::auth::{KEY_HEADER, NONCE_HEADER};

    /// What the test pool saw of each request.
    #[derive(Default)]
    struct Seen {
        checked: Vec<Result<[u8; 32], String>>,
        nonces: Vec<String>,
    }

    /// A pool that checks every request's signature as the real one does, and answers by
    /// path: `/ok` with JSON, `/empty` with nothing, `/busy` with `429` and `Retry-After`,
    /// `/refused` with an error body, `/garbled` with a non-JSON error.
    async fn pool() -> (String, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let replay = Arc::new(Mutex::new(RequestVerifier::new(1000)));
        let s = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let (s, replay) = (s.clone(), replay.clone());
                async move {
                    let path = uri.path_and_query().map_or("", |p| p.as_str()).to_owned();
                    let checked = RequestAuth::from_headers(|name| {
                        headers.get(name).and_then(|v| v.to_str().ok())
                    })
                    .and_then(|auth| {
                        let mut verifier = replay.lock().unwrap();
                        verifier.verify(&auth, method.as_str(), &path, &body, now_ms())
                    })
                    .map_err(|e| e.to_string());
                    let mut seen = s.lock().unwrap();
                    seen.checked.push(checked);
                    if let Some(nonce) = headers.get(NONCE_HEADER) {
                        seen.nonces.push(nonce.to_str().unwrap().to_owned());
                    }
                    let echo = format!("{{\"path\":\"{}\",\"len\":{}}}", uri.path(), body.len());
                    match uri.path() {
                        "/ok" => (StatusCode::OK, HeaderMap::new(), echo),
                        "/empty" => (StatusCode::NO_CONTENT, HeaderMap::new(), String::new()),
                        "/busy" => {
                            let mut h = HeaderMap::new();
                            h.insert("retry-after", "7".parse().unwrap());
                            let body = ErrorBody::new("rate_limited", "slow down").to_json();
                            (StatusCode::TOO_MANY_REQUESTS, h, body)
                        }
                        "/refused" => {
                            let body = ErrorBody::new("object_not_found", "no such object");
                            (StatusCode::NOT_FOUND, HeaderMap::new(), body.to_json())
                        }
                        _ => (
                            StatusCode::BAD_GATEWAY,
                            HeaderMap::new(),
                            " proxy down\n".into(),
                        ),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Echo {
        path: String,
        len: usize,
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[tokio::test]
    async fn signed_requests_pass_the_pools_check_each_with_its_own_nonce() {
        let (url, seen) = pool().await;
        let client = SignedClient::connect(&url, reqwest::Client::builder(), Some(key(1))).unwrap();
        let got: Echo = client.post("/ok?x=1", &vec![1, 2, 3]).await.unwrap();
        assert_eq!(
            got,
            Echo {
                path: "/ok".into(),
                len: 7
            }
        );
        let got: Echo = client.get("/ok?a=b%20c").await.unwrap();
        assert_eq!(got.len, 0);
        client.delete::<()>("/empty").await.unwrap();
        // Another key over the same connections signs as itself.
        let other = client.with_key(key(2));
        let _: Echo = other.get("/ok").await.unwrap();
        let seen = seen.lock().unwrap();
        let expected = [key(1), key(1), key(1), key(2)].map(|k| Ok(k.verifying_key().to_bytes()));
        assert_eq!(seen.checked, expected);
        let mut nonces = seen.nonces.clone();
        nonces.dedup();
        assert_eq!(nonces.len(), 4, "a nonce was reused");
    }

    #[tokio::test]
    async fn public_requests_are_unsigned_and_need_no_key() {
        let (url, seen) = pool().await;
        let client = SignedClient::connect(&url, reqwest::Client::builder(), None).unwrap();
        let got: Echo = client.get_public("/ok").await.unwrap();
        assert_eq!(got.path, "/ok");
        assert!(matches!(
            client.get::<Echo>("/ok").await,
            Err(PoolCallError::NoKey)
        ));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.checked.len(), 1, "the keyless signed call was sent");
        assert!(seen.checked[0].as_ref().unwrap_err().contains(KEY_HEADER));
    }

    #[tokio::test]
    async fn refusals_carry_the_pools_code_status_and_retry_after() {
        let (url, _) = pool().await;
        let client = SignedClient::connect(&url, reqwest::Client::builder(), Some(key(1))).unwrap();
        let refused = client.get::<Echo>("/refused").await.unwrap_err();
        assert_eq!(refused.status(), Some(404));
        assert_eq!(refused.code(), Some("object_not_found"));
        match client.get::<Echo>("/busy").await.unwrap_err() {
            PoolCallError::Refused {
                status: 429,
                retry_after,
                ..
            } => assert_eq!(retry_after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
        // A refusal that is not the pool's JSON still says what came back.
        match client.get::<Echo>("/garbled").await.unwrap_err() {
            PoolCallError::Refused { status, error, .. } => {
                assert_eq!((status, error.code.as_str()), (502, "unparsed"));
                assert_eq!(error.message, "HTTP 502: proxy down");
            }
            other => panic!("{other:?}"),
        }
        // A success that is not the promised JSON is a bad answer, not a refusal.
        assert!(matches!(
            client.get::<Vec<u8>>("/ok").await,
            Err(PoolCallError::BadAnswer(_))
        ));
        // A pool that is not there is unreachable.
        let gone = SignedClient::connect("http://127.0.0.1:9", reqwest::Client::builder(), None);
        assert!(matches!(
            gone.unwrap().get_public::<Echo>("/ok").await,
            Err(PoolCallError::Unreachable { .. })
        ));
    }

    #[test]
    fn addresses_are_checked_before_any_request() {
        for bad in [
            "ftp://x",
            "http://203.0.113.5:7700",
            "https://203.0.113.5:7700",
        ] {
            assert!(
                matches!(
                    SignedClient::connect(bad, reqwest::Client::builder(), None),
                    Err(ConnectError::Address(_))
                ),
                "{bad}"
            );
        }
    }
}
