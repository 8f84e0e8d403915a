//! The drive as a user sees it: files and folders under readable paths. Every path is
//! encrypted before it leaves this process; every record from the pool is opened here.
//! The namespace sits over the transfer layer ([`crate::transfer`]) and never the other
//! way round; listings are in `listing.rs` and tree operations in `tree.rs`, both over
//! this file's [`Drive`].

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_core::ledger::LedgerOp;
use cairn_core::{EncryptedPath, LinkKey, MasterSecret, Name, ObjectId, PathCipher, RemotePath};
use cairn_proto::api::{AccountOpened, BelowTarget, NetworkStatus, ObjectEntry, SegmentHealth};
use futures_util::stream::{self, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::entry::{self, FOLDER_MARKER};
use crate::error::{ClientError, ClientResult};
use crate::home::Home;
use crate::intents::Intents;
use crate::ledger::{Ledger, is_hidden};
use crate::pool::PoolClient;
use crate::progress::Progress;
pub use crate::transfer::DriveOptions;
use crate::transfer::upload::Committed;
use crate::transfer::{FileHandle, Readable, Source, Transfers};

/// What is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A file.
    File,
    /// A folder.
    Folder,
}

impl Kind {
    /// `file` or `folder`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Folder => "folder",
        }
    }
}

/// One file's redundancy and the health of its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The file.
    pub path: RemotePath,
    /// Its redundancy, `ec:K+M` or `rep:KxR`.
    pub redundancy: String,
    /// Plaintext bytes.
    pub size: u64,
    /// Per segment, its pieces and their states.
    pub segments: Vec<SegmentHealth>,
    /// How durable its redundancy is on the network as it is now (`None` while the pool
    /// has no online peer to count on).
    pub durability: Option<Durability>,
}

/// How durable a redundancy is on the network as it is now: the probability that a segment
/// is readable at a random moment (the pool's model, at the mean availability `auto` counts
/// on), against the pool's durability target.
#[derive(Debug, Clone, Copy)]
pub struct Durability {
    /// The probability a segment is readable.
    pub survival: f64,
    /// The pool's durability target.
    pub target: f64,
}

impl Durability {
    /// Whether it reaches the pool's target.
    pub fn meets_target(&self) -> bool {
        1.0 - self.survival <= 1.0 - self.target
    }
}

impl PartialEq for Durability {
    fn eq(&self, other: &Self) -> bool {
        self.survival.to_bits() == other.survival.to_bits()
            && self.target.to_bits() == other.target.to_bits()
    }
}

impl Eq for Durability {}

impl std::fmt::Display for Durability {
    /// In percentages: "99.999%, below this pool's target of 99.9999%".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use cairn_core::policy::percent;
        let (survival, target) = (percent(self.survival), percent(self.target));
        if self.meets_target() {
            write!(f, "{survival} (this pool's target: {target})")
        } else {
            write!(f, "{survival}, below this pool's target of {target}")
        }
    }
}

impl FileStatus {
    /// Whether every segment has every piece healthy.
    pub fn full_redundancy(&self) -> bool {
        self.segments.iter().all(|s| s.full_redundancy)
    }

    /// Whether every segment can be read now.
    pub fn readable(&self) -> bool {
        self.segments.iter().all(|s| s.readable)
    }
}

/// How healthy the account's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Files and folder markers stored.
    pub objects: u64,
    /// Of those, at full redundancy.
    pub full: u64,
    /// Readable files below full redundancy.
    pub degraded: Vec<RemotePath>,
    /// Files that cannot be read now.
    pub unreadable: Vec<RemotePath>,
}

/// A user's drive on one pool: the namespace (readable paths, folders, listings, moves)
/// over the [`Transfers`] that move each file's bytes.
pub struct Drive {
    pub(crate) transfers: Arc<Transfers>,
    pub(crate) paths: PathCipher,
    /// The copy of every change on the peers (see `ledger.rs`).
    pub(crate) ledger: Ledger,
    /// Where the account's share links come from (see `share.rs`).
    pub(crate) links: LinkKey,
}

/// What a put did besides storing the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Plaintext bytes an interrupted upload of the file had stored, not sent again (0 for
    /// a fresh upload).
    pub resumed: u64,
    /// Set when the pool's network was too small for its durability target: `auto` chose
    /// the most durable redundancy it could carry, which falls short by this much.
    pub below_target: Option<BelowTarget>,
}

impl Drive {
    /// A drive on the pool at `pool` for the account of `secret`.
    pub fn new(pool: &str, secret: &MasterSecret, options: DriveOptions) -> ClientResult<Self> {
        Self::with_home(pool, secret, options, None)
    }

    fn with_home(
        pool: &str,
        secret: &MasterSecret,
        options: DriveOptions,
        home: Option<&std::path::Path>,
    ) -> ClientResult<Self> {
        let intents = Arc::new(Intents::new(secret.ledger_key(), home));
        Ok(Self {
            transfers: Arc::new(Transfers::journaling(
                pool,
                secret,
                options,
                intents.clone(),
                home,
            )?),
            paths: PathCipher::new(&secret.path_key()),
            ledger: Ledger::new(secret.ledger_key(), home, intents),
            links: secret.link_key(),
        })
    }

    /// The drive of an initialised home, unlocked with `passphrase` when it needs one.
    pub fn open(
        home: &Home,
        passphrase: Option<&[u8]>,
        options: DriveOptions,
    ) -> ClientResult<Self> {
        let secret = home.unlock(passphrase)?;
        Self::with_home(home.pool(), &secret, options, Some(home.dir()))
    }

    /// How this drive stores and fetches.
    pub fn options(&self) -> &DriveOptions {
        self.transfers.options()
    }

    /// The transfer layer under this drive.
    pub fn transfers(&self) -> &Transfers {
        &self.transfers
    }

    pub(crate) fn pool(&self) -> &PoolClient {
        self.transfers.pool()
    }

    pub(crate) fn encrypt(&self, path: &RemotePath) -> EncryptedPath {
        self.paths.encrypt(path)
    }

    /// Opens the account on the pool (idempotent).
    pub async fn register(&self) -> ClientResult<AccountOpened> {
        self.pool().open_account().await
    }

    /// The pool's view of the network.
    pub async fn network(&self) -> ClientResult<NetworkStatus> {
        self.pool().network().await
    }

    /// What is at `path`, if anything.
    pub async fn kind(&self, path: &RemotePath) -> ClientResult<Option<Kind>> {
        if path.is_root() {
            return Ok(Some(Kind::Folder));
        }
        let encrypted = self.encrypt(path);
        let page = self
            .pool()
            .list_page(&encrypted.children_prefix(), None, Some(1))
            .await?;
        if !page.objects.is_empty() {
            return Ok(Some(Kind::Folder));
        }
        Ok(self
            .pool()
            .object_health(encrypted.as_str())
            .await?
            .map(|_| Kind::File))
    }

    /// Where a local item named `name` lands when put at `remote`: inside it when it is a
    /// folder, at it otherwise.
    pub async fn target_for(&self, name: &Name, remote: &RemotePath) -> ClientResult<RemotePath> {
        match self.kind(remote).await? {
            Some(Kind::Folder) => Ok(remote.join(name.clone())?),
            _ => Ok(remote.clone()),
        }
    }

    /// Every ancestor of `path` must be a folder or not exist yet (folders are implied):
    /// walks up until one exists.
    pub(crate) async fn check_parent(&self, path: &RemotePath) -> ClientResult<()> {
        let mut ancestor = path.parent();
        while let Some(dir) = ancestor {
            match self.kind(&dir).await? {
                Some(Kind::Folder) => return Ok(()),
                Some(Kind::File) => return Err(ClientError::NotFolder(dir)),
                None => ancestor = dir.parent(),
            }
        }
        Ok(())
    }

    /// Uploads the local file `local` to exactly `remote`, replacing a file there. An
    /// upload of it that was interrupted goes on where it stopped.
    pub async fn put(
        &self,
        local: &Path,
        remote: &RemotePath,
        progress: &Progress,
    ) -> ClientResult<Stored> {
        if remote.is_root() || self.kind(remote).await? == Some(Kind::Folder) {
            return Err(ClientError::IsFolder(remote.clone()));
        }
        self.check_parent(remote).await?;
        let progress = progress.for_file(remote);
        let size = std::fs::metadata(local).map_or(0, |m| m.len());
        progress.started(size);
        let encrypted = self.encrypt(remote);
        let put = async {
            let committed = (self.transfers)
                .upload_file(local, encrypted.as_str(), &progress)
                .await?;
            let stored = Stored {
                resumed: committed.resumed,
                below_target: committed.below_target,
            };
            self.record_put(committed).await.map(|()| stored)
        };
        progress.ended(put.await)
    }

    /// Uploads exactly `len` bytes from `reader` to `remote`, replacing a file there, with
    /// the memory bound of a file put (a segment or two in flight). A reader that ends
    /// early or runs on stores nothing listed; the same bytes sent again go on from the
    /// segments it stored.
    pub async fn put_reader(
        &self,
        remote: &RemotePath,
        len: u64,
        reader: impl AsyncRead + Send + Unpin + 'static,
        progress: &Progress,
    ) -> ClientResult<Stored> {
        if remote.is_root() || self.kind(remote).await? == Some(Kind::Folder) {
            return Err(ClientError::IsFolder(remote.clone()));
        }
        self.check_parent(remote).await?;
        let source = Source::stream(PathBuf::from(remote.to_string()), len, reader);
        let progress = progress.for_file(remote);
        progress.started(len);
        let encrypted = self.encrypt(remote);
        let put = async {
            let committed = (self.transfers)
                .upload(source, encrypted.as_str(), &progress)
                .await?;
            let stored = Stored {
                resumed: committed.resumed,
                below_target: committed.below_target,
            };
            self.record_put(committed).await.map(|()| stored)
        };
        progress.ended(put.await)
    }

    /// Opens the file at `remote` for reading.
    pub(crate) async fn readable(&self, remote: &RemotePath) -> ClientResult<Readable> {
        let encrypted = self.encrypt(remote);
        let Some(sources) = self.pool().object(encrypted.as_str()).await? else {
            return Err(match self.kind(remote).await? {
                Some(Kind::Folder) => ClientError::IsFolder(remote.clone()),
                _ => ClientError::NotFound(remote.clone()),
            });
        };
        self.transfers.open_record(remote, sources)
    }

    /// Writes the whole file at `remote` to `out` (e.g. standard output).
    pub async fn get_to<W: AsyncWrite + Unpin>(
        &self,
        remote: &RemotePath,
        out: &mut W,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let file = self.readable(remote).await?;
        let progress = progress.for_file(remote);
        progress.started(file.metadata.layout.size());
        let get = self.transfers.download(&file, 0..u64::MAX, out, &progress);
        progress.ended(get.await)
    }

    /// Writes bytes `range` of the file at `remote` (fewer at its end) to `out`, streamed
    /// with the prefetching of a whole get: the segments the range touches, in order, a
    /// few in flight. Returns how many bytes were written.
    pub async fn get_range_to<W: AsyncWrite + Unpin>(
        &self,
        remote: &RemotePath,
        range: Range<u64>,
        out: &mut W,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let file = self.readable(remote).await?;
        let size = file.metadata.layout.size();
        let range = range.start.min(size)..range.end.min(size);
        let progress = progress.for_file(remote);
        progress.started(range.end - range.start);
        let get = self.transfers.download(&file, range, out, &progress);
        progress.ended(get.await)
    }

    /// Reads bytes `range` of the file at `remote`, fetching only the segments it touches
    /// (and asking the pool for orders for those segments only).
    pub async fn read_range(
        &self,
        remote: &RemotePath,
        range: Range<u64>,
    ) -> ClientResult<Vec<u8>> {
        self.open_file(remote).await?.read_range(range).await
    }

    /// Downloads the file at `remote` to the local path `local` (into it, if it is a
    /// directory). The file appears whole or not at all. Returns where it was written and
    /// how many bytes.
    pub async fn get(
        &self,
        remote: &RemotePath,
        local: &Path,
        progress: &Progress,
    ) -> ClientResult<(PathBuf, u64)> {
        let file = self.readable(remote).await?;
        let target = match remote.file_name() {
            Some(name) if local.is_dir() => local.join(name.as_str()),
            _ => local.to_owned(),
        };
        let progress = progress.for_file(remote);
        progress.started(file.metadata.layout.size());
        let get = self
            .transfers
            .download_to_file(&file, &target, None, &progress);
        let written = progress.ended(get.await)?;
        Ok((target, written))
    }

    /// Every object under the encrypted `prefix`, paging through the pool's listing.
    pub(crate) async fn objects_under(&self, prefix: &str) -> ClientResult<Vec<ObjectEntry>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .pool()
                .list_page(prefix, after.as_deref(), None)
                .await?;
            all.extend(page.objects.into_iter().filter(|o| !is_hidden(&o.path)));
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Opens the file at `remote` for random reads: one pool request now, then at most one
    /// per read, for the sources of the segments it needs (see [`FileHandle`]).
    pub async fn open_file(&self, remote: &RemotePath) -> ClientResult<FileHandle> {
        let encrypted = self.encrypt(remote);
        let record = self.pool().record(encrypted.as_str()).await?;
        let Some(record) = record else {
            return Err(match self.kind(remote).await? {
                Some(Kind::Folder) => ClientError::IsFolder(remote.clone()),
                _ => ClientError::NotFound(remote.clone()),
            });
        };
        let file = self.transfers.open_record(remote, record)?;
        Ok(FileHandle::new(
            self.transfers.clone(),
            encrypted.as_str().to_owned(),
            file,
        ))
    }

    /// Makes the folder `path`; with `parents`, an existing folder is fine.
    pub async fn mkdir(&self, path: &RemotePath, parents: bool) -> ClientResult<()> {
        match self.kind(path).await? {
            Some(Kind::Folder) if parents => return Ok(()),
            Some(_) => return Err(ClientError::Exists(path.clone())),
            None => {}
        }
        if let Some(parent) = path.parent() {
            match self.kind(&parent).await? {
                Some(Kind::Folder) => {}
                Some(Kind::File) => return Err(ClientError::NotFolder(parent)),
                None if parents => {}
                None => return Err(ClientError::NotFound(parent)),
            }
        }
        self.make_marker(path).await
    }

    /// Folders exist while something is in them; when `gone` was the last thing in its
    /// folder, a marker keeps the folder, as a drive's user expects.
    async fn keep_parent(&self, gone: &RemotePath) -> ClientResult<()> {
        match gone.parent() {
            Some(parent) if !parent.is_root() && self.kind(&parent).await?.is_none() => {
                self.make_marker(&parent).await
            }
            _ => Ok(()),
        }
    }

    pub(crate) async fn make_marker(&self, folder: &RemotePath) -> ClientResult<()> {
        let marker = entry::marker_path(&self.encrypt(folder));
        let object = ObjectId::random(&mut rand::rng());
        let begun = self
            .pool()
            .begin(&marker, entry::FOLDER_REDUNDANCY, None, Some(object))
            .await?;
        let committed = Committed {
            object,
            path: marker,
            size: 0,
            metadata: entry::seal_folder(),
            intent: None,
            resumed: 0,
            below_target: None,
        };
        let commit = cairn_proto::api::CommitUpload {
            metadata: committed.metadata.clone(),
            size: 0,
            segment_count: 0,
            last_segment: None,
        };
        self.change(
            vec![committed.op()?],
            self.pool().commit(&begun.upload, &commit),
        )
        .await
        .map(drop)
    }

    /// The journal of changes about to be made at the pool.
    pub(crate) fn intents(&self) -> &Intents {
        self.transfers.intents()
    }

    /// Makes a change at the pool with `change` — journaled first, written to the ledger
    /// after — so that neither a refusal nor a process killed half way leaves the ledger
    /// out of step with the pool (see `intents.rs`).
    async fn change<T>(
        &self,
        ops: Vec<LedgerOp>,
        change: impl Future<Output = ClientResult<T>>,
    ) -> ClientResult<T> {
        let (done, intent) = self.intents().around(&ops, change).await?;
        (self.ledger)
            .record(&self.transfers, ops, Some(intent))
            .await
            .map(|()| done)
    }

    /// Writes a committed object to the ledger.
    pub(crate) async fn record_put(&self, committed: Committed) -> ClientResult<()> {
        let op = committed.op()?;
        (self.ledger)
            .record(&self.transfers, vec![op], committed.intent)
            .await
    }

    /// Moves the file or folder `from` to `to` (into `to` when it is a folder). Returns
    /// the new path.
    pub async fn mv(&self, from: &RemotePath, to: &RemotePath) -> ClientResult<RemotePath> {
        let Some(kind) = self.kind(from).await? else {
            return Err(ClientError::NotFound(from.clone()));
        };
        if from.is_root() {
            return Err(ClientError::Local {
                path: "/".into(),
                reason: "the root folder cannot be moved".into(),
            });
        }
        let to = match (self.kind(to).await?, from.file_name()) {
            (Some(Kind::Folder), Some(name)) => {
                let inside = to.join(name.clone())?;
                if self.kind(&inside).await?.is_some() {
                    return Err(ClientError::Exists(inside));
                }
                inside
            }
            (Some(_), _) => return Err(ClientError::Exists(to.clone())),
            (None, _) => to.clone(),
        };
        if kind == Kind::Folder && to.starts_with(from) {
            return Err(ClientError::Local {
                path: PathBuf::from(to.to_string()),
                reason: format!("a folder cannot move into itself ({from})"),
            });
        }
        self.check_parent(&to).await?;
        let (source, target) = (self.encrypt(from), self.encrypt(&to));
        let (old, new) = match kind {
            Kind::File => (source.as_str().to_owned(), target.as_str().to_owned()),
            Kind::Folder => (source.children_prefix(), target.children_prefix()),
        };
        let renamed = LedgerOp::Rename {
            from: old.clone(),
            to: new.clone(),
        };
        self.change(vec![renamed], self.pool().rename(&old, &new))
            .await?;
        self.keep_parent(from).await?;
        Ok(to)
    }

    /// Removes the file or folder at `path` (a folder with contents only when `recursive`).
    /// Returns how many files went.
    pub async fn rm(&self, path: &RemotePath, recursive: bool) -> ClientResult<u64> {
        if path.is_root() {
            return Err(ClientError::Local {
                path: "/".into(),
                reason: "the root folder cannot be removed; remove what is in it".into(),
            });
        }
        match self.kind(path).await? {
            None => Err(ClientError::NotFound(path.clone())),
            Some(Kind::File) => {
                let gone = self.encrypt(path).as_str().to_owned();
                let deleted = LedgerOp::Delete { path: gone.clone() };
                self.change(vec![deleted], self.pool().delete(&gone))
                    .await?;
                self.keep_parent(path).await?;
                Ok(1)
            }
            Some(Kind::Folder) => {
                let prefix = self.encrypt(path).children_prefix();
                let objects = self.objects_under(&prefix).await?;
                let own_marker = format!("{prefix}{FOLDER_MARKER}");
                if !recursive && objects.iter().any(|o| o.path != own_marker) {
                    return Err(ClientError::NotEmpty(path.clone()));
                }
                let files = objects
                    .iter()
                    .filter(|o| !o.path.ends_with(&format!("/{FOLDER_MARKER}")))
                    .count() as u64;
                let intended: Vec<LedgerOp> = (objects.iter())
                    .map(|o| LedgerOp::Delete {
                        path: o.path.clone(),
                    })
                    .collect();
                let intent = self.intents().intend(&intended).await;
                let done: Vec<(String, ClientResult<bool>)> = stream::iter(objects)
                    .map(|object| async move {
                        let result = self.pool().delete(&object.path).await;
                        (object.path, result)
                    })
                    .buffer_unordered(self.options().concurrency.max(1))
                    .collect()
                    .await;
                // What went is written to the ledger even when another delete failed.
                let mut failed = None;
                let mut deleted = Vec::with_capacity(done.len());
                for (gone, result) in done {
                    match result {
                        Ok(_) => deleted.push(LedgerOp::Delete { path: gone }),
                        Err(e) => failed = Some(e),
                    }
                }
                // An unanswered delete may have gone through: its intent stays journaled,
                // for a later process to ask.
                let answered = failed.as_ref().is_none_or(|e| e.code().is_some());
                let intent = answered.then_some(intent);
                self.ledger.record(&self.transfers, deleted, intent).await?;
                if let Some(e) = failed {
                    return Err(e);
                }
                self.keep_parent(path).await?;
                Ok(files)
            }
        }
    }

    /// The redundancy of the file at `path` and the state of each of its pieces.
    pub async fn status(&self, path: &RemotePath) -> ClientResult<FileStatus> {
        let file = self.readable(path).await?;
        let health = self
            .pool()
            .object_health(self.encrypt(path).as_str())
            .await?
            .ok_or_else(|| ClientError::NotFound(path.clone()))?;
        let info = self.pool().info().await?;
        let durability = match info.availability {
            Some(availability) => cairn_core::policy::segment_survival_probability(
                file.metadata.redundancy,
                availability,
            )
            .ok()
            .map(|survival| Durability {
                survival,
                target: info.durability_target,
            }),
            None => None,
        };
        Ok(FileStatus {
            path: path.clone(),
            redundancy: health.redundancy,
            size: file.metadata.layout.size(),
            segments: health.segments,
            durability,
        })
    }

    /// The space the account uses at the pool (every piece of its files, redundancy
    /// included) and the most it may use: `(used, quota)`, bytes.
    pub async fn usage(&self) -> ClientResult<(u64, u64)> {
        let usage = self.pool().account_usage().await?;
        Ok((usage.used, usage.quota))
    }

    /// How healthy the account's files are.
    pub async fn health(&self) -> ClientResult<Health> {
        let health = self.pool().account_health().await?;
        let decrypt = |paths: Vec<String>| -> ClientResult<Vec<RemotePath>> {
            paths
                .iter()
                .filter(|p| !is_hidden(p))
                .map(|p| Ok(self.paths.decrypt(&EncryptedPath::parse(p)?)?))
                .collect()
        };
        Ok(Health {
            objects: health.objects,
            full: health.full,
            degraded: decrypt(health.degraded)?,
            unreadable: decrypt(health.unreadable)?,
        })
    }
}
