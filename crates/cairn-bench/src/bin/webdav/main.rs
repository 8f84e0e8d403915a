//! `webdav`: the drive over WebDAV measured the way a power user moves files — `rclone copy`
//! up and down through `cairn webdav` — beside `cairn put` and `cairn get` of the same data
//! in the same run: one big file, and a folder of many small ones; with the peak memory of
//! `cairn webdav`.
//!
//! Everything runs as separate processes, as users deploy it: `cairn local` (pool and
//! peers), `cairn webdav`, `cairn put`/`get` and `rclone` (Debian's `rclone`).
//!
//! `cargo build --release && cargo run --release -p cairn-bench --bin webdav [-- --quick] [-- --json]`

#[allow(dead_code)]
#[path = "../../child.rs"]
mod child;
#[allow(dead_code)]
#[path = "../../report.rs"]
mod report;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use serde::Serialize;

use crate::report::{format_ratio, format_seconds, format_size, mb_per_s};

/// Measure WebDAV against the command line on this machine.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// A smoke run: a 100 MiB file and 200 small files.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object with every figure instead of the table.
    #[arg(long)]
    json: bool,
    /// Where the temporary directory goes (default: the system's); the full run needs
    /// about 4 GiB free.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// One direction of one data set: WebDAV through rclone against the command line.
#[derive(Debug, Serialize)]
struct Leg {
    webdav_seconds: f64,
    cli_seconds: f64,
    ratio: f64,
    cli_peak_rss: u64,
}

impl Leg {
    fn new(webdav_seconds: f64, cli: child::Measured) -> Self {
        Self {
            webdav_seconds,
            cli_seconds: cli.seconds,
            ratio: webdav_seconds / cli.seconds,
            cli_peak_rss: cli.peak_rss,
        }
    }
}

/// What the run measured.
#[derive(Debug, Serialize)]
struct Results {
    big_bytes: u64,
    big_up: Leg,
    big_down: Leg,
    small_files: u64,
    small_bytes: u64,
    small_up: Leg,
    small_down: Leg,
    webdav_peak_rss: u64,
}

/// Runs `rclone ARGS` against the WebDAV remote `cairn:` at `url`; returns its seconds.
fn rclone(url: &str, args: &[&str]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new("rclone")
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_CAIRN_TYPE", "webdav")
        .env("RCLONE_CONFIG_CAIRN_URL", url)
        .env("RCLONE_CONFIG_CAIRN_VENDOR", "other")
        .args(args)
        .stdin(Stdio::null())
        .status()
        .context("cannot run rclone (Debian package `rclone`)")?;
    if !status.success() {
        bail!("`rclone {}` failed ({status})", args.join(" "));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// A folder of `count` small files (1 KiB to 64 KiB) under `root`; their total size.
fn small_files(root: &Path, count: u64) -> anyhow::Result<u64> {
    let mut total = 0;
    for i in 0..count {
        let len = 1024 + (i * 7919) % (63 * 1024);
        let path = root.join(format!("d{}", i % 10)).join(format!("f{i}.bin"));
        std::fs::create_dir_all(path.parent().context("a file has a folder")?)?;
        child::write_random(&path, len, &i.to_le_bytes())?;
        total += len;
    }
    Ok(total)
}

/// Whether two trees hold the same files with the same bytes.
fn same_tree(a: &Path, b: &Path) -> anyhow::Result<bool> {
    for entry in std::fs::read_dir(a)? {
        let entry = entry?;
        let other = b.join(entry.file_name());
        let same = if entry.file_type()?.is_dir() {
            same_tree(&entry.path(), &other)?
        } else {
            other.is_file() && child::hash_file(&entry.path())? == child::hash_file(&other)?
        };
        if !same {
            return Ok(false);
        }
    }
    Ok(true)
}

fn run(args: &Args) -> anyhow::Result<Results> {
    let cairn = child::cairn_binary()?;
    let tmp = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let dir = tmp.path();
    let (size, count) = if args.quick {
        (100u64 << 20, 200u64)
    } else {
        (1u64 << 30, 1_000u64)
    };
    let local = dir.join("local");
    let (_network, _) = child::start_printing(
        "drive at ",
        &cairn,
        &["local", "--dir", &local.to_string_lossy(), "--no-open"],
        None,
    )?;
    let home = local.join("home");
    let (dav, url) = child::start_printing("webdav at ", &cairn, &["webdav"], Some(&home))?;

    let big = dir.join("big.bin");
    child::write_random(&big, size, b"webdav bench")?;
    let small = dir.join("small");
    let small_bytes = small_files(&small, count)?;
    let run = |args: &[&std::ffi::OsStr]| child::run_cairn(&cairn, &home, args);

    eprintln!(
        "{} up and down: cairn put/get, then rclone through WebDAV…",
        format_size(size)
    );
    let put = run(&["put".as_ref(), big.as_os_str(), "/cli.bin".as_ref()])?;
    let got = dir.join("cli-out.bin");
    let get = run(&["get".as_ref(), "/cli.bin".as_ref(), got.as_os_str()])?;
    std::fs::remove_file(&got)?;
    let big_text = big.to_string_lossy().into_owned();
    let up = rclone(&url, &["copyto", &big_text, "cairn:dav.bin"])?;
    let back = dir.join("dav-out.bin");
    let down = rclone(&url, &["copyto", "cairn:dav.bin", &back.to_string_lossy()])?;
    if child::hash_file(&back)? != child::hash_file(&big)? {
        bail!("the file that came back through WebDAV differs");
    }
    std::fs::remove_file(&back)?;

    eprintln!("{count} small files up and down…");
    let small_text = small.to_string_lossy().into_owned();
    let put_many = run(&[
        "put".as_ref(),
        "-r".as_ref(),
        small.as_os_str(),
        "/cli-small".as_ref(),
    ])?;
    let cli_back = dir.join("cli-small");
    let get_many = run(&[
        "get".as_ref(),
        "-r".as_ref(),
        "/cli-small".as_ref(),
        cli_back.as_os_str(),
    ])?;
    let up_many = rclone(&url, &["copy", &small_text, "cairn:dav-small"])?;
    let dav_back = dir.join("dav-small");
    let down_many = rclone(
        &url,
        &["copy", "cairn:dav-small", &dav_back.to_string_lossy()],
    )?;
    if !same_tree(&small, &dav_back)? {
        bail!("the small files that came back through WebDAV differ");
    }
    Ok(Results {
        big_bytes: size,
        big_up: Leg::new(up, put),
        big_down: Leg::new(down, get),
        small_files: count,
        small_bytes,
        small_up: Leg::new(up_many, put_many),
        small_down: Leg::new(down_many, get_many),
        webdav_peak_rss: child::peak_rss(dav.0.id()),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let results = run(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!(
        "WebDAV (rclone copy through cairn webdav) against cairn put/get (same machine, same run; separate processes)"
    );
    let big = format_size(results.big_bytes);
    let small = format!(
        "{} files ({})",
        results.small_files,
        format_size(results.small_bytes)
    );
    for (what, bytes, leg, cli) in [
        (
            format!("{big} up"),
            results.big_bytes,
            &results.big_up,
            "cairn put",
        ),
        (
            format!("{big} down"),
            results.big_bytes,
            &results.big_down,
            "cairn get",
        ),
        (
            format!("{small} up"),
            results.small_bytes,
            &results.small_up,
            "cairn put -r",
        ),
        (
            format!("{small} down"),
            results.small_bytes,
            &results.small_down,
            "cairn get -r",
        ),
    ] {
        println!(
            "  {what}: webdav {} ({:.0} MB/s), {cli} {} — webdav/cli {} (target ≤ 1.50×)",
            format_seconds(leg.webdav_seconds),
            mb_per_s(bytes, leg.webdav_seconds),
            format_seconds(leg.cli_seconds),
            format_ratio(leg.ratio),
        );
    }
    println!(
        "  peak memory of cairn webdav: {} MiB",
        results.webdav_peak_rss >> 20
    );
    Ok(())
}
