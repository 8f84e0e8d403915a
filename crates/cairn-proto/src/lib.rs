//! Cairn's wire protocol, shared by pool, peer and client: the pool's and the peer's HTTP
//! APIs (paths and JSON bodies), signed requests, pool-signed orders that peers verify
//! offline, peer-signed receipts, and the error body every endpoint answers with.
//!
//! Nothing here does I/O; the protocol's logic takes time as an argument, read by its caller
//! from the one [`clock`] every role shares.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod auth;
pub mod clock;
pub mod codes;
pub mod error;
pub mod limits;
pub mod order;
pub mod peer_addr;
pub mod peer_api;
pub mod peer_state;
pub mod receipt;
mod replay;

pub use auth::{AuthError, RequestAuth, RequestVerifier};
pub use error::{ErrorBody, ErrorCode};
pub use order::{
    Holder, Order, OrderAction, OrderError, OrderSerial, OrderSigner, OrderVerifier, SignedOrder,
    Vouched,
};
pub use peer_addr::{PeerAddr, PeerAddrError};
pub use peer_state::PeerState;
pub use receipt::{BadReceipt, Receipt};
