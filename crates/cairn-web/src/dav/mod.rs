//! The drive over WebDAV, for file managers (Finder, Explorer, GNOME Files), `rclone` and
//! `davfs2`: `dav-server` speaks the protocol, `fs.rs` answers it from the drive. Served
//! on loopback only, under a per-run secret in the address (`/SECRET/`: file managers
//! mount an address more readily than they send a password over plain HTTP), with the
//! `Host` checked as the drive's page checks it. Locks are kept in memory (`MemLs`), so
//! Finder mounts read-write.

mod file;
mod fs;
mod junk;
mod props;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_client::Drive;
use dav_server::DavHandler;
use dav_server::memls::MemLs;

use crate::error::UiError;
use crate::guard::host_is_loopback;
use crate::served::{self, Served};
use crate::state::{same, secret};

/// How `dav-server` reads a file for a GET: in pieces this big.
const READ_BUF: usize = 256 * 1024;

/// What to serve over WebDAV, and where.
pub struct DavConfig {
    /// The open drive.
    pub drive: Arc<Drive>,
    /// Its client home (dead properties and the spool of PUTs of unknown length live
    /// there).
    pub home: PathBuf,
    /// Where to listen; must be a loopback address.
    pub listen: SocketAddr,
}

/// A WebDAV server running on its own task.
pub struct RunningDav {
    addr: SocketAddr,
    url: String,
    served: Served,
}

impl RunningDav {
    /// Binds `config.listen` (refusing anything but loopback) and serves until
    /// [`RunningDav::shutdown`].
    pub async fn start(config: DavConfig) -> Result<Self, UiError> {
        let (listener, addr) = served::bind(config.listen).await?;
        let token = secret();
        let url = format!("http://{addr}/{token}/");
        let handler = DavHandler::builder()
            .filesystem(Box::new(fs::DriveFs::new(config.drive, &config.home)))
            .locksystem(MemLs::new())
            .strip_prefix(format!("/{token}"))
            .read_buf_size(READ_BUF)
            .build_handler();
        let app = Router::new().fallback(move |request: Request| {
            let handler = handler.clone();
            let token = token.clone();
            async move { serve(handler, &token, addr.port(), request).await }
        });
        Ok(Self {
            addr,
            url,
            served: Served::spawn(listener, app, "WebDAV server"),
        })
    }

    /// What a WebDAV client mounts: it carries the per-run secret.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving; a PUT in progress stores nothing.
    pub async fn shutdown(self) {
        self.served.shutdown().await;
    }
}

/// One request: the `Host` and the secret checked, then WebDAV.
async fn serve(handler: DavHandler, token: &str, port: u16, request: Request) -> Response {
    if !host_is_loopback(request.headers(), port) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this address is not the WebDAV server's; mount the address `cairn webdav` printed\n",
        )
            .into_response();
    }
    let path = request.uri().path();
    let offered = path
        .strip_prefix('/')
        .map(|rest| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    if !same(offered.as_bytes(), token.as_bytes()) {
        return (
            StatusCode::FORBIDDEN,
            "mount the whole address `cairn webdav` printed; it carries this run's secret\n",
        )
            .into_response();
    }
    handler.handle(request).await.map(Body::new)
}
