//! `cairn share`: links to files and folders that open without an account, expire, count
//! their downloads and can be revoked (issue 17); and `cairn get LINK`, which whoever
//! receives one runs with no client home at all.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_client::{DriveOptions, Progress, Received, ShareInfo, ShareOptions};
use cairn_core::share::Link;
use cairn_web::share_zip;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::session::{Bar, Global, human, runtime};

/// Options of `cairn share`.
#[derive(Debug, clap::Args)]
pub struct ShareArgs {
    /// The file or folder to share (a folder as it is now).
    path: Option<String>,
    /// How long the link opens (e.g. `7d`, `12h`); without it, until revoked.
    #[arg(long, value_parser = crate::serve::parse_duration)]
    expires: Option<Duration>,
    /// Ask whoever opens the link for a password too (read from CAIRN_SHARE_PASSWORD, else
    /// asked for on a terminal).
    #[arg(long)]
    password: bool,
    /// How many times the link may be opened.
    #[arg(long)]
    max_downloads: Option<u64>,
    /// List the account's links: id, path, created, expires, downloads, state.
    #[arg(long, conflicts_with_all = ["path", "expires", "password", "max_downloads", "revoke"])]
    list: bool,
    /// With --list: print a JSON array.
    #[arg(long, requires = "list")]
    json: bool,
    /// Revoke the link with this id (the part after `/s/`): it opens no more.
    #[arg(long, conflicts_with_all = ["path", "expires", "password", "max_downloads"])]
    revoke: Option<String>,
}

/// One link as `cairn share --list --json` prints it.
#[derive(Serialize)]
struct Listed {
    id: String,
    path: Option<String>,
    created: Option<String>,
    expires: Option<String>,
    downloads: u64,
    max_downloads: Option<u64>,
    files: u64,
    state: String,
}

/// Unix milliseconds as RFC 3339 (UTC, seconds).
fn rfc3339_ms(ms: u64) -> Option<String> {
    let system = std::time::UNIX_EPOCH.checked_add(Duration::from_millis(ms))?;
    Some(humantime::format_rfc3339_seconds(system).to_string())
}

/// The share password: `CAIRN_SHARE_PASSWORD`, else asked for on a terminal.
fn password(prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Ok(text) = std::env::var("CAIRN_SHARE_PASSWORD") {
        if text.is_empty() {
            bail!("CAIRN_SHARE_PASSWORD is empty");
        }
        return Ok(text);
    }
    if !std::io::stdin().is_terminal() {
        bail!("this needs a share password: set CAIRN_SHARE_PASSWORD");
    }
    let text = rpassword::prompt_password(prompt).context("cannot read the password")?;
    if text.is_empty() {
        bail!("the password is empty");
    }
    if confirm
        && rpassword::prompt_password("The same password again: ")
            .context("cannot read the password")?
            != text
    {
        bail!("the two passwords differ; nothing was shared");
    }
    Ok(text)
}

/// `cairn share`.
pub fn share(global: &Global, args: ShareArgs) -> anyhow::Result<()> {
    let drive = global.drive(|_| {})?;
    runtime()?.block_on(async {
        if args.list {
            let shares = drive.shares().await?;
            return print_list(&shares, args.json);
        }
        if let Some(id) = &args.revoke {
            let id = id
                .parse()
                .with_context(|| format!("`{id}` is not a link id (32 hex digits)"))?;
            drive.revoke_share(id).await?;
            say!("revoked {id}: the link opens no more");
            return Ok(());
        }
        let Some(path) = &args.path else {
            bail!("give the file or folder to share (or --list, or --revoke ID)");
        };
        let path = cairn_core::RemotePath::parse(path)
            .with_context(|| format!("`{path}` is not a valid drive path"))?;
        let password = if args.password {
            Some(password("Password for the link: ", true)?)
        } else {
            None
        };
        if args.max_downloads == Some(0) {
            bail!("--max-downloads must be at least 1");
        }
        let options = ShareOptions {
            expires: args.expires,
            password,
            max_downloads: args.max_downloads,
        };
        let link = drive.share(&path, &options).await?;
        say!("{link}");
        Ok(())
    })
}

fn print_list(shares: &[ShareInfo], json: bool) -> anyhow::Result<()> {
    if json {
        let listed: Vec<Listed> = shares
            .iter()
            .map(|s| Listed {
                id: s.id.to_string(),
                path: s.path.as_ref().map(ToString::to_string),
                created: rfc3339_ms(s.created_ms),
                expires: s.expires_ms.and_then(rfc3339_ms),
                downloads: s.downloads,
                max_downloads: s.max_downloads,
                files: s.files,
                state: s.state.clone(),
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    if shares.is_empty() {
        say!("no links yet; `cairn share PATH` makes one");
        return Ok(());
    }
    for s in shares {
        let downloads = match s.max_downloads {
            Some(max) => format!("{}/{max}", s.downloads),
            None => s.downloads.to_string(),
        };
        let expires = s
            .expires_ms
            .and_then(rfc3339_ms)
            .unwrap_or_else(|| "never".to_owned());
        let path = s
            .path
            .as_ref()
            .map_or_else(|| "(unreadable)".to_owned(), ToString::to_string);
        say!(
            "{}  {:<9}  downloads {:<7}  expires {:<20}  {}",
            s.id,
            s.state,
            downloads,
            expires,
            path
        );
    }
    Ok(())
}

/// Whether `text` is a share link rather than a drive path.
pub fn is_link(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://")) && text.contains("/s/")
}

/// `cairn get LINK [LOCAL|-]`: no client home needed.
pub fn get_link(text: &str, local: Option<&Path>) -> anyhow::Result<()> {
    let link = Link::parse(text)?;
    let password = if link.password {
        Some(password("Password for the link: ", false)?)
    } else {
        None
    };
    runtime()?.block_on(async {
        let received = Received::open(&link, password.as_deref(), DriveOptions::default()).await?;
        let manifest = &received.manifest;
        if local == Some(Path::new("-")) {
            let mut stdout = tokio::io::stdout();
            match manifest.files.as_slice() {
                [file] if !manifest.folder => {
                    received
                        .get_to(file, &mut stdout, &Progress::silent())
                        .await?;
                }
                // A folder goes out as one zip, streamed as it is read.
                _ => {
                    let received = Arc::new(received);
                    let mut zip = std::pin::pin!(share_zip(received, Progress::silent()));
                    while let Some(chunk) = zip.next().await {
                        stdout.write_all(&chunk?).await?;
                    }
                    stdout.flush().await?;
                }
            }
            return Ok(());
        }
        let dest = match local {
            Some(local) => local.to_owned(),
            None => PathBuf::from(&manifest.name),
        };
        let total: u64 = manifest
            .files
            .iter()
            .map(|f| f.metadata.layout.size())
            .sum();
        let bar = Bar::bytes(total, "get", false);
        let saved = received.save(&dest, &bar.progress()).await;
        bar.finish();
        let saved = saved?;
        if manifest.folder {
            say!(
                "wrote {} file{} ({}) to {}",
                saved.files,
                if saved.files == 1 { "" } else { "s" },
                human(saved.bytes),
                dest.display()
            );
        } else {
            let written = if dest.is_dir() {
                dest.join(&manifest.name)
            } else {
                dest
            };
            say!("wrote {} ({})", written.display(), human(saved.bytes));
        }
        Ok(())
    })
}
