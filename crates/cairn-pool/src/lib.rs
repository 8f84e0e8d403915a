//! The Cairn pool server as a library: peer registry and health, placement, the encrypted
//! object index behind one metadata-store trait, and the orders that let clients and peers
//! talk directly. It never stores data, keys or names.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod state;

pub use state::PeerState;
