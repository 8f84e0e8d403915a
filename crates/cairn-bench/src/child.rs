//! Runs the real `cairn` binary as a child process and watches its peak resident memory,
//! which cannot be told apart from the pool's and the peers' inside this process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::report::parse_vmhwm;

/// How often `/proc/<pid>/status` is read while the child runs.
const POLL: Duration = Duration::from_millis(5);

/// The `cairn` binary built beside this one (`target/release/cairn` for a release run).
pub fn cairn_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this benchmark's own executable")?;
    let dir = exe
        .parent()
        .context("this benchmark's executable has no parent directory")?;
    let cairn = dir.join(format!("cairn{}", std::env::consts::EXE_SUFFIX));
    if !cairn.is_file() {
        bail!(
            "{} is missing: the memory figures run the real `cairn` binary; build it first with \
             `cargo build --release` (then run `cargo run --release -p cairn-bench`)",
            cairn.display()
        );
    }
    Ok(cairn)
}

/// What one child run measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Wall-clock seconds from spawn to exit.
    pub seconds: f64,
    /// The highest `VmHWM` seen, in bytes (0 where `/proc` is unavailable).
    pub peak_rss: u64,
}

/// Runs `cairn ARGS…` with `CAIRN_HOME=home`, polling its peak memory until it exits;
/// fails if it exits unsuccessfully. Blocks: call it from a blocking thread.
pub fn run_cairn(cairn: &Path, home: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let mut child = Command::new(cairn)
        .args(args)
        .env("CAIRN_HOME", home)
        .env_remove("CAIRN_PASSPHRASE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", cairn.display()))?;
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = 0u64;
    let status = loop {
        // A zombie's status has no VmHWM any more, so the last live reading stands.
        if let Some(hwm) = std::fs::read_to_string(&status_path)
            .ok()
            .as_deref()
            .and_then(parse_vmhwm)
        {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().context("cannot wait for `cairn`")? {
            break status;
        }
        std::thread::sleep(POLL);
    };
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("`cairn {}` failed ({status})", show(args));
    }
    Ok(Measured {
        seconds,
        peak_rss: peak,
    })
}

fn show(args: &[&std::ffi::OsStr]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
