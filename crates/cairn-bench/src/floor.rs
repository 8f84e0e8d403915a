//! The machine's floor: the least disk work any drive must do for the same bytes, timed in
//! the same run so Cairn's figures can be read as ratios to it.
//!
//! - put: read the source files, then write `(k+m)/k` times their bytes with `fsync`
//!   (the fragments every peer together must make durable);
//! - get: read the bytes of the `k` data fragments (a healthy get fetches no more), then
//!   write the files with `fsync` (as `Drive::get` does).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

/// Bytes moved per read or write call.
pub const CHUNK: usize = 16 * 1024 * 1024;

/// Plaintext bytes scaled by the expansion `(k+m)/k` of erasure coding, rounded up.
pub fn expanded(bytes: u64, k: u16, m: u16) -> u64 {
    let (k, m) = (u64::from(k), u64::from(m));
    (bytes * (k + m)).div_ceil(k)
}

/// Floor times, in seconds, for one set of source files.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// Read the sources and write the expanded bytes with `fsync`.
    pub put: f64,
    /// Read the data fragments' bytes and write the files with `fsync`.
    pub get: f64,
}

/// Measures the floor for `sources` under the redundancy `ec:k+m`, writing its files in
/// `scratch` (which it leaves for the caller to remove).
pub fn measure(sources: &[PathBuf], k: u16, m: u16, scratch: &Path) -> anyhow::Result<Floor> {
    std::fs::create_dir_all(scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let mut buf = vec![0u8; CHUNK];
    let mut sizes = Vec::with_capacity(sources.len());
    let mut fragments = Vec::with_capacity(sources.len());

    settle();
    let start = Instant::now();
    for (i, source) in sources.iter().enumerate() {
        let size = read_all(source, &mut buf)?;
        let target = scratch.join(format!("fragments-{i}"));
        write_synced(&target, expanded(size, k, m), &buf)?;
        sizes.push(size);
        fragments.push(target);
    }
    let put = start.elapsed().as_secs_f64();

    settle();
    let start = Instant::now();
    for (i, (fragment, size)) in fragments.iter().zip(&sizes).enumerate() {
        read_prefix(fragment, *size, &mut buf)?;
        write_synced(&scratch.join(format!("out-{i}")), *size, &buf)?;
    }
    let get = start.elapsed().as_secs_f64();
    Ok(Floor { put, get })
}

/// Writes every dirty page back (`sync`), so that a measurement does not pay for the
/// writeback of what came before it (a gigabyte just stored can slow every fsync for
/// seconds). Best effort: without a `sync` command the run goes on unsettled.
pub fn settle() {
    if let Err(e) = std::process::Command::new("sync").status() {
        eprintln!("cairn-bench: could not run `sync` ({e}); measuring without it");
    }
}

/// Reads `path` to its end through `buf`; returns its length.
fn read_all(path: &Path, buf: &mut [u8]) -> anyhow::Result<u64> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut total = 0u64;
    loop {
        let n = file
            .read(buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// Reads the first `len` bytes of `path` through `buf`.
fn read_prefix(path: &Path, len: u64, buf: &mut [u8]) -> anyhow::Result<()> {
    let mut file = File::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .take(len);
    loop {
        let n = file
            .read(buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// Writes `len` bytes taken from `buf` (repeated) to a new file at `path`, then `fsync`s it.
fn write_synced(path: &Path, len: u64, buf: &[u8]) -> anyhow::Result<()> {
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        file.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", path.display()))?;
        left -= n as u64;
    }
    file.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_of_ec_4_2_is_one_and_a_half() {
        assert_eq!(expanded(4096, 4, 2), 6144);
        assert_eq!(expanded(1 << 30, 4, 2), 3 << 29);
        assert_eq!(
            expanded(1, 4, 2),
            2,
            "rounds up: a fragment cannot hold half a byte"
        );
    }
}
