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
        let mount = Mount::new(config.drive, &config.home, "", token);
        let app = Router::new().fallback(move |request: Request| {
            let mount = mount.clone();
            async move { mount.serve(addr.port(), request).await }
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

/// The drive over WebDAV under `PREFIX/SECRET/`: `/SECRET/` for `cairn webdav`,
/// `/dav/SECRET/` beside the drive's pages in `cairn ui`.
#[derive(Clone)]
pub(crate) struct Mount {
    handler: DavHandler,
    prefix: &'static str,
    token: Arc<str>,
}

impl Mount {
    pub fn new(
        drive: Arc<Drive>,
        home: &std::path::Path,
        prefix: &'static str,
        token: String,
    ) -> Self {
        let handler = DavHandler::builder()
            .filesystem(Box::new(fs::DriveFs::new(drive, home)))
            .locksystem(MemLs::new())
            .strip_prefix(format!("{prefix}/{token}"))
            .read_buf_size(READ_BUF)
            .build_handler();
        Self {
            handler,
            prefix,
            token: token.into(),
        }
    }

    /// The path a WebDAV client mounts: `PREFIX/SECRET/`.
    pub fn path(&self) -> String {
        format!("{}/{}/", self.prefix, self.token)
    }

    /// One request: the `Host` and the secret checked, then WebDAV.
    pub async fn serve(&self, port: u16, request: Request) -> Response {
        if !host_is_loopback(request.headers(), port) {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                "this address is not the WebDAV server's; mount the address Cairn printed\n",
            )
                .into_response();
        }
        let offered = request
            .uri()
            .path()
            .strip_prefix(self.prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .map(|rest| rest.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if !same(offered.as_bytes(), self.token.as_bytes()) {
            return (
                StatusCode::FORBIDDEN,
                "mount the whole address Cairn gave; it carries this run's secret\n",
            )
                .into_response();
        }
        self.handler.handle(request).await.map(Body::new)
    }
}
