//! A daemon's data directory (pool or peer): an exclusive lock so two daemons never share
//! it, and the daemon's Ed25519 identity, created on first start and kept there.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod durable;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::RngCore;

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing the directory failed.
    #[error("cannot use the data directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another pool holds the directory's lock.
    #[error("another Cairn daemon is already running with data directory {0}")]
    Locked(PathBuf),
    /// The key file is not a 32-byte seed.
    #[error(
        "{path} is not a key (it is {len} bytes, not 32); restore it from a backup or move it aside"
    )]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The directory holds no key for the role: it is not that daemon's data directory.
    #[error("no {role} identity in {dir}; is it a {role}'s data directory?")]
    NoKey {
        /// The directory.
        dir: PathBuf,
        /// The role whose key was looked for.
        role: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An open data directory: locked for as long as this value lives.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    role: &'static str,
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock (`ROLE.lock`); the identity lives
    /// in `ROLE.key` (`role` is `"pool"` or `"peer"`).
    pub fn open(path: &Path, role: &'static str) -> Result<Self, IdentityError> {
        fs::create_dir_all(path).map_err(io_error(path))?;
        let lock_path = path.join(format!("{role}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(IdentityError::Locked(path.to_owned()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error(&lock_path)(e)),
        }
        Ok(Self {
            path: path.to_owned(),
            role,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The daemon's key: read from `ROLE.key`, or created there on first start (written to
    /// a temporary file, synced, then renamed, so a crash never leaves half a key).
    pub fn load_or_create_key(&self) -> Result<SigningKey, IdentityError> {
        let path = self.path.join(format!("{}.key", self.role));
        match fs::read(&path) {
            Ok(bytes) => parse_key(&path, &bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                rand::rng().fill_bytes(&mut seed);
                write_private_file(&self.path, &path, &seed)?;
                Ok(SigningKey::from_bytes(&seed))
            }
            Err(e) => Err(io_error(&path)(e)),
        }
    }
}

/// Reads the identity in `DIR/ROLE.key` without taking the directory's lock or creating
/// anything, so a command can act as a daemon that is running on the same directory.
pub fn read_key(dir: &Path, role: &str) -> Result<SigningKey, IdentityError> {
    let path = dir.join(format!("{role}.key"));
    match fs::read(&path) {
        Ok(bytes) => parse_key(&path, &bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(IdentityError::NoKey {
            dir: dir.to_owned(),
            role: role.to_owned(),
        }),
        Err(e) => Err(io_error(&path)(e)),
    }
}

fn parse_key(path: &Path, bytes: &[u8]) -> Result<SigningKey, IdentityError> {
    let seed: [u8; 32] = bytes.try_into().map_err(|_| IdentityError::BadKey {
        path: path.to_owned(),
        len: bytes.len() as u64,
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `bytes` to `path` crash-safely (temporary file, fsync, rename, fsync of the
/// directory), readable by the owner only.
pub fn write_private_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let tmp = path.with_extension("tmp");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    file.write_all(bytes).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let data = DataDir::open(dir.path(), "pool").unwrap();
            data.load_or_create_key().unwrap()
        };
        let data = DataDir::open(dir.path(), "pool").unwrap();
        assert_eq!(
            data.load_or_create_key().unwrap().to_bytes(),
            first.to_bytes()
        );
    }

    #[test]
    fn a_second_pool_cannot_share_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let _held = DataDir::open(dir.path(), "pool").unwrap();
        assert!(matches!(
            DataDir::open(dir.path(), "pool"),
            Err(IdentityError::Locked(_))
        ));
    }

    #[test]
    fn a_damaged_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pool.key"), b"short").unwrap();
        let data = DataDir::open(dir.path(), "pool").unwrap();
        let err = data.load_or_create_key().unwrap_err();
        assert!(err.to_string().contains("not a key"), "{err}");
    }

    #[test]
    fn read_key_reads_a_running_daemons_key_without_touching_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataDir::open(dir.path(), "peer").unwrap();
        let key = held.load_or_create_key().unwrap();
        let before: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            read_key(dir.path(), "peer").unwrap().to_bytes(),
            key.to_bytes()
        );
        let after: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(before, after);
        // The lock is still the daemon's.
        assert!(matches!(
            DataDir::open(dir.path(), "peer"),
            Err(IdentityError::Locked(_))
        ));
    }

    #[test]
    fn read_key_in_a_directory_without_one_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_key(dir.path(), "peer").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no peer identity in {}; is it a peer's data directory?",
                dir.path().display()
            )
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        fs::write(dir.path().join("peer.key"), b"short").unwrap();
        let err = read_key(dir.path(), "peer").unwrap_err();
        assert!(err.to_string().contains("not a key"), "{err}");
    }
}
