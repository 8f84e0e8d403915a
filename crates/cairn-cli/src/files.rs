//! `cairn put`, `get`, `ls`, `mkdir`, `mv` and `rm`: the drive's files and folders.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cairn_client::{Kind, ListEntry};
use cairn_core::segment::{MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
use cairn_core::{Name, RedundancyPolicy, RemotePath, Timestamp};
use serde::Serialize;

use crate::session::{Bar, Global, human, runtime};

/// Options of `cairn put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// The local file (or, with -r, folder) to upload.
    local: PathBuf,
    /// Where it goes in the drive (default: `/<its name>`). A file goes into REMOTE when
    /// that is a folder; a folder (-r) becomes REMOTE, whether or not it exists, so running
    /// the same command again finishes it. A trailing `/` means "into this folder" for both.
    remote: Option<String>,
    /// Redundancy: `auto` (the pool picks for its durability target), `ec:K+M` or `rep:KxR`.
    #[arg(long, default_value = "auto")]
    redundancy: RedundancyPolicy,
    /// Upload a folder and everything in it.
    #[arg(short, long)]
    recursive: bool,
    /// Plaintext bytes per segment, 4KiB to 256MiB (large segments code fastest; a few are
    /// in memory at once).
    #[arg(long, default_value = "16MiB", value_parser = crate::parse_size)]
    segment_size: u64,
}

/// Options of `cairn get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The file (or, with -r, folder) in the drive, or a share link (no client home needed).
    remote: String,
    /// Where to write it (default: its name in the current directory); `-` is standard
    /// output.
    local: Option<PathBuf>,
    /// Download a folder and everything in it.
    #[arg(short, long)]
    recursive: bool,
}

/// Options of `cairn ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// The folder to list (default: `/`).
    #[arg(default_value = "/")]
    dir: String,
    /// Print a JSON array of `{path, size, kind, modified}`.
    #[arg(long)]
    json: bool,
}

/// Options of `cairn mkdir`.
#[derive(Debug, clap::Args)]
pub struct MkdirArgs {
    /// The folder to make.
    path: String,
    /// Make missing parents too, and accept a folder that already exists.
    #[arg(short, long)]
    parents: bool,
}

/// Options of `cairn mv`.
#[derive(Debug, clap::Args)]
pub struct MvArgs {
    /// What to move.
    src: String,
    /// Its new path (into it, when it is an existing folder).
    dst: String,
}

/// Options of `cairn rm`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// The file or folder to remove.
    path: String,
    /// Remove a folder with everything in it.
    #[arg(short, long)]
    recursive: bool,
}

fn remote(text: &str) -> anyhow::Result<RemotePath> {
    RemotePath::parse(text).with_context(|| format!("`{text}` is not a valid drive path"))
}

fn local_name(local: &Path) -> anyhow::Result<Name> {
    let name = std::fs::canonicalize(local)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_owned()))
        .or_else(|| local.file_name().map(|n| n.to_owned()))
        .with_context(|| {
            format!(
                "{} has no name to store it under; give a REMOTE path",
                local.display()
            )
        })?;
    let text = name.to_str().with_context(|| {
        format!(
            "{} is not a UTF-8 name; give a REMOTE path",
            local.display()
        )
    })?;
    Ok(Name::new(text)?)
}

/// `cairn put`.
pub fn put(global: &Global, args: PutArgs) -> anyhow::Result<()> {
    let info = std::fs::metadata(&args.local)
        .with_context(|| format!("cannot read {}", args.local.display()))?;
    if info.is_dir() && !args.recursive {
        bail!(
            "{} is a folder; use -r to upload it with everything in it",
            args.local.display()
        );
    }
    let segment_size = u32::try_from(args.segment_size)
        .ok()
        .filter(|s| (MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(s))
        .context("--segment-size must be between 4KiB and 256MiB")?;
    let drive = global.drive(|options| {
        options.redundancy = args.redundancy;
        options.segment_size = segment_size;
    })?;
    let name = local_name(&args.local)?;
    runtime()?.block_on(async {
        let target = match &args.remote {
            // A trailing `/` means "into this folder", whether or not it exists yet.
            Some(text) if text.ends_with('/') => remote(text)?.join(name)?,
            // A folder lands at REMOTE itself on the first run and every re-run.
            Some(text) if info.is_dir() => remote(text)?,
            Some(text) => drive.target_for(&name, &remote(text)?).await?,
            None => RemotePath::root().join(name)?,
        };
        if info.is_dir() {
            let bar = Bar::bytes(dir_size(&args.local), "put", false);
            let report = drive.put_tree(&args.local, &target, &bar.progress()).await;
            bar.finish();
            let report = report?.into_result()?;
            let short = report.below_target;
            if report.already == 0 {
                say!(
                    "stored {} ({}) under {target}",
                    files(report.files),
                    human(report.bytes)
                );
            } else {
                say!(
                    "{} uploaded, {} already there under {target} ({} sent)",
                    count(report.files),
                    count(report.already),
                    human(report.bytes)
                );
            }
            if let Some(short) = short {
                say!("{short}");
            }
        } else {
            let bar = Bar::bytes(info.len(), "put", false);
            let result = drive.put(&args.local, &target, &bar.progress()).await;
            bar.finish();
            let stored = result?;
            match stored.resumed {
                0 => say!("stored {target} ({})", human(info.len())),
                resumed => say!(
                    "stored {target} ({}; {} were already stored by the interrupted upload)",
                    human(info.len()),
                    human(resumed)
                ),
            }
            if let Some(short) = stored.below_target {
                say!("{short}");
            }
        }
        Ok(())
    })
}

/// "1 file", "2 files".
fn files(count: u64) -> String {
    if count == 1 {
        "1 file".into()
    } else {
        format!("{count} files")
    }
}

/// A count with thousands separated: "1,497".
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// `cairn get`.
pub fn get(global: &Global, args: GetArgs) -> anyhow::Result<()> {
    if crate::share::is_link(&args.remote) {
        return crate::share::get_link(&args.remote, args.local.as_deref());
    }
    let drive = global.drive(|_| {})?;
    let path = remote(&args.remote)?;
    runtime()?.block_on(async {
        if args.local.as_deref() == Some(Path::new("-")) {
            if args.recursive {
                bail!("a folder cannot go to standard output; give a local directory");
            }
            let mut stdout = tokio::io::stdout();
            drive
                .get_to(&path, &mut stdout, &cairn_client::Progress::silent())
                .await?;
            return Ok(());
        }
        let default_name = || -> anyhow::Result<PathBuf> {
            Ok(PathBuf::from(
                path.file_name()
                    .context("the root folder has no name; give a LOCAL directory")?
                    .as_str(),
            ))
        };
        if args.recursive {
            let local = match &args.local {
                Some(local) => local.clone(),
                None => default_name()?,
            };
            let bar = Bar::counter("get", false);
            let report = drive.get_tree(&path, &local, &bar.progress()).await;
            bar.finish();
            let report = report?.into_result()?;
            if report.already == 0 {
                say!(
                    "wrote {} ({}) to {}",
                    files(report.files),
                    human(report.bytes),
                    local.display()
                );
            } else {
                say!(
                    "{} downloaded, {} already there in {} ({} written)",
                    count(report.files),
                    count(report.already),
                    local.display(),
                    human(report.bytes)
                );
            }
        } else {
            let local = match &args.local {
                Some(local) => local.clone(),
                None => default_name()?,
            };
            // The bar learns the size once the file's record is read.
            let bar = Bar::bytes(0, "get", false);
            let written = drive.get(&path, &local, &bar.progress()).await;
            bar.finish();
            let (written, size) = written?;
            say!("wrote {} ({})", written.display(), human(size));
        }
        Ok(())
    })
}

/// One line of `cairn ls --json`.
#[derive(Debug, Serialize)]
struct LsJson {
    path: String,
    size: u64,
    kind: &'static str,
    modified: Option<String>,
}

/// A timestamp as RFC 3339 (UTC, seconds), if representable.
pub fn rfc3339(time: Timestamp) -> Option<String> {
    let secs = u64::try_from(time.secs).ok()?;
    let system = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))?;
    Some(humantime::format_rfc3339_seconds(system).to_string())
}

/// `cairn ls`.
pub fn ls(global: &Global, args: LsArgs) -> anyhow::Result<()> {
    let drive = global.drive(|_| {})?;
    let dir = remote(&args.dir)?;
    let entries: Vec<ListEntry> = runtime()?.block_on(drive.list(&dir))?;
    if args.json {
        let json: Vec<LsJson> = entries
            .iter()
            .map(|e| LsJson {
                path: e.path.to_string(),
                size: e.size,
                kind: e.kind.as_str(),
                modified: e.modified.and_then(rfc3339),
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    for entry in &entries {
        let name = entry
            .path
            .file_name()
            .map_or_else(|| entry.path.to_string(), |n| n.to_string());
        let modified = entry.modified.and_then(rfc3339).unwrap_or_default();
        match entry.kind {
            Kind::Folder => say!("{:>10}  {modified:20}  {name}/", "-"),
            Kind::File => say!("{:>10}  {modified:20}  {name}", human(entry.size)),
        }
    }
    Ok(())
}

/// `cairn mkdir`.
pub fn mkdir(global: &Global, args: MkdirArgs) -> anyhow::Result<()> {
    let drive = global.drive(|_| {})?;
    let path = remote(&args.path)?;
    runtime()?.block_on(drive.mkdir(&path, args.parents))?;
    say!("made {path}");
    Ok(())
}

/// `cairn mv`.
pub fn mv(global: &Global, args: MvArgs) -> anyhow::Result<()> {
    let drive = global.drive(|_| {})?;
    let (src, dst) = (remote(&args.src)?, remote(&args.dst)?);
    let moved = runtime()?.block_on(drive.mv(&src, &dst))?;
    say!("moved {src} to {moved}");
    Ok(())
}

/// `cairn rm`.
pub fn rm(global: &Global, args: RmArgs) -> anyhow::Result<()> {
    let drive = global.drive(|_| {})?;
    let path = remote(&args.path)?;
    let removed = runtime()?.block_on(drive.rm(&path, args.recursive))?;
    if args.recursive {
        say!("removed {path} ({})", files(removed));
    } else {
        say!("removed {path}");
    }
    Ok(())
}
