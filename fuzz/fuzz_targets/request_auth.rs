//! Signed-request headers as the pool receives them, then the verifier.
//!
//! The input is split at `0xff` bytes into the four header values, the method, the path and
//! the body, so the fuzzer can vary each.

#![no_main]

use cairn_proto::auth::{KEY_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIME_HEADER};
use cairn_proto::{RequestAuth, RequestVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff);
    let mut next = || std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or("");
    let (key, time, nonce, signature) = (next(), next(), next(), next());
    let (method, path) = (next(), next());
    let body = next().as_bytes().to_vec();
    let header = |name: &str| match name {
        KEY_HEADER => Some(key),
        TIME_HEADER => Some(time),
        NONCE_HEADER => Some(nonce),
        SIGNATURE_HEADER => Some(signature),
        _ => None,
    };
    if let Ok(auth) = RequestAuth::from_headers(header) {
        let mut verifier = RequestVerifier::default();
        let _ = verifier.verify(&auth, method, path, &body, auth.time_ms);
        let _ = verifier.verify(&auth, method, path, &body, auth.time_ms);
    }
});
