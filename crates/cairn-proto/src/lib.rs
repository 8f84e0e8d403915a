//! Cairn's wire protocol, shared by pool, peer and client: pool-signed orders that peers
//! verify offline, and the error body every HTTP endpoint answers with.
//!
//! Nothing here does I/O or reads a clock; time comes in as an argument.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod error;
pub mod order;

pub use error::{ErrorBody, ErrorCode};
pub use order::{
    Holder, Order, OrderAction, OrderError, OrderSerial, OrderSigner, OrderVerifier, SignedOrder,
};
