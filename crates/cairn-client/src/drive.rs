//! The drive as a user sees it: files and folders under readable paths. Every path is
//! encrypted before it leaves this process; every record from the pool is opened here.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::{
    EncryptedPath, MasterSecret, MetadataKey, Name, PathCipher, RedundancyPolicy, RemotePath,
    Timestamp,
};
use cairn_proto::api::{
    AccountOpened, MAX_SOURCES, NetworkStatus, ObjectEntry, ObjectSources, SegmentHealth,
};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::io::AsyncWrite;

use crate::download::Readable;
use crate::entry::{self, Entry, FOLDER_MARKER};
use crate::error::{ClientError, ClientResult};
use crate::flight::Flight;
use crate::home::Home;
use crate::landing::Lander;
use crate::peer::{PeerClient, PeerTransport};
use crate::pool::PoolClient;
use crate::progress::Progress;

/// How a drive stores and fetches.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// Redundancy asked of the pool for new files.
    pub redundancy: RedundancyPolicy,
    /// Plaintext bytes per segment: large enough for fast erasure coding, small enough that
    /// a few segments in flight stay well under the memory bound.
    pub segment_size: u32,
    /// How long a piece transfer may lag before another peer is raced against it.
    pub hedge_after: Duration,
    /// Large files (a segment or more) moved at once by tree operations; smaller files
    /// share the same memory budget, up to 64 times as many at once (see `flight.rs`).
    pub concurrency: usize,
}

impl Default for DriveOptions {
    fn default() -> Self {
        Self {
            redundancy: RedundancyPolicy::Auto,
            segment_size: 16 * 1024 * 1024,
            hedge_after: Duration::from_secs(2),
            concurrency: 8,
        }
    }
}

/// Files whose records one pool request fetches in a folder download.
const SOURCES_BATCH: usize = 64;
const _: () = assert!(SOURCES_BATCH <= MAX_SOURCES);

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

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Its full path.
    pub path: RemotePath,
    /// File or folder.
    pub kind: Kind,
    /// Plaintext bytes (0 for folders).
    pub size: u64,
    /// Modification time of a file; creation time of an explicitly made folder.
    pub modified: Option<Timestamp>,
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

/// What a tree operation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeReport {
    /// Files moved.
    pub files: u64,
    /// Plaintext bytes moved.
    pub bytes: u64,
    /// Folders made.
    pub folders: u64,
}

/// A user's drive on one pool.
pub struct Drive {
    pool: PoolClient,
    peers: std::sync::Arc<dyn PeerTransport>,
    paths: PathCipher,
    metadata_key: MetadataKey,
    options: DriveOptions,
}

impl Drive {
    /// A drive on the pool at `pool` for the account of `secret`.
    pub fn new(pool: &str, secret: &MasterSecret, options: DriveOptions) -> ClientResult<Self> {
        Ok(Self {
            pool: PoolClient::new(pool, secret.account_key())?,
            peers: std::sync::Arc::new(PeerClient::new().map_err(|e| {
                ClientError::PoolUnreachable {
                    url: pool.to_owned(),
                    reason: e.to_string(),
                }
            })?),
            paths: PathCipher::new(&secret.path_key()),
            metadata_key: secret.metadata_key(),
            options,
        })
    }

    /// The drive of an initialised home, unlocked with `passphrase` when it needs one.
    pub fn open(
        home: &Home,
        passphrase: Option<&[u8]>,
        options: DriveOptions,
    ) -> ClientResult<Self> {
        let secret = home.unlock(passphrase)?;
        Self::new(home.pool(), &secret, options)
    }

    /// How this drive stores and fetches.
    pub fn options(&self) -> &DriveOptions {
        &self.options
    }

    pub(crate) fn pool(&self) -> &PoolClient {
        &self.pool
    }

    pub(crate) fn peers(&self) -> &dyn PeerTransport {
        self.peers.as_ref()
    }

    pub(crate) fn metadata_key(&self) -> &MetadataKey {
        &self.metadata_key
    }

    fn encrypt(&self, path: &RemotePath) -> EncryptedPath {
        self.paths.encrypt(path)
    }

    /// Opens the account on the pool (idempotent).
    pub async fn register(&self) -> ClientResult<AccountOpened> {
        self.pool.open_account().await
    }

    /// The pool's view of the network.
    pub async fn network(&self) -> ClientResult<NetworkStatus> {
        self.pool.network().await
    }

    /// What is at `path`, if anything.
    pub async fn kind(&self, path: &RemotePath) -> ClientResult<Option<Kind>> {
        if path.is_root() {
            return Ok(Some(Kind::Folder));
        }
        let encrypted = self.encrypt(path);
        let page = self
            .pool
            .list_page(&encrypted.children_prefix(), None, Some(1))
            .await?;
        if !page.objects.is_empty() {
            return Ok(Some(Kind::Folder));
        }
        Ok(self
            .pool
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
    async fn check_parent(&self, path: &RemotePath) -> ClientResult<()> {
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

    /// Uploads the local file `local` to exactly `remote`, replacing a file there.
    pub async fn put(
        &self,
        local: &Path,
        remote: &RemotePath,
        progress: &Progress,
    ) -> ClientResult<()> {
        if remote.is_root() || self.kind(remote).await? == Some(Kind::Folder) {
            return Err(ClientError::IsFolder(remote.clone()));
        }
        self.check_parent(remote).await?;
        self.upload_file(local, self.encrypt(remote).as_str(), progress)
            .await
    }

    /// Uploads the local folder `local` and everything in it to `remote`, many files at
    /// once; existing files there are replaced.
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
        let mut report = TreeReport::default();
        for folder in &tree.empty_folders {
            self.make_marker(folder).await?;
            report.folders += 1;
        }
        let flight = &Flight::new(&self.options);
        let sizes: Vec<u64> = stream::iter(&tree.files)
            .map(|(file, path)| async move {
                let size = std::fs::metadata(file)
                    .map_err(ClientError::io(file))?
                    .len();
                let _room = flight.room_for(size).await;
                self.upload_file(file, self.encrypt(path).as_str(), progress)
                    .await?;
                Ok::<_, ClientError>(size)
            })
            .buffer_unordered(flight.files)
            .try_collect()
            .await?;
        report.files = sizes.len() as u64;
        report.bytes = sizes.iter().sum();
        Ok(report)
    }

    /// Opens the file at `remote` for reading.
    async fn readable(&self, remote: &RemotePath) -> ClientResult<Readable> {
        let encrypted = self.encrypt(remote);
        let Some(sources) = self.pool.object(encrypted.as_str()).await? else {
            return Err(match self.kind(remote).await? {
                Some(Kind::Folder) => ClientError::IsFolder(remote.clone()),
                _ => ClientError::NotFound(remote.clone()),
            });
        };
        self.open_readable(remote, sources)
    }

    /// A file from its record as the pool sent it.
    fn open_readable(&self, remote: &RemotePath, sources: ObjectSources) -> ClientResult<Readable> {
        match entry::open(&self.metadata_key, &sources.metadata)? {
            Entry::File { object, metadata } => Ok(Readable {
                path: remote.clone(),
                object,
                metadata: *metadata,
                sources,
                prefetched: Default::default(),
            }),
            Entry::Folder => Err(ClientError::IsFolder(remote.clone())),
        }
    }

    /// Opens many files for reading with one pool request (at most [`MAX_SOURCES`]).
    async fn readables(&self, remotes: &[RemotePath]) -> ClientResult<Vec<Readable>> {
        let encrypted: Vec<String> = remotes
            .iter()
            .map(|remote| self.encrypt(remote).as_str().to_owned())
            .collect();
        let answers = self.pool.sources(encrypted.clone()).await?;
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
            files.push(self.open_readable(remote, sources)?);
        }
        Ok(files)
    }

    /// Writes the whole file at `remote` to `out` (e.g. standard output).
    pub async fn get_to<W: AsyncWrite + Unpin>(
        &self,
        remote: &RemotePath,
        out: &mut W,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let file = self.readable(remote).await?;
        self.download(&file, 0..u64::MAX, out, progress).await
    }

    /// Reads bytes `range` of the file at `remote`, fetching only the segments it touches.
    pub async fn read_range(
        &self,
        remote: &RemotePath,
        range: Range<u64>,
    ) -> ClientResult<Vec<u8>> {
        let file = self.readable(remote).await?;
        let mut out = Vec::new();
        self.download(&file, range, &mut out, &Progress::silent())
            .await?;
        Ok(out)
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
        let written = self
            .download_to_file(&file, &target, None, progress)
            .await?;
        Ok((target, written))
    }

    async fn download_to_file(
        &self,
        file: &Readable,
        target: &Path,
        lander: Option<&Lander>,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial = dir.join(format!(".{name}.cairn-partial-{}", rand::random::<u32>()));
        if file.metadata.layout.size() <= SMALL_FILE {
            // Fetched whole, then written, synced and renamed in one trip to a blocking
            // thread (each `tokio::fs` call is a trip of its own).
            let mut bytes = Vec::new();
            let written = self
                .download(file, 0..u64::MAX, &mut bytes, progress)
                .await?;
            if let Some(lander) = lander {
                lander.land(partial, target.to_owned(), bytes).await?;
                return Ok(written);
            }
            let path = target.to_owned();
            return tokio::task::spawn_blocking(move || {
                let result = write_whole(&partial, &path, &bytes);
                if result.is_err() {
                    let _ = std::fs::remove_file(&partial);
                }
                result.map(|()| written)
            })
            .await
            .map_err(|e| ClientError::Local {
                path: target.to_owned(),
                reason: format!("writing stopped unexpectedly: {e}"),
            })?;
        }
        let mut out = tokio::fs::File::create(&partial)
            .await
            .map_err(ClientError::io(&partial))?;
        let result = async {
            let written = self.download(file, 0..u64::MAX, &mut out, progress).await?;
            out.sync_all().await.map_err(ClientError::io(&partial))?;
            drop(out);
            tokio::fs::rename(&partial, target)
                .await
                .map_err(ClientError::io(target))?;
            Ok(written)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        result
    }

    /// Downloads the folder at `remote` with everything in it into the local directory
    /// `local` (created if missing), many files at once.
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
        }
        let flight = &Flight::new(&self.options);
        let lander = &Lander::start()?;
        // Records and orders come a batch of files per pool request, and small files'
        // pieces a request per peer per batch, a batch ahead of the downloads.
        let files = stream::iter(walked.files.chunks(SOURCES_BATCH))
            .map(|chunk| async move {
                let mut files = self.readables(chunk).await?;
                self.prefetch(&mut files).await;
                Ok::<_, ClientError>(files)
            })
            .buffered(2)
            .map_ok(|files| stream::iter(files.into_iter().map(Ok)))
            .try_flatten();
        let sizes: Vec<u64> = files
            .map_ok(|file| async move {
                let target = local_of(&file.path);
                let _room = flight.room_for(file.metadata.layout.size()).await;
                self.download_to_file(&file, &target, Some(lander), progress)
                    .await
            })
            .try_buffer_unordered(flight.files)
            .try_collect()
            .await?;
        lander.finish().await?;
        report.files = sizes.len() as u64;
        report.bytes = sizes.iter().sum();
        Ok(report)
    }

    /// Every object under the encrypted `prefix`, paging through the pool's listing.
    async fn objects_under(&self, prefix: &str) -> ClientResult<Vec<ObjectEntry>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.pool.list_page(prefix, after.as_deref(), None).await?;
            all.extend(page.objects);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Lists the folder `dir`: its files and sub-folders, by name. A file path lists the
    /// file itself.
    pub async fn list(&self, dir: &RemotePath) -> ClientResult<Vec<ListEntry>> {
        let encrypted = self.encrypt(dir);
        let prefix = encrypted.children_prefix();
        let objects = self.objects_under(&prefix).await?;
        if objects.is_empty() && !dir.is_root() {
            return match self.kind(dir).await? {
                Some(Kind::File) => {
                    let file = self.readable(dir).await?;
                    Ok(vec![ListEntry {
                        path: dir.clone(),
                        kind: Kind::File,
                        size: file.metadata.layout.size(),
                        modified: Some(file.metadata.modified),
                    }])
                }
                _ => Err(ClientError::NotFound(dir.clone())),
            };
        }
        let mut entries: BTreeMap<String, ListEntry> = BTreeMap::new();
        for object in &objects {
            let rest = object.path.get(prefix.len()..).unwrap_or_default();
            let mut components = rest.split('/');
            let Some(first) = components.next() else {
                continue;
            };
            let deeper = components.next();
            if first == FOLDER_MARKER {
                continue;
            }
            let name = self.paths.decrypt_name(first)?;
            let path = dir.join(name.clone())?;
            match deeper {
                None => {
                    if let Entry::File { metadata, .. } =
                        entry::open(&self.metadata_key, &object.metadata)?
                    {
                        entries.insert(
                            name.as_str().to_owned(),
                            ListEntry {
                                path,
                                kind: Kind::File,
                                size: metadata.layout.size(),
                                modified: Some(metadata.modified),
                            },
                        );
                    }
                }
                Some(second) => {
                    let made = (second == FOLDER_MARKER && components.next().is_none())
                        .then(|| millis_timestamp(object.committed_at_ms));
                    let folder = entries
                        .entry(name.as_str().to_owned())
                        .or_insert(ListEntry {
                            path,
                            kind: Kind::Folder,
                            size: 0,
                            modified: None,
                        });
                    if folder.kind == Kind::Folder && made.is_some() {
                        folder.modified = made;
                    }
                }
            }
        }
        Ok(entries.into_values().collect())
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

    async fn make_marker(&self, folder: &RemotePath) -> ClientResult<()> {
        let marker = entry::marker_path(&self.encrypt(folder));
        let begun = self
            .pool
            .begin(&marker, entry::FOLDER_REDUNDANCY, None)
            .await?;
        self.pool
            .commit(
                &begun.upload,
                &cairn_proto::api::CommitUpload {
                    metadata: entry::seal_folder(),
                    size: 0,
                    segment_count: 0,
                    last_segment: None,
                },
            )
            .await?;
        Ok(())
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
        match kind {
            Kind::File => self.pool.rename(source.as_str(), target.as_str()).await?,
            Kind::Folder => {
                self.pool
                    .rename(&source.children_prefix(), &target.children_prefix())
                    .await?
            }
        };
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
                self.pool.delete(self.encrypt(path).as_str()).await?;
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
                stream::iter(objects)
                    .map(|object| async move { self.pool.delete(&object.path).await })
                    .buffer_unordered(self.options.concurrency.max(1))
                    .try_collect::<Vec<_>>()
                    .await?;
                self.keep_parent(path).await?;
                Ok(files)
            }
        }
    }

    /// The redundancy of the file at `path` and the state of each of its pieces.
    pub async fn status(&self, path: &RemotePath) -> ClientResult<FileStatus> {
        let file = self.readable(path).await?;
        let health = self
            .pool
            .object_health(self.encrypt(path).as_str())
            .await?
            .ok_or_else(|| ClientError::NotFound(path.clone()))?;
        Ok(FileStatus {
            path: path.clone(),
            redundancy: health.redundancy,
            size: file.metadata.layout.size(),
            segments: health.segments,
        })
    }

    /// How healthy the account's files are.
    pub async fn health(&self) -> ClientResult<Health> {
        let health = self.pool.account_health().await?;
        let decrypt = |paths: Vec<String>| -> ClientResult<Vec<RemotePath>> {
            paths
                .iter()
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

fn millis_timestamp(ms: u64) -> Timestamp {
    Timestamp {
        secs: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: u32::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
    }
}

/// Files up to this size are fetched into memory and written in one go.
const SMALL_FILE: u64 = 1 << 20;

/// Writes `bytes` to `partial`, syncs it and renames it to `target`.
fn write_whole(partial: &Path, target: &Path, bytes: &[u8]) -> ClientResult<()> {
    use std::io::Write;
    let mut out = std::fs::File::create(partial).map_err(ClientError::io(partial))?;
    out.write_all(bytes).map_err(ClientError::io(partial))?;
    out.sync_all().map_err(ClientError::io(partial))?;
    drop(out);
    std::fs::rename(partial, target).map_err(ClientError::io(target))
}
