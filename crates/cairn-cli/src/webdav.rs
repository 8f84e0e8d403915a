//! `cairn webdav`: the drive over WebDAV, served by this client on loopback until Ctrl-C,
//! for file managers and `rclone`. Prints `webdav at URL`; the URL carries this run's
//! secret and is exactly what a WebDAV client mounts.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use cairn_web::{DavConfig, RunningDav};

use crate::serve::shutdown_signal;
use crate::session::{Global, runtime};

/// Options of `cairn webdav`.
#[derive(Debug, clap::Args)]
pub struct WebdavArgs {
    /// Where to serve: a loopback address (default: a free port on 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// `cairn webdav`.
pub fn webdav(global: &Global, args: WebdavArgs) -> anyhow::Result<()> {
    crate::serve::init_logging_default("warn");
    let home = global.home_dir()?;
    let drive = Arc::new(global.drive(|_| {})?);
    runtime()?.block_on(async {
        let dav = RunningDav::start(DavConfig {
            drive,
            home,
            listen: args.listen,
        })
        .await
        .context("cannot serve WebDAV")?;
        say!("webdav at {}", dav.url());
        shutdown_signal().await;
        dav.shutdown().await;
        Ok(())
    })
}
