//! The drive as a WebDAV file system: `dav-server` asks, the drive answers. Listings come
//! one folder level at a time (never the subtree), a MOVE is one rename at the pool, a COPY
//! downloads and uploads anew under a new object; desktop junk stays in memory here
//! (`junk.rs`) and dead properties in the client home (`props.rs`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use cairn_client::{ClientError, Drive, Kind, ListEntry, Progress, Stat};
use cairn_core::RemotePath;
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsResult,
    FsStream, OpenOptions, ReadDirMeta,
};
use futures_util::{FutureExt, StreamExt};

use super::file::{ReadFile, WriteFile};
use super::junk::{Junk, is_junk};
use super::props::Props;

/// A file or folder as WebDAV sees it.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub len: u64,
    pub modified: SystemTime,
    pub dir: bool,
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.len
    }

    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.modified)
    }

    fn is_dir(&self) -> bool {
        self.dir
    }
}

impl Meta {
    fn folder(since: SystemTime) -> Self {
        Self {
            len: 0,
            modified: since,
            dir: true,
        }
    }

    fn of(
        kind: Kind,
        size: u64,
        modified: Option<cairn_core::Timestamp>,
        since: SystemTime,
    ) -> Self {
        match kind {
            Kind::Folder => Self::folder(since),
            Kind::File => Self {
                len: size,
                modified: modified.map_or(since, system_time),
                dir: false,
            },
        }
    }
}

/// A file's time as the system's (times before 1970 read as 1970).
pub(crate) fn system_time(t: cairn_core::Timestamp) -> SystemTime {
    UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(t.secs).unwrap_or(0))
        + std::time::Duration::from_nanos(u64::from(t.nanos))
}

/// One entry of a listing.
struct Entry {
    name: Vec<u8>,
    meta: Meta,
}

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        self.name.clone()
    }

    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = self.meta.clone();
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }
}

/// The drive's file system for `dav-server`.
#[derive(Clone)]
pub(crate) struct DriveFs {
    drive: Arc<Drive>,
    junk: Junk,
    props: Props,
    /// The time folders show (they keep none of their own).
    since: SystemTime,
    /// Where a PUT of unknown length is spooled (the client home).
    spool: std::path::PathBuf,
    /// The account's usage and quota as last asked, and when (file managers ask often).
    quota: Arc<tokio::sync::Mutex<Option<Asked>>>,
}

/// An answer about the quota (used, quota) and when it came.
type Asked = (std::time::Instant, (u64, u64));

/// How long an answer about the quota is used again.
const QUOTA_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// What a client error is to WebDAV.
pub(crate) fn fs_error(error: &ClientError) -> FsError {
    use ClientError as E;
    match error {
        E::NotFound(_) => FsError::NotFound,
        E::Exists(_) => FsError::Exists,
        E::IsFolder(_) | E::NotFolder(_) | E::NotEmpty(_) => FsError::Forbidden,
        E::TooLarge { .. } => FsError::TooLarge,
        E::Refused { code, .. } if code == cairn_proto::codes::QUOTA_EXCEEDED => {
            FsError::InsufficientStorage
        }
        other => {
            tracing::warn!("webdav: {other}");
            FsError::GeneralFailure
        }
    }
}

/// A drive path from a WebDAV one.
pub(crate) fn remote(path: &DavPath) -> FsResult<RemotePath> {
    let text = std::str::from_utf8(path.as_bytes()).map_err(|_| FsError::NotFound)?;
    let text = text.trim_end_matches('/');
    RemotePath::parse(if text.is_empty() { "/" } else { text }).map_err(|_| FsError::Forbidden)
}

impl DriveFs {
    pub fn new(drive: Arc<Drive>, home: &std::path::Path) -> Self {
        Self {
            drive,
            junk: Junk::default(),
            props: Props::open(home),
            since: SystemTime::now(),
            spool: home.to_owned(),
            quota: Arc::default(),
        }
    }

    async fn stat(&self, path: &RemotePath) -> FsResult<Option<Stat>> {
        self.drive.stat(path).await.map_err(|e| fs_error(&e))
    }

    async fn meta(&self, path: &RemotePath) -> FsResult<Meta> {
        if let Some(meta) = self.junk.meta(path) {
            return Ok(meta);
        }
        let stat = self.stat(path).await?.ok_or(FsError::NotFound)?;
        Ok(Meta::of(stat.kind, stat.size, stat.modified, self.since))
    }

    /// The folder `path` must be for something to go in it.
    async fn parent_is_folder(&self, path: &RemotePath) -> FsResult<()> {
        let parent = path.parent().unwrap_or_else(RemotePath::root);
        match self.stat(&parent).await? {
            Some(stat) if stat.kind == Kind::Folder => Ok(()),
            Some(_) => Err(FsError::Forbidden),
            None => Err(FsError::NotFound),
        }
    }

    async fn open_file(
        &self,
        path: &RemotePath,
        options: OpenOptions,
    ) -> FsResult<Box<dyn DavFile>> {
        if options.append {
            return Err(FsError::NotImplemented);
        }
        if is_junk(path) {
            if options.write {
                self.parent_is_folder(path).await?;
            }
            return self.junk.open(path, &options);
        }
        let existing = self.stat(path).await?;
        if !options.write {
            return match existing {
                Some(stat) if stat.kind == Kind::File => {
                    let handle = self.drive.open_file(path).await.map_err(|e| fs_error(&e))?;
                    Ok(Box::new(ReadFile::new(handle)))
                }
                Some(_) => Err(FsError::Forbidden),
                None => Err(FsError::NotFound),
            };
        }
        match existing {
            Some(stat) if stat.kind == Kind::Folder => return Err(FsError::Forbidden),
            Some(_) if options.create_new => return Err(FsError::Exists),
            None if !options.create => return Err(FsError::NotFound),
            _ => {}
        }
        self.parent_is_folder(path).await?;
        Ok(Box::new(WriteFile::new(
            self.drive.clone(),
            path.clone(),
            options.size,
            &self.spool,
        )?))
    }

    async fn list(&self, dir: &RemotePath) -> FsResult<Vec<Entry>> {
        match self.stat(dir).await? {
            Some(stat) if stat.kind == Kind::Folder => {}
            Some(_) => return Err(FsError::Forbidden),
            None => return Err(FsError::NotFound),
        }
        let listed: Vec<ListEntry> = self.drive.list(dir).await.map_err(|e| fs_error(&e))?;
        let mut entries: Vec<Entry> = listed
            .into_iter()
            .filter_map(|e| {
                let name = e.path.file_name()?.as_str().as_bytes().to_vec();
                Some(Entry {
                    name,
                    meta: Meta::of(e.kind, e.size, e.modified, self.since),
                })
            })
            .collect();
        for (name, meta) in self.junk.list(dir) {
            entries.push(Entry {
                name: name.into_bytes(),
                meta,
            });
        }
        Ok(entries)
    }

    async fn copy_file(&self, from: &RemotePath, to: &RemotePath) -> FsResult<()> {
        if is_junk(from) || is_junk(to) {
            return self.junk.copy(from, to);
        }
        let stat = self.stat(from).await?.ok_or(FsError::NotFound)?;
        if stat.kind != Kind::File {
            return Err(FsError::Forbidden);
        }
        self.parent_is_folder(to).await?;
        // The bytes go down and up again: the copy is a new object under a new key.
        let (mut writer, reader) = tokio::io::duplex(1 << 20);
        let drive = self.drive.clone();
        let source = from.clone();
        let download = tokio::spawn(async move {
            drive
                .get_range_to(&source, 0..u64::MAX, &mut writer, &Progress::silent())
                .await
        });
        let put = self
            .drive
            .put_reader(to, stat.size, reader, &Progress::silent())
            .await;
        let got = download.await.map_err(|_| FsError::GeneralFailure)?;
        got.map_err(|e| fs_error(&e))?;
        put.map_err(|e| fs_error(&e))?;
        self.props.copy(from, to);
        Ok(())
    }

    async fn rename_entry(&self, from: &RemotePath, to: &RemotePath) -> FsResult<()> {
        if is_junk(from) || is_junk(to) {
            return self.junk.rename(from, to);
        }
        let kind = self.stat(from).await?.ok_or(FsError::NotFound)?.kind;
        match self.stat(to).await? {
            Some(stat) if stat.kind == Kind::File && kind == Kind::File => {
                self.drive.rm(to, false).await.map_err(|e| fs_error(&e))?;
            }
            Some(_) => return Err(FsError::Exists),
            None => {}
        }
        self.parent_is_folder(to).await?;
        self.drive.mv(from, to).await.map_err(|e| fs_error(&e))?;
        self.props.rename(from, to);
        Ok(())
    }

    async fn remove(&self, path: &RemotePath, folder: bool) -> FsResult<()> {
        if is_junk(path) {
            return self.junk.remove(path);
        }
        if path.is_root() {
            return Err(FsError::Forbidden);
        }
        let kind = self.stat(path).await?.ok_or(FsError::NotFound)?.kind;
        if (kind == Kind::Folder) != folder {
            return Err(FsError::Forbidden);
        }
        self.drive
            .rm(path, folder)
            .await
            .map_err(|e| fs_error(&e))?;
        self.junk.remove_under(path);
        self.props.remove(path);
        Ok(())
    }
}

impl DavFileSystem for DriveFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move { self.open_file(&remote(path)?, options).await }.boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let entries = self.list(&remote(path)?).await?;
            let stream = futures_util::stream::iter(
                entries
                    .into_iter()
                    .map(|e| Ok(Box::new(e) as Box<dyn DavDirEntry>)),
            );
            Ok(stream.boxed() as FsStream<Box<dyn DavDirEntry>>)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move { Ok(Box::new(self.meta(&remote(path)?).await?) as Box<dyn DavMetaData>) }
            .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            let path = remote(path)?;
            if path.is_root() || self.stat(&path).await?.is_some() {
                return Err(FsError::Exists);
            }
            self.parent_is_folder(&path).await?;
            self.drive
                .mkdir(&path, false)
                .await
                .map_err(|e| fs_error(&e))
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move { self.remove(&remote(path)?, true).await }.boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move { self.remove(&remote(path)?, false).await }.boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move { self.rename_entry(&remote(from)?, &remote(to)?).await }.boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move { self.copy_file(&remote(from)?, &remote(to)?).await }.boxed()
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(std::future::ready(true))
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        async move {
            let path = remote(path)?;
            self.meta(&path).await?;
            Ok(self.props.patch(&path, patch))
        }
        .boxed()
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        async move { Ok(self.props.all(&remote(path)?, do_content)) }.boxed()
    }

    fn get_quota(&self) -> FsFuture<'_, (u64, Option<u64>)> {
        async move {
            let mut cached = self.quota.lock().await;
            if let Some((at, (used, quota))) = *cached
                && at.elapsed() < QUOTA_FRESH
            {
                return Ok((used, Some(quota)));
            }
            let (used, quota) = self.drive.usage().await.map_err(|e| fs_error(&e))?;
            *cached = Some((std::time::Instant::now(), (used, quota)));
            Ok((used, Some(quota)))
        }
        .boxed()
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        async move {
            self.props
                .one(&remote(path)?, &prop)
                .ok_or(FsError::NotFound)
        }
        .boxed()
    }
}
