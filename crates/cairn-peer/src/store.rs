//! The piece store: pieces as files named by their BLAKE3 hash under `pieces/ab/`, made
//! durable before they are recorded in a SQLite index, so used space is known without
//! scanning and never exceeds the capacity. Large pieces are streamed to `tmp/`, hashed
//! while written, fsynced and renamed into place; small ones are checked in memory and
//! written in groups under one sync (`batch.rs`).

mod batch;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use cairn_core::PieceHash;
use cairn_core::ledger::{HEAD_LEN, Locator};
use cairn_proto::clock::now_ms;
use futures_util::{Stream, StreamExt};
use rand::RngCore;
use rusqlite::{Connection, params};
use tokio::io::AsyncWriteExt;

/// Why the store refused or failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Storing the piece would exceed the capacity.
    #[error(
        "this peer is full: {needed} more bytes would exceed its capacity of {capacity} bytes ({used} used)"
    )]
    Full {
        /// Bytes asked for.
        needed: u64,
        /// Bytes in use or reserved.
        used: u64,
        /// The capacity.
        capacity: u64,
    },
    /// The bytes received do not hash to the piece's name.
    #[error("the piece's bytes do not match its hash {0}")]
    HashMismatch(PieceHash),
    /// The body was longer or shorter than announced.
    #[error("the piece body was {got} bytes, not the {expected} announced")]
    WrongLength {
        /// Announced.
        expected: u64,
        /// Received (so far).
        got: u64,
    },
    /// The body could not be read to the end.
    #[error("the piece upload was cut off: {0}")]
    Interrupted(String),
    /// No such piece.
    #[error("this peer does not hold piece {0}")]
    NotFound(PieceHash),
    /// Disk or index failure.
    #[error("the piece store failed: {0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

#[derive(Debug, Default)]
struct Usage {
    used: u64,
    reserved: u64,
    sizes: HashMap<PieceHash, u64>,
}

/// A held piece as [`PieceStore::read`] hands it out.
#[derive(Debug)]
pub enum HeldPiece {
    /// A small piece, whole.
    Bytes(Bytes),
    /// A large piece's file, to stream.
    File(tokio::fs::File),
}

/// Space set aside for a piece being received; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    usage: Arc<Mutex<Usage>>,
    size: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Ok(mut usage) = self.usage.lock() {
            usage.reserved = usage.reserved.saturating_sub(self.size);
        }
    }
}

/// The piece store of one peer.
#[derive(Debug)]
pub struct PieceStore {
    dir: PathBuf,
    capacity: u64,
    usage: Arc<Mutex<Usage>>,
    index: Arc<Mutex<Connection>>,
    small: batch::Batcher,
}

/// Where the piece named `hash` lives in the store at `dir`: `pieces/ab/<hash>`, in one of
/// 256 directories made when the store opens (a directory per piece written was an inode
/// allocation and a directory sync per small piece).
fn piece_path(dir: &Path, hash: &PieceHash) -> PathBuf {
    let name = hash.to_string();
    dir.join("pieces").join(&name[..2]).join(&name)
}

/// Makes whichever of the 256 piece directories under `pieces` are missing.
fn make_piece_dirs(pieces: &Path) -> Result<(), StoreError> {
    let mut made = false;
    for n in 0..=u8::MAX {
        let sub = pieces.join(format!("{n:02x}"));
        if !sub.exists() {
            fs::create_dir(&sub).map_err(io)?;
            made = true;
        } else if !sub.is_dir() {
            return Err(io(format!(
                "{} should be a directory of pieces; move it away",
                sub.display()
            )));
        }
    }
    if made {
        sync_dir(pieces)?;
    }
    Ok(())
}

/// Every piece file under `pieces`, by one listing of each directory (the entry types
/// come with it: no stat per piece at every start). On the way it moves pieces of the
/// earlier layout (`pieces/ab/cd/<hash>`) up into `pieces/ab/` — safe to repeat after a
/// crash part way — and removes files that are no piece or lie in another piece's
/// directory.
fn list_pieces(pieces: &Path) -> Result<HashSet<PieceHash>, StoreError> {
    let mut found = HashSet::new();
    for dir in fs::read_dir(pieces).map_err(io)? {
        let dir = dir.map_err(io)?;
        if !dir.file_type().map_err(io)?.is_dir() {
            tracing::warn!(path = %dir.path().display(), "not a piece directory; left alone");
            continue;
        }
        let (sub, prefix) = (dir.path(), dir.file_name());
        let mut moved = false;
        for entry in fs::read_dir(&sub).map_err(io)? {
            let entry = entry.map_err(io)?;
            let mut names = Vec::new();
            if entry.file_type().map_err(io)?.is_dir() {
                let old = entry.path();
                for file in fs::read_dir(&old).map_err(io)? {
                    let file = file.map_err(io)?;
                    let target = sub.join(file.file_name());
                    if target.exists() {
                        fs::remove_file(file.path()).map_err(io)?;
                    } else {
                        fs::rename(file.path(), &target).map_err(io)?;
                        names.push(file.file_name());
                    }
                    moved = true;
                }
                fs::remove_dir(&old).map_err(io)?;
            } else {
                names.push(entry.file_name());
            }
            for name in names {
                // A piece's file is named by its hash and sits under its first two digits.
                let in_place = |n: &&str| n.get(..2) == prefix.to_str();
                match name.to_str().filter(in_place).map(str::parse::<PieceHash>) {
                    Some(Ok(hash)) => {
                        found.insert(hash);
                    }
                    _ => {
                        let junk = sub.join(&name);
                        if junk.is_file() {
                            fs::remove_file(&junk).map_err(io)?;
                        }
                    }
                }
            }
        }
        if moved {
            sync_dir(&sub)?;
        }
    }
    Ok(found)
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Pieces up to this size are received in memory and written in groups.
const SMALL_PIECE: u64 = 1 << 20;

/// Records a piece in the index: hash, size, when, and the ledger it belongs to if any.
pub(crate) const INSERT_PIECE: &str =
    "INSERT OR REPLACE INTO pieces (hash, size, stored_at, locator) VALUES (?1, ?2, ?3, ?4)";

/// Receives a piece of exactly `size` bytes (at most [`SMALL_PIECE`]) into memory and
/// checks that it hashes to `hash`.
async fn receive_small<S, E>(
    hash: PieceHash,
    size: u64,
    body: &mut S,
) -> Result<Vec<u8>, StoreError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| StoreError::Interrupted(e.to_string()))?;
        let got = (bytes.len() + chunk.len()) as u64;
        if got > size {
            return Err(StoreError::WrongLength {
                expected: size,
                got,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.len() as u64 != size {
        return Err(StoreError::WrongLength {
            expected: size,
            got: bytes.len() as u64,
        });
    }
    if !hash.matches(&bytes) {
        return Err(StoreError::HashMismatch(hash));
    }
    Ok(bytes)
}

/// Reads the whole piece file at `path`, which must be `size` bytes.
fn read_whole(path: &Path, hash: PieceHash, size: u64) -> Result<Bytes, StoreError> {
    let bytes = fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound(hash)
        } else {
            io(e)
        }
    })?;
    if bytes.len() as u64 != size {
        // Damaged on disk; the reader fetches the piece elsewhere and audits find it.
        return Err(io(format!(
            "piece {hash} is {} bytes on disk, not {size}",
            bytes.len()
        )));
    }
    Ok(Bytes::from(bytes))
}

/// Syncs a directory's entries.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Moving a received, checked and synced piece from `tmp/` into place.
struct Install {
    tmp: PathBuf,
    target: PathBuf,
    hash: PieceHash,
    size: u64,
    locator: Option<Locator>,
    index: Arc<Mutex<Connection>>,
    usage: Arc<Mutex<Usage>>,
}

impl Install {
    /// Renames the piece into place, syncs its directory and records it; false if the
    /// piece was held already (the copy is dropped).
    fn run(self) -> Result<bool, StoreError> {
        let mut usage = self.usage.lock().map_err(|_| io("usage lock poisoned"))?;
        if usage.sizes.contains_key(&self.hash) {
            let _ = fs::remove_file(&self.tmp);
            return Ok(false);
        }
        let parent = (self.target.parent()).ok_or_else(|| io("a piece path has no parent"))?;
        if !parent.is_dir() {
            fs::create_dir_all(parent).map_err(io)?;
            // A piece directory made again (someone removed it) lives only once its
            // parent's entry is synced too.
            if let Some(pieces) = parent.parent() {
                sync_dir(pieces)?;
            }
        }
        fs::rename(&self.tmp, &self.target).map_err(io)?;
        sync_dir(parent)?;
        let conn = self.index.lock().map_err(|_| io("index lock poisoned"))?;
        conn.prepare_cached(INSERT_PIECE)
            .and_then(|mut insert| {
                insert.execute(params![
                    self.hash.as_bytes().as_slice(),
                    int(self.size),
                    int(now_ms()),
                    self.locator.as_ref().map(|l| l.as_bytes().as_slice()),
                ])
            })
            .map_err(io)?;
        usage.used += self.size;
        usage.sizes.insert(self.hash, self.size);
        Ok(true)
    }
}

impl PieceStore {
    /// Opens the store in `dir` with `capacity` bytes: removes whatever an interrupted write
    /// left in `tmp/`, forgets index rows whose file is gone, and indexes complete piece
    /// files that lack a row (a crash between rename and index) after checking their hash.
    pub fn open(dir: &Path, capacity: u64) -> Result<Self, StoreError> {
        let tmp = dir.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io)?;
        }
        fs::create_dir_all(&tmp).map_err(io)?;
        fs::create_dir_all(dir.join("pieces")).map_err(io)?;
        make_piece_dirs(&dir.join("pieces"))?;
        let conn = Connection::open(dir.join("index.sqlite")).map_err(io)?;
        conn.execute_batch(
            // The index need not be synced: the piece files are (each, and its directory,
            // before a receipt goes out), and opening the store indexes any complete piece
            // file the index lost, so NORMAL (consistent, not durable) is enough.
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS pieces (
                 hash BLOB PRIMARY KEY, size INTEGER NOT NULL, stored_at INTEGER NOT NULL
             ) STRICT;",
        )
        .map_err(io)?;
        // The ledger locator a piece starts with, if any (see `cairn_core::ledger`): added
        // after the first release, so an older index gains the column here.
        let has_locator: bool = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('pieces') WHERE name = 'locator'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(io)?
            > 0;
        if !has_locator {
            conn.execute_batch("ALTER TABLE pieces ADD COLUMN locator BLOB;")
                .map_err(io)?;
        }
        conn.execute_batch(
            "CREATE INDEX IF NOT EXISTS pieces_of_ledgers ON pieces(locator) WHERE locator IS NOT NULL;",
        )
        .map_err(io)?;
        let usage = Arc::new(Mutex::new(Usage::default()));
        let index = Arc::new(Mutex::new(conn));
        let small = batch::Batcher::start(batch::Shared {
            dir: dir.to_owned(),
            usage: usage.clone(),
            index: index.clone(),
        })?;
        let store = Self {
            dir: dir.to_owned(),
            capacity,
            usage,
            index,
            small,
        };
        store.reconcile()?;
        Ok(store)
    }

    fn lock_usage(&self) -> Result<MutexGuard<'_, Usage>, StoreError> {
        self.usage.lock().map_err(|_| io("usage lock poisoned"))
    }

    fn lock_index(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.index.lock().map_err(|_| io("index lock poisoned"))
    }

    /// Where a piece's file lives.
    pub fn piece_path(&self, hash: &PieceHash) -> PathBuf {
        piece_path(&self.dir, hash)
    }

    fn reconcile(&self) -> Result<(), StoreError> {
        let conn = self.lock_index()?;
        let mut rows: Vec<(PieceHash, u64)> = Vec::new();
        {
            let mut stmt = conn.prepare("SELECT hash, size FROM pieces").map_err(io)?;
            let mapped = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(io)?;
            for row in mapped {
                let (hash, size) = row.map_err(io)?;
                let hash: [u8; 32] = hash.try_into().map_err(|_| io("a bad hash in the index"))?;
                rows.push((
                    PieceHash::from_bytes(hash),
                    u64::try_from(size).unwrap_or(0),
                ));
            }
        }
        let on_disk = list_pieces(&self.dir.join("pieces"))?;
        let mut usage = self.lock_usage()?;
        for (hash, size) in rows {
            if on_disk.contains(&hash) {
                usage.used += size;
                usage.sizes.insert(hash, size);
            } else {
                tracing::warn!(piece = %hash, "indexed piece file is missing; forgetting it");
                conn.execute(
                    "DELETE FROM pieces WHERE hash = ?1",
                    [hash.as_bytes().as_slice()],
                )
                .map_err(io)?;
            }
        }
        // Files without a row: a crash after a piece was synced but before it was indexed.
        for hash in on_disk {
            if usage.sizes.contains_key(&hash) {
                continue;
            }
            let file = self.piece_path(&hash);
            let bytes = fs::read(&file).map_err(io)?;
            if hash.matches(&bytes) {
                let size = bytes.len() as u64;
                let locator = Locator::in_piece(&bytes);
                conn.execute(
                    INSERT_PIECE,
                    params![
                        hash.as_bytes().as_slice(),
                        int(size),
                        int(now_ms()),
                        locator.as_ref().map(|l| l.as_bytes().as_slice()),
                    ],
                )
                .map_err(io)?;
                usage.used += size;
                usage.sizes.insert(hash, size);
            } else {
                fs::remove_file(&file).map_err(io)?;
            }
        }
        Ok(())
    }

    /// The capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes used by stored pieces, and how many there are.
    pub fn usage(&self) -> (u64, u64) {
        self.lock_usage()
            .map(|u| (u.used, u.sizes.len() as u64))
            .unwrap_or((0, 0))
    }

    /// The size of a held piece.
    pub fn size_of(&self, hash: &PieceHash) -> Option<u64> {
        self.lock_usage().ok()?.sizes.get(hash).copied()
    }

    /// Every held piece that starts as a ledger piece does, with its ledger's locator (see
    /// `cairn_core::ledger`): what a pool that lost its records asks for to find them.
    pub fn ledger_pieces(&self) -> Result<Vec<(PieceHash, Locator)>, StoreError> {
        let conn = self.lock_index()?;
        let mut stmt = conn
            .prepare("SELECT hash, locator FROM pieces WHERE locator IS NOT NULL")
            .map_err(io)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .map_err(io)?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, locator) = row.map_err(io)?;
            let hash = <[u8; 32]>::try_from(hash.as_slice())
                .map_err(|_| io("a piece hash in the index is not 32 bytes"))?;
            let Ok(locator) = <[u8; 16]>::try_from(locator.as_slice()) else {
                continue;
            };
            out.push((PieceHash::from_bytes(hash), Locator::from_bytes(locator)));
        }
        Ok(out)
    }

    /// Every held piece and when it was stored (Unix ms).
    pub fn inventory(&self) -> Result<Vec<(PieceHash, u64)>, StoreError> {
        let conn = self.lock_index()?;
        let mut stmt = conn
            .prepare("SELECT hash, stored_at FROM pieces")
            .map_err(io)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(io)?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, at) = row.map_err(io)?;
            let hash: [u8; 32] = hash.try_into().map_err(|_| io("a bad hash in the index"))?;
            out.push((PieceHash::from_bytes(hash), u64::try_from(at).unwrap_or(0)));
        }
        Ok(out)
    }

    /// Sets aside `size` bytes for a piece about to arrive, or refuses if it would not fit.
    pub fn reserve(&self, size: u64) -> Result<Reservation, StoreError> {
        let mut usage = self.lock_usage()?;
        let taken = usage.used + usage.reserved;
        if taken.saturating_add(size) > self.capacity {
            return Err(StoreError::Full {
                needed: size,
                used: taken,
                capacity: self.capacity,
            });
        }
        usage.reserved += size;
        Ok(Reservation {
            usage: self.usage.clone(),
            size,
        })
    }

    /// Receives a piece of exactly `size` bytes (space already reserved) and stores it if
    /// its bytes hash to `hash`. Returns whether it was new (a piece already held is kept
    /// and counted once). Nothing is visible until the whole piece is checked and synced.
    pub async fn put<S, E>(
        &self,
        hash: PieceHash,
        size: u64,
        mut body: S,
        reservation: Reservation,
    ) -> Result<bool, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let stored = if size <= SMALL_PIECE {
            let bytes = receive_small(hash, size, &mut body).await?;
            self.small.store(hash, bytes).await
        } else {
            let mut name = [0u8; 16];
            rand::rng().fill_bytes(&mut name);
            let tmp = self.dir.join("tmp").join(data_hex(&name));
            let result = self.receive(&tmp, hash, size, &mut body).await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            let head = result?;
            let install = Install {
                tmp,
                target: self.piece_path(&hash),
                hash,
                size,
                locator: Locator::in_piece(&head),
                index: self.index.clone(),
                usage: self.usage.clone(),
            };
            tokio::task::spawn_blocking(move || install.run())
                .await
                .map_err(io)?
        };
        drop(reservation);
        stored
    }

    /// Receives a large piece into `tmp`, hashing as it goes; synced when it returns, with
    /// the piece's first bytes (where a ledger piece names its ledger).
    async fn receive<S, E>(
        &self,
        tmp: &Path,
        hash: PieceHash,
        size: u64,
        body: &mut S,
    ) -> Result<Vec<u8>, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut file = tokio::fs::File::create(tmp).await.map_err(io)?;
        let mut hasher = blake3::Hasher::new();
        let mut head = Vec::with_capacity(HEAD_LEN);
        let mut got = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StoreError::Interrupted(e.to_string()))?;
            got += chunk.len() as u64;
            if got > size {
                return Err(StoreError::WrongLength {
                    expected: size,
                    got,
                });
            }
            hasher.update(&chunk);
            if head.len() < HEAD_LEN {
                let take = (HEAD_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        if got != size {
            return Err(StoreError::WrongLength {
                expected: size,
                got,
            });
        }
        if PieceHash::from_bytes(*hasher.finalize().as_bytes()) != hash {
            return Err(StoreError::HashMismatch(hash));
        }
        file.sync_all().await.map_err(io)?;
        Ok(head)
    }

    /// Opens a held piece for reading; returns the file and the piece's size.
    pub async fn open_piece(&self, hash: &PieceHash) -> Result<(tokio::fs::File, u64), StoreError> {
        let size = self.size_of(hash).ok_or(StoreError::NotFound(*hash))?;
        let file = tokio::fs::File::open(self.piece_path(hash))
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    StoreError::NotFound(*hash)
                } else {
                    io(e)
                }
            })?;
        Ok((file, size))
    }

    /// A held piece for sending: a small one read whole in one trip to a blocking thread
    /// (opening and reading a file through the runtime cost a trip per call), a large one
    /// opened for streaming.
    pub async fn read(&self, hash: &PieceHash) -> Result<(HeldPiece, u64), StoreError> {
        let size = self.size_of(hash).ok_or(StoreError::NotFound(*hash))?;
        if size > SMALL_PIECE {
            let (file, size) = self.open_piece(hash).await?;
            return Ok((HeldPiece::File(file), size));
        }
        let path = self.piece_path(hash);
        let hash = *hash;
        let bytes = tokio::task::spawn_blocking(move || read_whole(&path, hash, size))
            .await
            .map_err(io)??;
        Ok((HeldPiece::Bytes(bytes), size))
    }

    /// Whether a piece of `size` bytes is small (received in memory, read whole).
    pub fn is_small(size: u64) -> bool {
        size <= SMALL_PIECE
    }

    /// Reads many held small pieces whole in one trip to a blocking thread; each answer
    /// stands alone (a piece that is not held, or not small, fails by itself).
    pub async fn read_many(&self, hashes: Vec<PieceHash>) -> Vec<Result<Bytes, StoreError>> {
        let wanted: Vec<_> = hashes
            .into_iter()
            .map(|hash| match self.size_of(&hash) {
                Some(size) if size <= SMALL_PIECE => Ok((self.piece_path(&hash), hash, size)),
                Some(size) => Err(io(format!(
                    "piece {hash} is {size} bytes, too large to read in a batch"
                ))),
                None => Err(StoreError::NotFound(hash)),
            })
            .collect();
        let count = wanted.len();
        tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|wanted| wanted.and_then(|(path, hash, size)| read_whole(&path, hash, size)))
                .collect()
        })
        .await
        .unwrap_or_else(|e| vec![Err(io(e)); count])
    }

    /// Deletes a piece; returns whether it was held.
    pub fn delete(&self, hash: &PieceHash) -> Result<bool, StoreError> {
        let mut usage = self.lock_usage()?;
        let Some(size) = usage.sizes.get(hash).copied() else {
            return Ok(false);
        };
        let conn = self.lock_index()?;
        conn.execute(
            "DELETE FROM pieces WHERE hash = ?1",
            [hash.as_bytes().as_slice()],
        )
        .map_err(io)?;
        match fs::remove_file(self.piece_path(hash)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        usage.sizes.remove(hash);
        usage.used = usage.used.saturating_sub(size);
        Ok(true)
    }
}

fn data_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            bytes
                .chunks(1000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
    }

    async fn put(store: &PieceStore, bytes: &[u8]) -> Result<bool, StoreError> {
        let reservation = store.reserve(bytes.len() as u64)?;
        store
            .put(
                PieceHash::of(bytes),
                bytes.len() as u64,
                body(bytes),
                reservation,
            )
            .await
    }

    #[tokio::test]
    async fn pieces_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), 10_000).unwrap();
        assert!(put(&store, &[7u8; 3000]).await.unwrap());
        assert!(!put(&store, &[7u8; 3000]).await.unwrap(), "idempotent");
        assert_eq!(store.usage(), (3000, 1));
        drop(store);
        let store = PieceStore::open(dir.path(), 10_000).unwrap();
        assert_eq!(store.usage(), (3000, 1));
        let (held, size) = store.read(&PieceHash::of(&[7u8; 3000])).await.unwrap();
        assert_eq!(size, 3000);
        assert!(matches!(held, HeldPiece::Bytes(b) if b[..] == [7u8; 3000]));
        assert!(store.delete(&PieceHash::of(&[7u8; 3000])).unwrap());
        assert_eq!(store.usage(), (0, 0));
    }

    #[tokio::test]
    async fn capacity_counts_reservations() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), 5000).unwrap();
        let held = store.reserve(3000).unwrap();
        assert!(matches!(store.reserve(2001), Err(StoreError::Full { .. })));
        drop(held);
        assert!(put(&store, &[1u8; 5000]).await.unwrap());
        assert!(matches!(
            put(&store, &[2u8; 1]).await,
            Err(StoreError::Full { .. })
        ));
    }

    #[tokio::test]
    async fn bad_bodies_leave_nothing() {
        // Small pieces are received in memory, large ones streamed to a file: both paths.
        for size in [100usize, SMALL_PIECE as usize + 100] {
            let dir = tempfile::tempdir().unwrap();
            let capacity = 10 * size as u64;
            let store = PieceStore::open(dir.path(), capacity).unwrap();
            let data = vec![3u8; size];
            let hash = PieceHash::of(&data);
            let n = size as u64;
            let r = store.reserve(n).unwrap();
            let wrong = store.put(PieceHash::of(b"other"), n, body(&data), r).await;
            assert!(matches!(wrong, Err(StoreError::HashMismatch(_))), "{size}");
            let r = store.reserve(n).unwrap();
            let short = store.put(hash, n, body(&data[1..]), r).await;
            assert!(
                matches!(short, Err(StoreError::WrongLength { .. })),
                "{size}"
            );
            let r = store.reserve(n).unwrap();
            let mut longer = data.clone();
            longer.push(0);
            let long = store.put(hash, n, body(&longer), r).await;
            assert!(
                matches!(long, Err(StoreError::WrongLength { .. })),
                "{size}"
            );
            assert_eq!(store.usage(), (0, 0));
            assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
            assert_eq!(cairn_testkit::files_under(&dir.path().join("pieces")), 0);
            assert!(
                store.reserve(capacity).is_ok(),
                "reservations were released"
            );
            // And the right bytes are stored, once.
            assert!(put(&store, &data).await.unwrap(), "{size}");
            assert!(!put(&store, &data).await.unwrap(), "{size}");
            assert_eq!(store.usage(), (n, 1));
            assert_eq!(fs::read(store.piece_path(&hash)).unwrap(), data);
        }
    }

    #[tokio::test]
    async fn pieces_of_the_two_level_layout_are_moved_up_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), 10_000).unwrap();
        let (one, two) = ([1u8; 700], [2u8; 800]);
        assert!(put(&store, &one).await.unwrap());
        assert!(put(&store, &two).await.unwrap());
        let paths = [&one[..], &two].map(|b| store.piece_path(&PieceHash::of(b)));
        drop(store);
        // As an earlier version left them: `pieces/ab/cd/<hash>`; one is indexed, the
        // other's row is gone (a crash before its index write).
        let conn = Connection::open(dir.path().join("index.sqlite")).unwrap();
        conn.execute(
            "DELETE FROM pieces WHERE hash = ?1",
            [PieceHash::of(&two).as_bytes().as_slice()],
        )
        .unwrap();
        drop(conn);
        let mut old = Vec::new();
        for path in &paths {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let deeper = path.parent().unwrap().join(&name[2..4]);
            fs::create_dir_all(&deeper).unwrap();
            fs::rename(path, deeper.join(&name)).unwrap();
            old.push(deeper);
        }
        let store = PieceStore::open(dir.path(), 10_000).unwrap();
        assert_eq!(store.usage(), (1500, 2));
        for path in &paths {
            assert!(path.is_file(), "{} moved up", path.display());
        }
        for deeper in old {
            assert!(!deeper.exists(), "{} removed", deeper.display());
        }
        assert_eq!(
            fs::read_dir(dir.path().join("pieces")).unwrap().count(),
            256
        );
    }

    #[tokio::test]
    async fn crash_leftovers_are_cleaned_or_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), 10_000).unwrap();
        let good = [5u8; 500];
        let path = store.piece_path(&PieceHash::of(&good));
        drop(store);
        // A half-written temp file, a complete but unindexed piece, and a corrupt one.
        fs::write(dir.path().join("tmp").join("partial"), [1u8; 10]).unwrap();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, good).unwrap();
        let bad = PieceHash::of(b"bad");
        let bad_path = dir.path().join("pieces").join(&bad.to_string()[..2]);
        fs::write(bad_path.join(bad.to_string()), b"not bad").unwrap();
        let store = PieceStore::open(dir.path(), 10_000).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(store.usage(), (500, 1));
        assert!(store.size_of(&bad).is_none());
        assert!(!bad_path.join(bad.to_string()).exists());
    }
}
