//! Runs the real `cairn` binary as a child process and watches its peak resident memory,
//! which cannot be told apart from the pool's and the peers' inside this process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A child process that is killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cairn ARGS` (with `CAIRN_HOME=home` if given) and returns it with what follows
/// `prefix` on the first line that starts so (`drive at `, `webdav at `); the rest of its
/// output is drained in the background.
pub fn start_printing(
    prefix: &str,
    cairn: &Path,
    args: &[&str],
    home: Option<&Path>,
) -> anyhow::Result<(Running, String)> {
    let mut command = Command::new(cairn);
    command
        .args(args)
        .env_remove("CAIRN_PASSPHRASE")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(home) = home {
        command.env("CAIRN_HOME", home);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", cairn.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let running = Running(child);
    let mut lines = BufReader::new(stdout).lines();
    let found = loop {
        let Some(line) = lines.next() else {
            bail!(
                "`cairn {}` ended before printing `{prefix}…`",
                args.join(" ")
            );
        };
        if let Some(rest) = line?.strip_prefix(prefix) {
            break rest.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((running, found))
}

/// The peak resident memory of process `pid` so far (0 where `/proc` is unavailable).
pub fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .as_deref()
        .and_then(parse_vmhwm)
        .unwrap_or(0)
}

/// Writes `len` pseudo-random bytes to `path`, from `seed`.
pub fn write_random(path: &Path, len: u64, seed: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut stream = blake3::Hasher::new().update(seed).finalize_xof();
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        stream.fill(&mut block[..n]);
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// The BLAKE3 hash of a file's bytes.
pub fn hash_file(path: &Path) -> anyhow::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(hasher.finalize())
}
