//! The Cairn peer as a library: a crash-safe piece store within a capacity, a data path
//! that checks every pool-signed order before storing, serving, auditing or deleting a
//! piece, the link that registers with the pool, heartbeats and deletes on its word, and
//! the repair jobs it runs for the pool.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod daemon;
pub mod orphans;
pub mod repair;
pub mod server;
pub mod service;
pub mod store;

pub use daemon::{DEFAULT_RECOVERY_WINDOW, PeerConfig, PeerError, RunningPeer};
pub use service::{PeerService, ServiceError};
pub use store::PieceStore;
