//! Cairn's client library: a drive of files and folders whose names and contents are
//! encrypted on this device, erasure-coded and streamed straight to peers, with the pool
//! keeping only encrypted records. The `cairn` command and later front ends are thin
//! layers over [`Drive`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod compaction;
pub mod drive;
pub mod entry;
pub mod error;
mod flight;
pub mod home;
mod intents;
mod ledger;
pub mod listing;
pub mod pool;
pub mod progress;
mod recovery;
pub mod share;
mod together;
pub mod transfer;
pub mod tree;

/// Piece transfers to and from peers (shared with peers running repairs).
pub use cairn_transfer as peer;

pub use cairn_proto::api::BelowTarget;
pub use drive::{Drive, DriveOptions, Durability, FileStatus, Health, Kind, Stored};
pub use error::{ClientError, ClientResult};
pub use home::{Home, Protection};
pub use listing::{ListEntry, ListPage, Stat};
pub use progress::{Event, Progress};
pub use recovery::Recovered;
pub use share::{Received, Saved, ShareInfo, ShareOptions};
pub use transfer::{FileHandle, Transfers};
pub use tree::{TreeFailure, TreeReport, Walked};
