//! Listings: one level of a folder, paged, as the pool answers it (each sub-folder found
//! with one seek, never by reading what is in it), and what is at one path.

use std::collections::BTreeMap;

use cairn_core::{Redundancy, RemotePath, Timestamp};
use cairn_proto::api::FolderList;

use crate::drive::{Drive, Kind};
use crate::entry::{self, Entry, FOLDER_MARKER};
use crate::error::{ClientError, ClientResult};
use crate::ledger::is_hidden;

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

/// One page of a folder listing ([`Drive::list_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Files and sub-folders, in the pool's order (by encrypted name: stable from page to
    /// page, not alphabetical).
    pub entries: Vec<ListEntry>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next: Option<String>,
}

/// What is at a path ([`Drive::stat`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The path.
    pub path: RemotePath,
    /// File or folder.
    pub kind: Kind,
    /// Plaintext bytes (0 for folders).
    pub size: u64,
    /// Modification time of a file; creation time of an explicitly made folder.
    pub modified: Option<Timestamp>,
    /// A file's redundancy.
    pub redundancy: Option<Redundancy>,
}

impl Drive {
    /// One page of the folder `dir`: up to `limit` of its files and sub-folders after the
    /// cursor `after` (a previous page's `next`), read from the pool one level deep — what
    /// is inside the sub-folders is never read.
    pub async fn list_page(
        &self,
        dir: &RemotePath,
        after: Option<&str>,
        limit: u32,
    ) -> ClientResult<ListPage> {
        let prefix = self.encrypt(dir).children_prefix();
        let page = self.pool().list_level(&prefix, after, Some(limit)).await?;
        self.open_page(dir, &prefix, page)
    }

    /// A page from the pool, opened: names decrypted, file records opened.
    fn open_page(
        &self,
        dir: &RemotePath,
        prefix: &str,
        page: FolderList,
    ) -> ClientResult<ListPage> {
        let mut keyed: Vec<(String, ListEntry)> = Vec::new();
        for object in page.objects {
            let rest = object.path.get(prefix.len()..).unwrap_or_default();
            if rest == FOLDER_MARKER || is_hidden(&object.path) {
                continue;
            }
            let path = dir.join(self.paths.decrypt_name(rest)?)?;
            if let Entry::File { metadata, .. } =
                entry::open(self.transfers.metadata_key(), &object.metadata)?
            {
                let entry = ListEntry {
                    path,
                    kind: Kind::File,
                    size: metadata.layout.size(),
                    modified: Some(metadata.modified),
                };
                keyed.push((object.path, entry));
            }
        }
        for folder in page.folders {
            if is_hidden(&folder.prefix) {
                continue;
            }
            let rest = folder.prefix.get(prefix.len()..).unwrap_or_default();
            let name = rest.strip_suffix('/').unwrap_or(rest);
            let entry = ListEntry {
                path: dir.join(self.paths.decrypt_name(name)?)?,
                kind: Kind::Folder,
                size: 0,
                modified: folder.marker_committed_at_ms.map(millis_timestamp),
            };
            keyed.push((folder.prefix, entry));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ListPage {
            entries: keyed.into_iter().map(|(_, entry)| entry).collect(),
            next: page.next,
        })
    }

    /// Lists the folder `dir`: its files and sub-folders, by name. A file path lists the
    /// file itself.
    pub async fn list(&self, dir: &RemotePath) -> ClientResult<Vec<ListEntry>> {
        let prefix = self.encrypt(dir).children_prefix();
        let mut entries: BTreeMap<String, ListEntry> = BTreeMap::new();
        let mut after: Option<String> = None;
        let mut anything = false;
        loop {
            let page = self
                .pool()
                .list_level(&prefix, after.as_deref(), None)
                .await?;
            anything |= !page.objects.is_empty() || !page.folders.is_empty();
            let page = self.open_page(dir, &prefix, page)?;
            for entry in page.entries {
                let name = entry.path.file_name().map(|n| n.as_str().to_owned());
                let Some(name) = name else { continue };
                match entry.kind {
                    Kind::File => {
                        entries.insert(name, entry);
                    }
                    Kind::Folder => {
                        entries.entry(name).or_insert(entry);
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if !anything && !dir.is_root() {
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
        Ok(entries.into_values().collect())
    }

    /// What is at `path`: a file (one pool request), a folder, or nothing.
    pub async fn stat(&self, path: &RemotePath) -> ClientResult<Option<Stat>> {
        let folder = |modified| Stat {
            path: path.clone(),
            kind: Kind::Folder,
            size: 0,
            modified,
            redundancy: None,
        };
        if path.is_root() {
            return Ok(Some(folder(None)));
        }
        let encrypted = self.encrypt(path);
        let pool = self.pool();
        if let Some(record) = pool.record(encrypted.as_str()).await?
            && let Entry::File { metadata, .. } =
                entry::open(self.transfers.metadata_key(), &record.metadata)?
        {
            return Ok(Some(Stat {
                path: path.clone(),
                kind: Kind::File,
                size: metadata.layout.size(),
                modified: Some(metadata.modified),
                redundancy: Some(metadata.redundancy),
            }));
        }
        let marker = entry::marker_path(&encrypted);
        if let Some(record) = pool.record(&marker).await? {
            return Ok(Some(folder(Some(millis_timestamp(record.committed_at_ms)))));
        }
        let inside = pool
            .list_level(&encrypted.children_prefix(), None, Some(1))
            .await?;
        let implied = !inside.objects.is_empty() || !inside.folders.is_empty();
        Ok(implied.then(|| folder(None)))
    }
}

fn millis_timestamp(ms: u64) -> Timestamp {
    Timestamp {
        secs: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: u32::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
    }
}
