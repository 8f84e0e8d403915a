//! Tree operations: a local folder put into the drive and a drive folder got onto the
//! disk, many files at once in a shared memory budget (`flight.rs`). Each file that fails
//! is reported with its error and the rest go on; cancellation stops the whole operation.
//!
//! Running one again finishes it: a file already at its target with the same size and
//! content hash (the drive's from its sealed record, the disk's read locally) is left as it
//! is and counted as already there, so an interrupted tree is completed, never copied twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::{ContentHash, EncryptedPath, Name, RemotePath};
use cairn_proto::api::MAX_SOURCES;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::drive::{Drive, Kind};
use crate::entry::FOLDER_MARKER;
use crate::error::{ClientError, ClientResult};
use crate::flight::Flight;
use crate::progress::Progress;
use crate::transfer::{Readable, landing::Lander};

/// Files whose records one pool request fetches in a folder download.
const SOURCES_BATCH: usize = 64;
const _: () = assert!(SOURCES_BATCH <= MAX_SOURCES);

/// What a tree operation did.
#[derive(Debug, Default)]
pub struct TreeReport {
    /// Files moved.
    pub files: u64,
    /// Plaintext bytes moved.
    pub bytes: u64,
    /// Folders made.
    pub folders: u64,
    /// Files left as they were: already at their target, identical.
    pub already: u64,
    /// Plaintext bytes of those.
    pub already_bytes: u64,
    /// Set when the pool's network was too small for its durability target for some file
    /// (see [`crate::Stored::below_target`]).
    pub below_target: Option<cairn_proto::api::BelowTarget>,
    /// Files that failed, each with why; the others moved all the same.
    pub failed: Vec<TreeFailure>,
}

/// One file a tree operation could not move.
#[derive(Debug)]
pub struct TreeFailure {
    /// Its local path (the source of a put, the target of a get).
    pub local: PathBuf,
    /// Its path in the drive.
    pub remote: RemotePath,
    /// What went wrong.
    pub error: ClientError,
}

impl TreeReport {
    /// Counts each file's outcome.
    fn tally(
        &mut self,
        results: impl IntoIterator<Item = (PathBuf, RemotePath, ClientResult<Moved>)>,
    ) {
        for (local, remote, result) in results {
            match result {
                Ok(Moved::Sent(size)) => {
                    self.files += 1;
                    self.bytes += size;
                }
                Ok(Moved::Already(size)) => {
                    self.already += 1;
                    self.already_bytes += size;
                }
                Err(error) => self.failed.push(TreeFailure {
                    local,
                    remote,
                    error,
                }),
            }
        }
    }

    /// The report if every file moved; else the first failure's error (the others are
    /// in [`TreeReport::failed`] of a report the caller keeps).
    pub fn into_result(mut self) -> ClientResult<Self> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(self.failed.swap_remove(0).error)
        }
    }
}

/// How one file of a tree went.
enum Moved {
    /// Its bytes moved.
    Sent(u64),
    /// It was already at its target, identical.
    Already(u64),
}

/// The BLAKE3 hash of the local file `path` if it is `size` bytes long (the drive's content
/// hash), else `None`; read on a blocking thread.
async fn local_hash(path: PathBuf, size: u64) -> ClientResult<Option<ContentHash>> {
    tokio::task::spawn_blocking(move || {
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ClientError::io(&path)(e)),
        };
        let info = file.metadata().map_err(ClientError::io(&path))?;
        if !info.is_file() || info.len() != size {
            return Ok(None);
        }
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(std::io::BufReader::with_capacity(1 << 20, file))
            .map_err(ClientError::io(&path))?;
        Ok(Some(ContentHash::from_bytes(*hasher.finalize().as_bytes())))
    })
    .await
    .map_err(|e| ClientError::Local {
        path: "hashing".into(),
        reason: e.to_string(),
    })?
}

/// Removes the partial files of small files a get killed half way left in `dir` (named
/// `.NAME.cairn-partial-DIGITS`; a large file's, which a get continues, end in hex).
fn forget_small_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let small = name.starts_with('.')
            && name
                .rsplit_once(".cairn-partial-")
                .is_some_and(|(_, tail)| {
                    !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())
                });
        if small {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Everything under a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walked {
    /// Files, by path.
    pub files: Vec<RemotePath>,
    /// Explicitly made folders, by path.
    pub folders: Vec<RemotePath>,
}

/// A local folder to upload: its files with their remote paths, and folders with no files.
struct LocalTree {
    files: Vec<(PathBuf, RemotePath)>,
    empty_folders: Vec<RemotePath>,
}

/// Walks `local`, mapping it onto `remote`. Symbolic links and special files are skipped.
fn local_tree(local: &Path, remote: &RemotePath) -> ClientResult<LocalTree> {
    let mut tree = LocalTree {
        files: Vec::new(),
        empty_folders: Vec::new(),
    };
    let mut stack = vec![(local.to_owned(), remote.clone())];
    while let Some((dir, path)) = stack.pop() {
        let mut any = false;
        let entries = std::fs::read_dir(&dir).map_err(ClientError::io(&dir))?;
        for item in entries {
            let item = item.map_err(ClientError::io(&dir))?;
            let file_type = item.file_type().map_err(ClientError::io(item.path()))?;
            let os_name = item.file_name();
            let name = os_name.to_str().ok_or_else(|| ClientError::Local {
                path: item.path(),
                reason: "the name is not UTF-8".into(),
            })?;
            let child = path.join(Name::new(name)?)?;
            if file_type.is_dir() {
                any = true;
                stack.push((item.path(), child));
            } else if file_type.is_file() {
                any = true;
                tree.files.push((item.path(), child));
            }
        }
        if !any {
            tree.empty_folders.push(path);
        }
    }
    Ok(tree)
}

impl Drive {
    /// Uploads the local folder `local` and everything in it to `remote` (which becomes
    /// that folder, whether or not it exists), many files at once. A file already there with
    /// the same size and content is left as it is (see [`TreeReport::already`]); a
    /// different one is replaced.
    pub async fn put_tree(
        &self,
        local: &Path,
        remote: &RemotePath,
        progress: &Progress,
    ) -> ClientResult<TreeReport> {
        if self.kind(remote).await? == Some(Kind::File) {
            return Err(ClientError::NotFolder(remote.clone()));
        }
        self.check_parent(remote).await?;
        let tree = local_tree(local, remote)?;
        let stored = &self.stored_under(remote).await?;
        let mut report = TreeReport::default();
        for folder in &tree.empty_folders {
            // Made by an earlier run: nothing to do (a marker again would be another
            // commit and ledger entry).
            if self.kind(folder).await? == Some(Kind::Folder) {
                continue;
            }
            self.make_marker(folder).await?;
            report.folders += 1;
        }
        let flight = &Flight::new(self.options());
        let below_target = &std::sync::Mutex::new(None);
        let results: Vec<(&PathBuf, &RemotePath, ClientResult<Moved>)> = stream::iter(&tree.files)
            .map(|(file, path)| async move {
                let progress = progress.for_file(path);
                let put = async {
                    if progress.is_cancelled() {
                        return Err(ClientError::Cancelled);
                    }
                    let size = std::fs::metadata(file)
                        .map_err(ClientError::io(file))?
                        .len();
                    if let Some(&(there, hash)) = stored.get(path)
                        && there == size
                        && local_hash(file.clone(), size).await? == Some(hash)
                    {
                        progress.started(size);
                        progress.advance(size);
                        return Ok(Moved::Already(size));
                    }
                    let _room = flight.room_for(size).await;
                    progress.started(size);
                    let committed = (self.transfers)
                        .upload_file(file, self.encrypt(path).as_str(), &progress)
                        .await?;
                    if let Some(short) = committed.below_target
                        && let Ok(mut worst) = below_target.lock()
                    {
                        worst.get_or_insert(short);
                    }
                    self.record_put(committed).await?;
                    Ok(Moved::Sent(size))
                };
                (file, path, progress.ended(put.await))
            })
            .buffer_unordered(flight.files)
            .collect()
            .await;
        report.tally(
            results
                .into_iter()
                .map(|(local, remote, result)| (local.clone(), remote.clone(), result)),
        );
        report.below_target = below_target.lock().ok().and_then(|b| *b);
        if progress.is_cancelled() {
            return Err(ClientError::Cancelled);
        }
        Ok(report)
    }

    /// Each file the drive holds under `dir` (nothing if it is not a folder) with its
    /// plaintext size and content hash, from the sealed records (a pool request per
    /// [`SOURCES_BATCH`] files; no piece is read).
    async fn stored_under(
        &self,
        dir: &RemotePath,
    ) -> ClientResult<HashMap<RemotePath, (u64, ContentHash)>> {
        if self.kind(dir).await? != Some(Kind::Folder) {
            return Ok(HashMap::new());
        }
        let walked = self.walk(dir).await?;
        let batches: Vec<Vec<Readable>> = stream::iter(walked.files.chunks(SOURCES_BATCH))
            .map(|chunk| self.readables(chunk))
            .buffered(4)
            .try_collect()
            .await?;
        Ok(batches
            .into_iter()
            .flatten()
            .map(|file| {
                let layout = file.metadata.layout;
                (file.path, (layout.size(), file.metadata.content_hash))
            })
            .collect())
    }

    /// Opens many files for reading with one pool request (at most [`MAX_SOURCES`]).
    async fn readables(&self, remotes: &[RemotePath]) -> ClientResult<Vec<Readable>> {
        let encrypted: Vec<String> = remotes
            .iter()
            .map(|remote| self.encrypt(remote).as_str().to_owned())
            .collect();
        let answers = self.pool().sources(encrypted.clone()).await?;
        let mut files = Vec::with_capacity(remotes.len());
        for ((remote, asked), answer) in remotes.iter().zip(encrypted).zip(answers) {
            // Removed since the folder was listed.
            let sources = answer.ok_or_else(|| ClientError::NotFound(remote.clone()))?;
            if sources.path != asked {
                return Err(ClientError::BadAnswer {
                    what: "sources",
                    reason: format!("a record for another path than {remote}"),
                });
            }
            files.push(self.transfers.open_record(remote, sources)?);
        }
        Ok(files)
    }

    /// Downloads the folder at `remote` with everything in it into the local directory
    /// `local` (created if missing), many files at once. A file already there with the
    /// same size and content is left as it is (see [`TreeReport::already`]); a large file
    /// a get left partly written continues where it stopped (see `download.rs`).
    pub async fn get_tree(
        &self,
        remote: &RemotePath,
        local: &Path,
        progress: &Progress,
    ) -> ClientResult<TreeReport> {
        match self.kind(remote).await? {
            Some(Kind::Folder) => {}
            Some(Kind::File) => return Err(ClientError::NotFolder(remote.clone())),
            None => return Err(ClientError::NotFound(remote.clone())),
        }
        let walked = self.walk(remote).await?;
        let mut report = TreeReport::default();
        let local_of = |path: &RemotePath| {
            let mut out = local.to_owned();
            for name in &path.names()[remote.names().len()..] {
                out.push(name.as_str());
            }
            out
        };
        std::fs::create_dir_all(local).map_err(ClientError::io(local))?;
        for folder in &walked.folders {
            let dir = local_of(folder);
            std::fs::create_dir_all(&dir).map_err(ClientError::io(&dir))?;
            report.folders += 1;
        }
        // Every file's folder made first, once (not a trip to a blocking thread per file).
        let parents: std::collections::BTreeSet<PathBuf> = walked
            .files
            .iter()
            .filter_map(|path| local_of(path).parent().map(Path::to_owned))
            .collect();
        for dir in &parents {
            std::fs::create_dir_all(dir).map_err(ClientError::io(dir))?;
            forget_small_partials(dir);
        }
        let flight = &Flight::new(self.options());
        let lander = &Lander::start()?;
        let (already, already_bytes) = (&AtomicU64::new(0), &AtomicU64::new(0));
        // Records and orders come a batch of files per pool request, and small files'
        // pieces a request per peer per batch, a batch ahead of the downloads; files
        // already on the disk are left out first.
        let files = stream::iter(walked.files.chunks(SOURCES_BATCH))
            .map(|chunk| async move {
                let mut files = Vec::with_capacity(chunk.len());
                for file in self.readables(chunk).await? {
                    let size = file.metadata.layout.size();
                    if local_hash(local_of(&file.path), size).await?
                        == Some(file.metadata.content_hash)
                    {
                        let progress = progress.for_file(&file.path);
                        progress.started(size);
                        progress.advance(size);
                        progress.ended(Ok::<_, ClientError>(()))?;
                        already.fetch_add(1, Ordering::Relaxed);
                        already_bytes.fetch_add(size, Ordering::Relaxed);
                    } else {
                        files.push(file);
                    }
                }
                self.transfers.prefetch(&mut files).await;
                Ok::<_, ClientError>(files)
            })
            .buffered(2)
            .map_ok(|files| stream::iter(files.into_iter().map(Ok)))
            .try_flatten();
        // A file that fails is reported and the rest go on; a batch's pool request that
        // fails ends the operation.
        let results: Vec<(PathBuf, RemotePath, ClientResult<Moved>)> = files
            .map_ok(|file| async move {
                let target = local_of(&file.path);
                let progress = progress.for_file(&file.path);
                let get = async {
                    if progress.is_cancelled() {
                        return Err(ClientError::Cancelled);
                    }
                    let _room = flight.room_for(file.metadata.layout.size()).await;
                    progress.started(file.metadata.layout.size());
                    self.transfers
                        .download_to_file(&file, &target, Some(lander), &progress)
                        .await
                };
                let result = progress.ended(get.await).map(Moved::Sent);
                Ok::<_, ClientError>((target, file.path, result))
            })
            .try_buffer_unordered(flight.files)
            .try_collect()
            .await?;
        lander.finish().await?;
        report.tally(results);
        report.already = already.load(Ordering::Relaxed);
        report.already_bytes = already_bytes.load(Ordering::Relaxed);
        if progress.is_cancelled() {
            return Err(ClientError::Cancelled);
        }
        Ok(report)
    }

    /// Every file and explicitly made folder under `dir`, at any depth.
    pub async fn walk(&self, dir: &RemotePath) -> ClientResult<Walked> {
        let prefix = self.encrypt(dir).children_prefix();
        let mut walked = Walked::default();
        for object in self.objects_under(&prefix).await? {
            let encrypted = EncryptedPath::parse(&object.path)?;
            let components: Vec<&str> = encrypted.components().collect();
            match components.split_last() {
                Some((&FOLDER_MARKER, folder)) => {
                    let folder = EncryptedPath::parse(&folder.join("/"))?;
                    walked.folders.push(self.paths.decrypt(&folder)?);
                }
                _ => walked.files.push(self.paths.decrypt(&encrypted)?),
            }
        }
        Ok(walked)
    }
}
