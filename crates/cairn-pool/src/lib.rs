//! The Cairn pool server as a library: peer registry and health, placement, the encrypted
//! object index behind one metadata-store trait, and the orders that let clients and peers
//! talk directly. It never stores data, keys or names.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod app;
pub mod audit;
pub mod config;
pub mod counters;
pub mod daemon;
pub mod error;
pub mod health;
pub mod placement;
pub mod probe;
pub mod quota;
pub mod rate;
pub mod rebalance;
pub mod repair;
pub mod reserved;
pub mod scoring;
pub mod service;
pub mod state;
pub mod store;

pub use config::PoolConfig;
pub use daemon::{PoolError, RunningPool};
pub use state::PeerState;
