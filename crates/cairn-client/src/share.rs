//! Sharing (issue 17): an owner's drive makes a link to a file or a folder (as it is when
//! shared), lists its links and revokes them; whoever has a link — with no account and no
//! home — opens it and downloads what it shares, straight from the peers.
//!
//! The owner's client opens each shared file's record itself and seals what a recipient
//! needs (object ids, file keys, layouts; never the account's keys) into the share's
//! manifest under the link's key (`cairn_core::share`); the pool keeps it with the hash
//! of the link's token and signs short-lived get orders for the shared objects only while
//! the share is live.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::share::{Label, Link, Manifest, PASSWORD_KDF, ShareKeys, SharedFile};
use cairn_core::{EncryptedPath, KdfParams, MasterSecret, RemotePath, ShareId, ShareSecret};
use cairn_proto::api::{CreateShare, FOLDER_MARKER, ObjectSources, OpenShare, ShareSourcesRequest};
use cairn_proto::limits::MAX_SOURCES;
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};

use crate::drive::{Drive, Kind};
use crate::entry::{self, Entry};
use crate::error::{ClientError, ClientResult};
use crate::pool::PoolClient;
use crate::progress::Progress;
use crate::transfer::{DriveOptions, Readable, Transfers};

/// How a link is made.
#[derive(Debug, Clone, Default)]
pub struct ShareOptions {
    /// How long it opens, if not for ever.
    pub expires: Option<Duration>,
    /// A password whoever opens it must give too.
    pub password: Option<String>,
    /// How many times it may be opened, if limited.
    pub max_downloads: Option<u64>,
}

/// One of the account's links, as [`Drive::shares`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    /// Its id (the part of the link after `/s/`).
    pub id: ShareId,
    /// What it shares (`None` if its label cannot be read: made by another version).
    pub path: Option<RemotePath>,
    /// The link itself, given again (`None` if its label cannot be read).
    pub link: Option<Link>,
    /// When it was made (Unix ms).
    pub created_ms: u64,
    /// When it stops opening (Unix ms), if ever.
    pub expires_ms: Option<u64>,
    /// How many times it was opened.
    pub downloads: u64,
    /// How many times it may be opened, if limited.
    pub max_downloads: Option<u64>,
    /// How many files it shares.
    pub files: u64,
    /// `live`, `revoked`, `expired` or `exhausted`.
    pub state: String,
}

impl Drive {
    /// Makes a link to the file or folder at `path` (a folder as it is now).
    pub async fn share(&self, path: &RemotePath, options: &ShareOptions) -> ClientResult<Link> {
        self.share_with(path, options, PASSWORD_KDF).await
    }

    /// [`Self::share`] with the password stretched under `params` (tests use weak ones).
    #[doc(hidden)]
    pub async fn share_with(
        &self,
        path: &RemotePath,
        options: &ShareOptions,
        params: KdfParams,
    ) -> ClientResult<Link> {
        let manifest = match self.kind(path).await? {
            None => return Err(ClientError::NotFound(path.clone())),
            Some(Kind::File) => self.file_manifest(path).await?,
            Some(Kind::Folder) => self.folder_manifest(path).await?,
        };
        let id = ShareId::random(&mut rand::rng());
        let link = self.link(id, options.password.is_some())?;
        let password = options.password.as_deref().map(str::as_bytes);
        let keys = derive(id, &link.secret, password, params).await?;
        let sealed = manifest.seal(id, &keys, &mut rand::rng())?;
        let label = Label {
            path: path.to_string(),
            password: link.password,
        };
        let now = cairn_proto::clock::now_ms();
        let body = CreateShare {
            id,
            token_hash: HEXLOWER.encode(&keys.token().hash()),
            manifest: BASE64URL_NOPAD.encode(&sealed),
            // The owner's own note of it, sealed under the account's link key.
            label: BASE64URL_NOPAD.encode(&label.seal(id, &self.links, &mut rand::rng())),
            objects: manifest.objects(),
            expires_ms: options
                .expires
                .map(|d| now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))),
            max_downloads: options.max_downloads,
        };
        self.pool().create_share(&body).await?;
        Ok(link)
    }

    /// The account's link to share `id`: its secret comes from the account's link key.
    fn link(&self, id: ShareId, password: bool) -> ClientResult<Link> {
        let endpoint = cairn_net::Endpoint::parse(self.pool().url())
            .map_err(|e| ClientError::PoolAddress(e.to_string()))?;
        Ok(Link {
            pool: endpoint.base,
            pool_id: endpoint.identity.map(|id| HEXLOWER.encode(&id)),
            id,
            secret: self.links.secret_of(id),
            password,
        })
    }

    /// The account's links, newest first.
    pub async fn shares(&self) -> ClientResult<Vec<ShareInfo>> {
        let listed = self.pool().shares().await?;
        listed
            .shares
            .into_iter()
            .map(|s| {
                let label = BASE64URL_NOPAD
                    .decode(s.label.as_bytes())
                    .ok()
                    .and_then(|sealed| Label::open(s.id, &self.links, &sealed).ok());
                let link = label
                    .as_ref()
                    .map(|l| self.link(s.id, l.password))
                    .transpose()?;
                Ok(ShareInfo {
                    id: s.id,
                    path: label.and_then(|l| RemotePath::parse(&l.path).ok()),
                    link,
                    created_ms: s.created_ms,
                    expires_ms: s.expires_ms,
                    downloads: s.downloads,
                    max_downloads: s.max_downloads,
                    files: s.objects,
                    state: s.state,
                })
            })
            .collect()
    }

    /// Revokes the account's link `id`: it opens no more, and its orders lapse within
    /// minutes.
    pub async fn revoke_share(&self, id: ShareId) -> ClientResult<()> {
        self.pool().revoke_share(id).await.map(drop)
    }

    async fn file_manifest(&self, path: &RemotePath) -> ClientResult<Manifest> {
        let name = path.file_name().map(|n| n.to_string()).unwrap_or_default();
        let encrypted = self.encrypt(path);
        let record = (self.pool().record(encrypted.as_str()).await?)
            .ok_or_else(|| ClientError::NotFound(path.clone()))?;
        let Entry::File { object, metadata } =
            entry::open(self.transfers.metadata_key(), &record.metadata)?
        else {
            return Err(ClientError::IsFolder(path.clone()));
        };
        Ok(Manifest {
            name: name.clone(),
            folder: false,
            files: vec![SharedFile {
                path: name,
                object,
                metadata: *metadata,
            }],
            folders: Vec::new(),
        })
    }

    async fn folder_manifest(&self, path: &RemotePath) -> ClientResult<Manifest> {
        let prefix = if path.is_root() {
            String::new()
        } else {
            self.encrypt(path).children_prefix()
        };
        let base = if path.is_root() {
            String::from("/")
        } else {
            format!("{path}/")
        };
        let relative = |full: &RemotePath| -> String {
            full.to_string()
                .strip_prefix(&base)
                .unwrap_or_default()
                .to_owned()
        };
        let mut files = Vec::new();
        let mut folders = Vec::new();
        for object in self.objects_under(&prefix).await? {
            if let Some(folder) = object.path.strip_suffix(&format!("/{FOLDER_MARKER}")) {
                let folder = self.paths.decrypt(&EncryptedPath::parse(folder)?)?;
                if &folder != path {
                    folders.push(relative(&folder));
                }
                continue;
            }
            let full = self.paths.decrypt(&EncryptedPath::parse(&object.path)?)?;
            if let Entry::File { object, metadata } =
                entry::open(self.transfers.metadata_key(), &object.metadata)?
            {
                files.push(SharedFile {
                    path: relative(&full),
                    object,
                    metadata: *metadata,
                });
            }
        }
        Ok(Manifest {
            name: path
                .file_name()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "shared".into()),
            folder: true,
            files,
            folders,
        })
    }
}

/// The keys of a link, stretched off the async threads (Argon2id takes a while).
async fn derive(
    id: ShareId,
    secret: &ShareSecret,
    password: Option<&[u8]>,
    params: KdfParams,
) -> ClientResult<ShareKeys> {
    let secret = secret.clone();
    let password = password.map(<[u8]>::to_vec);
    tokio::task::spawn_blocking(move || ShareKeys::derive(id, &secret, password.as_deref(), params))
        .await
        .map_err(|e| ClientError::Local {
            path: "share".into(),
            reason: format!("deriving the link's keys stopped: {e}"),
        })?
        .map_err(ClientError::from)
}

/// What a link shares, opened by whoever has it: no account, no home.
pub struct Received {
    link: Link,
    token: String,
    transfers: Transfers,
    /// What it shares.
    pub manifest: Manifest,
}

/// What [`Received::save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Saved {
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl Received {
    /// Opens `link` (with `password` if it needs one), counting one download.
    pub async fn open(
        link: &Link,
        password: Option<&str>,
        options: DriveOptions,
    ) -> ClientResult<Self> {
        Self::open_with(link, password, options, PASSWORD_KDF).await
    }

    /// [`Self::open`] with the password stretched under `params` (tests use weak ones).
    #[doc(hidden)]
    pub async fn open_with(
        link: &Link,
        password: Option<&str>,
        options: DriveOptions,
        params: KdfParams,
    ) -> ClientResult<Self> {
        if link.password && password.is_none() {
            return Err(ClientError::SharePasswordNeeded);
        }
        let password = password.filter(|_| link.password).map(str::as_bytes);
        let keys = derive(link.id, &link.secret, password, params).await?;
        let address = link.pool_address();
        let token = keys.token().to_string();
        let pool = PoolClient::anonymous(&address)?;
        let opened = pool
            .open_share(&OpenShare {
                id: link.id,
                token: token.clone(),
            })
            .await?;
        let sealed = BASE64URL_NOPAD
            .decode(opened.manifest.as_bytes())
            .map_err(|e| ClientError::BadAnswer {
                what: "open share",
                reason: e.to_string(),
            })?;
        let manifest = Manifest::open(link.id, &keys, &sealed)?;
        // Pieces come from the peers under the share's orders; this throwaway account
        // signs nothing the pool would accept.
        let transfers =
            Transfers::new(&address, &MasterSecret::generate(&mut rand::rng()), options)?;
        Ok(Self {
            link: link.clone(),
            token,
            transfers,
            manifest,
        })
    }

    /// The shared files' records with get orders, in the order given.
    async fn sources(&self, files: &[&SharedFile]) -> ClientResult<Vec<ObjectSources>> {
        let pool = PoolClient::anonymous(&self.link.pool_address())?;
        let mut all = Vec::with_capacity(files.len());
        for chunk in files.chunks(MAX_SOURCES) {
            let answer = pool
                .share_sources(&ShareSourcesRequest {
                    id: self.link.id,
                    token: self.token.clone(),
                    objects: chunk.iter().map(|f| f.object).collect(),
                })
                .await?;
            for (file, sources) in chunk.iter().zip(answer.objects) {
                all.push(sources.ok_or_else(|| ClientError::Local {
                    path: PathBuf::from(&file.path),
                    reason: "the share no longer has this file".into(),
                })?);
            }
        }
        Ok(all)
    }

    /// Writes the shared file `file` to `out`; returns the bytes written.
    pub async fn get_to<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        file: &SharedFile,
        out: &mut W,
        progress: &Progress,
    ) -> ClientResult<u64> {
        self.get_range_to(file, 0..u64::MAX, out, progress).await
    }

    /// Writes the bytes `range` of the shared file `file` to `out` (clipped to the file);
    /// returns the bytes written.
    pub async fn get_range_to<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        file: &SharedFile,
        range: std::ops::Range<u64>,
        out: &mut W,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let size = file.metadata.layout.size();
        let range = range.start.min(size)..range.end.min(size);
        if range.is_empty() {
            return Ok(0);
        }
        let sources = self.sources(&[file]).await?.remove(0);
        let readable = self.readable(file, sources)?;
        self.transfers
            .download(&readable, range, out, progress)
            .await
    }

    fn readable(&self, file: &SharedFile, sources: ObjectSources) -> ClientResult<Readable> {
        let path =
            RemotePath::parse(&format!("/{}", file.path)).map_err(|e| ClientError::Local {
                path: PathBuf::from(&file.path),
                reason: format!("the share names a file badly: {e}"),
            })?;
        Ok(Readable {
            path,
            object: file.object,
            metadata: file.metadata.clone(),
            sources,
            prefetched: Default::default(),
        })
    }

    /// Saves what the link shares under `dest`: a shared file at `dest` (inside it, under
    /// its own name, if `dest` is a folder), a shared folder as `dest` (made; it must not
    /// exist as a file). Each file is written beside its place and moved there whole.
    pub async fn save(&self, dest: &Path, progress: &Progress) -> ClientResult<Saved> {
        let mut saved = Saved::default();
        let files: Vec<&SharedFile> = self.manifest.files.iter().collect();
        let targets: Vec<PathBuf> = if self.manifest.folder {
            for folder in &self.manifest.folders {
                let at = safe_join(dest, folder)?;
                std::fs::create_dir_all(&at).map_err(ClientError::io(&at))?;
            }
            std::fs::create_dir_all(dest).map_err(ClientError::io(dest))?;
            files
                .iter()
                .map(|f| safe_join(dest, &f.path))
                .collect::<ClientResult<_>>()?
        } else if dest.is_dir() {
            vec![safe_join(dest, &self.manifest.name)?]
        } else {
            vec![dest.to_owned()]
        };
        let sources = self.sources(&files).await?;
        for ((file, target), sources) in files.into_iter().zip(targets).zip(sources) {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(ClientError::io(parent))?;
            }
            let partial = target.with_extension("cairn-part");
            let readable = self.readable(file, sources)?;
            let size = file.metadata.layout.size();
            let mut out = tokio::fs::File::create(&partial)
                .await
                .map_err(ClientError::io(&partial))?;
            let written = self
                .transfers
                .download(&readable, 0..size, &mut out, progress)
                .await;
            let written = match written {
                Ok(written) => written,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e);
                }
            };
            out.sync_all().await.map_err(ClientError::io(&partial))?;
            drop(out);
            std::fs::rename(&partial, &target).map_err(ClientError::io(&target))?;
            saved.files += 1;
            saved.bytes += written;
        }
        Ok(saved)
    }
}

/// `base` joined with a share's relative `path`, refusing any that would leave `base`.
fn safe_join(base: &Path, path: &str) -> ClientResult<PathBuf> {
    let mut out = base.to_owned();
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return Err(ClientError::Local {
                path: PathBuf::from(path),
                reason: "the share names a file outside itself; nothing of it is written there"
                    .into(),
            });
        }
        out.push(part);
    }
    Ok(out)
}
