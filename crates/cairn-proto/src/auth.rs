//! Signed requests: how a peer or an account proves to the pool, on every request, that it
//! holds its Ed25519 key — no passwords, no sessions, replays refused.
//!
//! The caller signs `"cairn request v1\0" | method | 0 | path and query | 0 | time (u64,
//! big-endian Unix milliseconds) | nonce (16 bytes) | BLAKE3(body)` and sends four headers:
//! [`KEY_HEADER`] (hex public key), [`TIME_HEADER`] (decimal milliseconds),
//! [`NONCE_HEADER`] (32 hex digits) and [`SIGNATURE_HEADER`] (unpadded base64url). The pool
//! accepts a request once, within [`MAX_CLOCK_SKEW_MS`] of its own clock.

use std::fmt;

use data_encoding::{BASE64URL_NOPAD, HEXLOWER_PERMISSIVE};
use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::codes;
use crate::error::ErrorCode;
use crate::replay::{Refused, ReplayCache};

/// Header carrying the signer's public key, 64 hex digits.
pub const KEY_HEADER: &str = "cairn-key";
/// Header carrying the signing time, decimal Unix milliseconds.
pub const TIME_HEADER: &str = "cairn-time";
/// Header carrying the request's random nonce, 32 hex digits.
pub const NONCE_HEADER: &str = "cairn-nonce";
/// Header carrying the Ed25519 signature, unpadded base64url.
pub const SIGNATURE_HEADER: &str = "cairn-signature";

/// How far a request's time may be from the pool's clock, either way (5 minutes).
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Most requests the pool remembers at once by default; beyond it, new requests wait.
pub const DEFAULT_REQUEST_MEMORY: usize = 1_000_000;

/// Domain separation from every other signature in Cairn.
const SIGNING_CONTEXT: &[u8; 17] = b"cairn request v1\0";

/// The proof a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    /// The signer's public key (a peer id or an account id).
    pub key: [u8; 32],
    /// When the request was signed, Unix milliseconds.
    pub time_ms: u64,
    /// Random bytes that make each request unique.
    pub nonce: [u8; 16],
    /// Signature over the request (see the module documentation).
    pub signature: [u8; 64],
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is absent.
    #[error("the request is not signed: header {0} is missing")]
    Missing(&'static str),
    /// A header is present but not in its format.
    #[error("the request's {header} header is malformed: {why}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The key is not a valid Ed25519 public key.
    #[error("the request's key is not a valid Ed25519 public key")]
    BadKey,
    /// The signature does not match the key and request.
    #[error("the request's signature does not match its key and content")]
    BadSignature,
    /// The request's time is too far from the pool's clock.
    #[error(
        "the request was signed {skew_ms} ms away from the pool's clock (at most {MAX_CLOCK_SKEW_MS} ms allowed); check this machine's clock"
    )]
    ClockSkew {
        /// Distance between the request's time and the pool's clock, in milliseconds.
        skew_ms: u64,
    },
    /// This exact request was already accepted.
    #[error("this request was already received once; a signed request cannot be replayed")]
    Replayed,
    /// The pool remembers as many recent requests as it may.
    #[error("the pool is busy; try again shortly")]
    Busy,
}

impl ErrorCode for AuthError {
    fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => codes::AUTH_MISSING,
            Self::Malformed { .. } => codes::AUTH_MALFORMED,
            Self::BadKey => codes::AUTH_BAD_KEY,
            Self::BadSignature => codes::AUTH_BAD_SIGNATURE,
            Self::ClockSkew { .. } => codes::AUTH_CLOCK_SKEW,
            Self::Replayed => codes::AUTH_REPLAYED,
            Self::Busy => codes::POOL_BUSY,
        }
    }
}

/// The bytes signed for a request.
fn message(
    method: &str,
    path_and_query: &str,
    time_ms: u64,
    nonce: &[u8; 16],
    body: &[u8],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(SIGNING_CONTEXT.len() + method.len() + path_and_query.len() + 66);
    out.extend_from_slice(SIGNING_CONTEXT);
    out.extend_from_slice(method.as_bytes());
    out.push(0);
    out.extend_from_slice(path_and_query.as_bytes());
    out.push(0);
    out.extend_from_slice(&time_ms.to_be_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(blake3::hash(body).as_bytes());
    out
}

/// Decodes a header's text into exactly `N` bytes.
fn decode_exact<const N: usize>(
    header: &'static str,
    text: &str,
    encoding: &data_encoding::Encoding,
    text_len: usize,
) -> Result<[u8; N], AuthError> {
    let malformed = |why| AuthError::Malformed { header, why };
    if text.len() != text_len {
        return Err(malformed("it has the wrong length"));
    }
    let bytes = encoding
        .decode(text.as_bytes())
        .map_err(|_| malformed("it is not in the expected encoding"))?;
    bytes
        .try_into()
        .map_err(|_| malformed("it has the wrong length"))
}

impl RequestAuth {
    /// Signs a request with `key`: its method (`"POST"`), path and query as sent
    /// (`"/v1/uploads?x=1"`), body, time and a fresh random nonce.
    pub fn sign(
        key: &SigningKey,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        time_ms: u64,
        nonce: [u8; 16],
    ) -> Self {
        let signature = key.sign(&message(method, path_and_query, time_ms, &nonce, body));
        Self {
            key: key.verifying_key().to_bytes(),
            time_ms,
            nonce,
            signature: signature.to_bytes(),
        }
    }

    /// The four headers, name and value.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (KEY_HEADER, HEXLOWER_PERMISSIVE.encode(&self.key)),
            (TIME_HEADER, self.time_ms.to_string()),
            (NONCE_HEADER, HEXLOWER_PERMISSIVE.encode(&self.nonce)),
            (SIGNATURE_HEADER, BASE64URL_NOPAD.encode(&self.signature)),
        ]
    }

    /// Reads the four headers through `header` (which returns a header's text by name).
    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<Self, AuthError> {
        let get = |name: &'static str| header(name).ok_or(AuthError::Missing(name));
        let key = decode_exact(KEY_HEADER, get(KEY_HEADER)?, &HEXLOWER_PERMISSIVE, 64)?;
        let time_text = get(TIME_HEADER)?;
        if time_text.is_empty()
            || time_text.len() > 20
            || !time_text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(AuthError::Malformed {
                header: TIME_HEADER,
                why: "it is not a decimal number of milliseconds",
            });
        }
        let time_ms = time_text.parse().map_err(|_| AuthError::Malformed {
            header: TIME_HEADER,
            why: "it is not a decimal number of milliseconds",
        })?;
        let nonce = decode_exact(NONCE_HEADER, get(NONCE_HEADER)?, &HEXLOWER_PERMISSIVE, 32)?;
        let signature = decode_exact(
            SIGNATURE_HEADER,
            get(SIGNATURE_HEADER)?,
            &BASE64URL_NOPAD,
            86,
        )?;
        Ok(Self {
            key,
            time_ms,
            nonce,
            signature,
        })
    }

    /// Checks the signature alone (no clock, no replay memory).
    pub fn check_signature(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let key = cairn_core::pubkey::decompress(&self.key).map_err(|_| AuthError::BadKey)?;
        let message = message(method, path_and_query, self.time_ms, &self.nonce, body);
        key.verify_strict(&message, &Signature::from_bytes(&self.signature))
            .map_err(|_| AuthError::BadSignature)
    }
}

/// The pool's side: verifies signed requests and accepts each one once.
pub struct RequestVerifier {
    seen: ReplayCache<([u8; 32], [u8; 16])>,
}

impl fmt::Debug for RequestVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestVerifier")
            .field("remembered", &self.seen.len())
            .finish()
    }
}

impl Default for RequestVerifier {
    fn default() -> Self {
        Self::new(DEFAULT_REQUEST_MEMORY)
    }
}

impl RequestVerifier {
    /// A verifier that remembers up to `capacity` recent requests.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: ReplayCache::new(capacity),
        }
    }

    /// Checks `auth` against the request at `now_ms` and, if it holds, remembers it so it
    /// cannot be used again. Returns the signer's key. A refused request is not remembered.
    pub fn verify(
        &mut self,
        auth: &RequestAuth,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_ms: u64,
    ) -> Result<[u8; 32], AuthError> {
        let skew_ms = auth.time_ms.abs_diff(now_ms);
        if skew_ms > MAX_CLOCK_SKEW_MS {
            return Err(AuthError::ClockSkew { skew_ms });
        }
        auth.check_signature(method, path_and_query, body)?;
        self.remember(auth, now_ms)
    }

    /// [`verify`](Self::verify) after the caller checked the signature itself
    /// ([`RequestAuth::check_signature`], which needs no memory and so no lock): checks the
    /// time and remembers the request, refusing a replay.
    pub fn remember(&mut self, auth: &RequestAuth, now_ms: u64) -> Result<[u8; 32], AuthError> {
        let skew_ms = auth.time_ms.abs_diff(now_ms);
        if skew_ms > MAX_CLOCK_SKEW_MS {
            return Err(AuthError::ClockSkew { skew_ms });
        }
        self.seen.prune(now_ms);
        // Remembered until the request's time leaves the window, after which the clock
        // check refuses it anyway.
        let forget_at = auth
            .time_ms
            .saturating_add(MAX_CLOCK_SKEW_MS)
            .saturating_add(1);
        self.seen
            .insert((auth.key, auth.nonce), forget_at)
            .map_err(|refused| match refused {
                Refused::Seen => AuthError::Replayed,
                Refused::Full => AuthError::Busy,
            })?;
        Ok(auth.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn signed(now: u64) -> RequestAuth {
        RequestAuth::sign(&key(1), "POST", "/v1/uploads", b"{}", now, [7; 16])
    }

    fn from_map(map: &HashMap<&'static str, String>) -> Result<RequestAuth, AuthError> {
        RequestAuth::from_headers(|name| map.get(name).map(String::as_str))
    }

    #[test]
    fn a_signed_request_verifies_once() {
        let mut verifier = RequestVerifier::default();
        let auth = signed(1_000_000);
        let key = verifier
            .verify(&auth, "POST", "/v1/uploads", b"{}", 1_000_500)
            .unwrap();
        assert_eq!(key, key_bytes(1));
        assert_eq!(
            verifier.verify(&auth, "POST", "/v1/uploads", b"{}", 1_000_600),
            Err(AuthError::Replayed)
        );
    }

    fn key_bytes(seed: u8) -> [u8; 32] {
        key(seed).verifying_key().to_bytes()
    }

    #[test]
    fn any_change_to_the_request_breaks_the_signature() {
        let auth = signed(5_000_000);
        let mut verifier = RequestVerifier::default();
        for (method, path, body) in [
            ("GET", "/v1/uploads", &b"{}"[..]),
            ("POST", "/v1/uploadz", b"{}"),
            ("POST", "/v1/uploads?x", b"{}"),
            ("POST", "/v1/uploads", b"{ }"),
        ] {
            assert_eq!(
                verifier.verify(&auth, method, path, body, 5_000_000),
                Err(AuthError::BadSignature)
            );
        }
        let mut other_time = auth.clone();
        other_time.time_ms += 1;
        let mut other_nonce = auth.clone();
        other_nonce.nonce[0] ^= 1;
        let mut other_key = auth.clone();
        other_key.key = key_bytes(2);
        for forged in [other_time, other_nonce, other_key] {
            assert_eq!(
                verifier.verify(&forged, "POST", "/v1/uploads", b"{}", 5_000_000),
                Err(AuthError::BadSignature)
            );
        }
        // None of the refusals used up the real request.
        assert!(
            verifier
                .verify(&auth, "POST", "/v1/uploads", b"{}", 5_000_000)
                .is_ok()
        );
    }

    #[test]
    fn clock_skew_is_bounded_both_ways() {
        let mut verifier = RequestVerifier::default();
        let now = 100 * MAX_CLOCK_SKEW_MS;
        let early = signed(now - MAX_CLOCK_SKEW_MS - 1);
        assert_eq!(
            verifier.verify(&early, "POST", "/v1/uploads", b"{}", now),
            Err(AuthError::ClockSkew {
                skew_ms: MAX_CLOCK_SKEW_MS + 1
            })
        );
        let late = signed(now + MAX_CLOCK_SKEW_MS + 1);
        assert!(matches!(
            verifier.verify(&late, "POST", "/v1/uploads", b"{}", now),
            Err(AuthError::ClockSkew { .. })
        ));
        let edge = signed(now - MAX_CLOCK_SKEW_MS);
        assert!(
            verifier
                .verify(&edge, "POST", "/v1/uploads", b"{}", now)
                .is_ok()
        );
    }

    #[test]
    fn a_replay_after_the_window_is_refused_by_the_clock() {
        let mut verifier = RequestVerifier::new(4);
        let auth = signed(1_000_000);
        verifier
            .verify(&auth, "POST", "/v1/uploads", b"{}", 1_000_000)
            .unwrap();
        let later = 1_000_000 + MAX_CLOCK_SKEW_MS + 1;
        assert!(matches!(
            verifier.verify(&auth, "POST", "/v1/uploads", b"{}", later),
            Err(AuthError::ClockSkew { .. })
        ));
    }

    #[test]
    fn a_full_memory_refuses_rather_than_forgets() {
        let mut verifier = RequestVerifier::new(1);
        let first = signed(1_000_000);
        verifier
            .verify(&first, "POST", "/v1/uploads", b"{}", 1_000_000)
            .unwrap();
        let second = RequestAuth::sign(&key(1), "POST", "/v1/uploads", b"{}", 1_000_000, [8; 16]);
        assert_eq!(
            verifier.verify(&second, "POST", "/v1/uploads", b"{}", 1_000_000),
            Err(AuthError::Busy)
        );
    }

    #[test]
    fn headers_round_trip_and_missing_ones_are_named() {
        let auth = signed(42);
        let map: HashMap<_, _> = auth.headers().into_iter().collect();
        assert_eq!(from_map(&map).unwrap(), auth);
        for name in [KEY_HEADER, TIME_HEADER, NONCE_HEADER, SIGNATURE_HEADER] {
            let mut partial = map.clone();
            partial.remove(name);
            assert_eq!(from_map(&partial), Err(AuthError::Missing(name)));
        }
        let mut bad_time = map.clone();
        bad_time.insert(TIME_HEADER, "-1".to_owned());
        assert!(matches!(
            from_map(&bad_time),
            Err(AuthError::Malformed {
                header: TIME_HEADER,
                ..
            })
        ));
    }

    #[test]
    fn signature_is_pinned() {
        // Changing the signed message changes this value: that is a protocol change.
        let auth = RequestAuth::sign(&key(1), "POST", "/v1/uploads", b"{}", 1, [0; 16]);
        assert_eq!(BASE64URL_NOPAD.encode(&auth.signature), PINNED_SIGNATURE,);
    }

    /// Computed independently with Python's `cryptography` and `blake3` packages.
    const PINNED_SIGNATURE: &str =
        "FpQobX33rLTaDQ-kB5exzKzfz_hr80EszVQss1M9uqSF_HwQDoWtjY_DQP0b7IG_v3G9EjGjHjnDOCRz0VMsDA";

    proptest! {
        #[test]
        fn garbage_headers_never_panic(
            key in ".{0,80}", time in ".{0,30}", nonce in ".{0,40}", sig in ".{0,100}",
        ) {
            let map: HashMap<&'static str, String> = [
                (KEY_HEADER, key), (TIME_HEADER, time), (NONCE_HEADER, nonce), (SIGNATURE_HEADER, sig),
            ].into_iter().collect();
            if let Ok(auth) = from_map(&map) {
                let _ = RequestVerifier::default().verify(&auth, "GET", "/", b"", auth.time_ms);
            }
        }
    }
}
