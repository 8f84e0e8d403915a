//! Test support for Cairn (a dev-dependency only): real `cairn pool` / `cairn peer`
//! processes on `127.0.0.1:0` with temporary data directories, polling with deadlines
//! instead of sleeping, a small client that signs requests as an account or a peer, a
//! headless Chromium driven through chromedriver, and a proxy in front of a pool that
//! counts or holds what reaches it.

pub mod browser;
mod client;
mod daemon;
mod files;
pub mod proxy;
pub mod raw;
mod wait;

pub use client::{ApiFailure, SignedClient};
pub use daemon::{Daemon, DaemonError};
pub use files::files_under;
pub use wait::{WaitError, wait_until};
