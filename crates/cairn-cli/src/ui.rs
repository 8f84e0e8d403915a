//! `cairn ui`: the drive in the browser, served by this client on loopback until Ctrl-C.
//! Prints `drive at URL` (the address carries a one-time sign-in secret) and opens the
//! default browser unless told not to or there is no display.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use cairn_web::{RunningUi, UiConfig};

use crate::serve::shutdown_signal;
use crate::session::{Global, runtime};

/// Options of `cairn ui`.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Where to serve the drive: a loopback address (default: a free port on 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Print the address without opening a browser.
    #[arg(long)]
    no_open: bool,
}

/// Starts the drive's server for `home`, prints its line and opens a browser if asked.
pub async fn start(config: UiConfig, open: bool) -> anyhow::Result<RunningUi> {
    let home = config.home.clone();
    let ui = RunningUi::start(config)
        .await
        .context("cannot serve the drive")?;
    say!("drive at {}", ui.url());
    if open {
        open_in_browser(&ui, &home);
    }
    Ok(ui)
}

/// How long the page that carries the sign-in secret to the browser may stay on disk.
const OPENER_LIFETIME: std::time::Duration = std::time::Duration::from_secs(120);

fn open_in_browser(ui: &RunningUi, home: &Path) {
    let dir = if home.is_dir() {
        home.to_owned()
    } else {
        std::env::temp_dir()
    };
    match cairn_web::open_browser(ui.url(), &dir) {
        Some(page) => {
            // Once the secret is spent (or unused for a while) its page goes.
            let signed_in = ui.signed_in();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(OPENER_LIFETIME, signed_in).await;
                let _ = std::fs::remove_file(page);
            });
        }
        None => eprintln!("open the address above in your browser"),
    }
}

/// `cairn ui`.
pub fn ui(global: &Global, args: UiArgs) -> anyhow::Result<()> {
    crate::serve::init_logging_default("warn");
    let home = global.home_dir()?;
    let mut config = UiConfig::new(&home);
    config.listen = args.listen;
    // A passphrase given the usual ways opens the drive at once; otherwise the page asks.
    if global.passphrase_file.is_some() || std::env::var_os("CAIRN_PASSPHRASE").is_some() {
        config.passphrase = global.passphrase("")?;
    }
    runtime()?.block_on(async {
        let ui = start(config, !args.no_open).await?;
        shutdown_signal().await;
        ui.shutdown().await;
        Ok(())
    })
}
