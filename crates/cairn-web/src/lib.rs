//! The drive in a browser: a web server the user's own client runs on loopback, so the
//! page talks to the same library as the `cairn` command and encryption stays on the
//! user's machine. Pages are rendered here (`pages/`), with a little plain JavaScript for
//! uploads, the transfer panel and dragging (`assets/`); nothing is built at build time.
//!
//! The server guards itself as a local web server must (`guard.rs`): loopback only, a
//! one-time secret exchanged for an `HttpOnly; SameSite=Strict` cookie, the `Host` header
//! checked against DNS rebinding, `Origin` checked on writes, a strict
//! Content-Security-Policy, and user files served so they cannot script the drive.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod actions;
mod assets;
mod dav;
mod error;
pub mod guard;
mod open;
mod pages;
mod raw;
mod received;
mod routes;
mod served;
mod setup;
mod shares;
mod state;
mod transfers;
mod trash;
mod upload;
mod zip;
mod zipstream;

use std::net::SocketAddr;
use std::path::PathBuf;

use cairn_client::DriveOptions;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::served::Served;

pub use dav::{DavConfig, RunningDav};
pub use error::UiError;
pub use open::open_browser;
pub use received::share_zip;
pub use trash::TRASH;

/// How to serve the drive.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// The client home whose drive is served (it may not exist yet: the page then offers to
    /// create or recover an account).
    pub home: PathBuf,
    /// Where to listen; must be a loopback address.
    pub listen: SocketAddr,
    /// A passphrase given up front (the page asks for it otherwise).
    pub passphrase: Option<Zeroizing<String>>,
    /// How the drive stores and fetches.
    pub options: DriveOptions,
    /// How long an upload waits for its page's next chunk before it gives up and stores
    /// nothing (the tab was closed, the computer slept).
    pub upload_idle: std::time::Duration,
}

impl UiConfig {
    /// Serves the drive of `home` on `127.0.0.1:0`.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self {
            home: home.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            passphrase: None,
            options: DriveOptions::default(),
            upload_idle: std::time::Duration::from_secs(120),
        }
    }
}

/// A drive server running on its own task.
pub struct RunningUi {
    addr: SocketAddr,
    url: String,
    signed_in: watch::Receiver<bool>,
    served: Served,
}

impl RunningUi {
    /// Binds `config.listen` (refusing anything but loopback) and serves until
    /// [`RunningUi::shutdown`].
    pub async fn start(config: UiConfig) -> Result<Self, UiError> {
        let (listener, addr) = served::bind(config.listen).await?;
        let state = state::AppState::new(&config, addr).await?;
        let url = format!(
            "http://{addr}{}?secret={}",
            guard::LOGIN,
            state.login_secret()
        );
        let signed_in = state.sign_ins();
        let served = Served::spawn(listener, routes::router(state), "drive's web server");
        Ok(Self {
            addr,
            url,
            signed_in,
            served,
        })
    }

    /// The address a browser opens first: it carries the one-time secret.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resolves once a browser has signed in with [`RunningUi::url`] (its secret is then
    /// spent, so anything that carried it can go).
    pub fn signed_in(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut signed_in = self.signed_in.clone();
        async move {
            let _ = signed_in.wait_for(|s| *s).await;
        }
    }

    /// Stops serving; transfers in progress are dropped (an unfinished upload stores
    /// nothing).
    pub async fn shutdown(self) {
        self.served.shutdown().await;
    }
}
