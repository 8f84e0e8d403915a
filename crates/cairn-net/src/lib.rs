//! Cairn's network plumbing: the HTTP(S) accept loop both daemons share (timeouts, body
//! deadlines, JSON refusals), and transport security without a certificate authority: every
//! pool and peer serves HTTPS with a certificate it generates from its own Ed25519 identity,
//! and whoever dials it pins that identity — the pool's id travels in its address
//! (`https://HOST:PORT#POOL-ID`), a peer's id comes with every order — so no one can
//! impersonate either. Plain HTTP is only for loopback (tests, `cairn local`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod batch;
mod clients;
mod endpoint;
pub mod http;
mod pin;
mod serve;
pub mod signed;

pub use clients::Clients;
pub use endpoint::{Endpoint, EndpointError, is_loopback};
pub use pin::{PinnedVerifier, pinned_client};
pub use serve::{TlsError, serve, server_config};
pub use signed::{Answer, ConnectError, PoolCallError, SignedClient};

/// The crypto provider every side uses (AWS-LC, as the data path does).
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
