//! Desktop junk — macOS's `._*` and `.DS_Store`, Windows's `Thumbs.db` and `desktop.ini` —
//! which file managers write beside everything they touch. It is kept in memory here,
//! listed and readable while the server runs, and never uploaded.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use bytes::{Buf, Bytes, BytesMut};
use cairn_core::RemotePath;
use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture, FsResult, OpenOptions};
use futures_util::FutureExt;

use super::fs::Meta;

/// Junk kept at most, in bytes, before writes of more are refused (507).
const MAX_JUNK: usize = 16 << 20;

/// Whether a file of this name is desktop junk.
pub(crate) fn is_junk(path: &RemotePath) -> bool {
    path.file_name().is_some_and(|name| {
        let name = name.as_str();
        name.starts_with("._")
            || name == ".DS_Store"
            || name.eq_ignore_ascii_case("Thumbs.db")
            || name.eq_ignore_ascii_case("desktop.ini")
    })
}

/// The junk files, by path.
#[derive(Clone, Default)]
pub(crate) struct Junk(Arc<Mutex<BTreeMap<RemotePath, (Bytes, SystemTime)>>>);

impl Junk {
    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<RemotePath, (Bytes, SystemTime)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn meta(&self, path: &RemotePath) -> Option<Meta> {
        self.files().get(path).map(|(data, at)| Meta {
            len: data.len() as u64,
            modified: *at,
            dir: false,
        })
    }

    /// The junk files directly in `dir`: names and metadata.
    pub fn list(&self, dir: &RemotePath) -> Vec<(String, Meta)> {
        self.files()
            .iter()
            .filter(|(path, _)| path.parent().as_ref() == Some(dir))
            .filter_map(|(path, (data, at))| {
                let name = path.file_name()?.as_str().to_owned();
                Some((
                    name,
                    Meta {
                        len: data.len() as u64,
                        modified: *at,
                        dir: false,
                    },
                ))
            })
            .collect()
    }

    pub fn open(&self, path: &RemotePath, options: &OpenOptions) -> FsResult<Box<dyn DavFile>> {
        let existing = self.files().get(path).cloned();
        if !options.write {
            let (data, at) = existing.ok_or(FsError::NotFound)?;
            return Ok(Box::new(JunkFile {
                junk: self.clone(),
                path: path.clone(),
                data: BytesMut::from(&data[..]),
                at,
                position: 0,
                writing: false,
            }));
        }
        match existing {
            Some(_) if options.create_new => return Err(FsError::Exists),
            None if !options.create => return Err(FsError::NotFound),
            _ => {}
        }
        Ok(Box::new(JunkFile {
            junk: self.clone(),
            path: path.clone(),
            data: BytesMut::new(),
            at: SystemTime::now(),
            position: 0,
            writing: true,
        }))
    }

    pub fn remove(&self, path: &RemotePath) -> FsResult<()> {
        self.files().remove(path).map(drop).ok_or(FsError::NotFound)
    }

    /// Forgets the junk in a folder that went.
    pub fn remove_under(&self, dir: &RemotePath) {
        self.files().retain(|path, _| !path.starts_with(dir));
    }

    pub fn rename(&self, from: &RemotePath, to: &RemotePath) -> FsResult<()> {
        if !is_junk(from) || !is_junk(to) {
            // Junk never becomes a file of the drive, nor a file junk.
            return Err(FsError::Forbidden);
        }
        let mut files = self.files();
        let file = files.remove(from).ok_or(FsError::NotFound)?;
        files.insert(to.clone(), file);
        Ok(())
    }

    pub fn copy(&self, from: &RemotePath, to: &RemotePath) -> FsResult<()> {
        if !is_junk(from) || !is_junk(to) {
            return Err(FsError::Forbidden);
        }
        let mut files = self.files();
        let file = files.get(from).cloned().ok_or(FsError::NotFound)?;
        files.insert(to.clone(), file);
        Ok(())
    }

    fn store(&self, path: &RemotePath, data: Bytes) -> FsResult<()> {
        let mut files = self.files();
        let others: usize = files
            .iter()
            .filter(|(p, _)| *p != path)
            .map(|(_, (d, _))| d.len())
            .sum();
        if others + data.len() > MAX_JUNK {
            return Err(FsError::InsufficientStorage);
        }
        files.insert(path.clone(), (data, SystemTime::now()));
        Ok(())
    }
}

/// An open junk file.
#[derive(Debug)]
struct JunkFile {
    junk: Junk,
    path: RemotePath,
    data: BytesMut,
    at: SystemTime,
    position: usize,
    writing: bool,
}

impl std::fmt::Debug for Junk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Junk")
    }
}

impl DavFile for JunkFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = Meta {
            len: self.data.len() as u64,
            modified: self.at,
            dir: false,
        };
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        let data = buf.copy_to_bytes(buf.remaining());
        self.write_bytes(data)
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        let result = if !self.writing {
            Err(FsError::Forbidden)
        } else if self.data.len() + buf.len() > MAX_JUNK {
            Err(FsError::InsufficientStorage)
        } else {
            self.data.extend_from_slice(&buf);
            Ok(())
        };
        async move { result }.boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        let from = self.position.min(self.data.len());
        let to = (from + count).min(self.data.len());
        self.position = to;
        let out = Bytes::copy_from_slice(&self.data[from..to]);
        async move { Ok(out) }.boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        let len = self.data.len() as u64;
        let to = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => (self.position as u64).checked_add_signed(d),
        };
        let result = match to.and_then(|t| usize::try_from(t).ok()) {
            Some(to) if !self.writing => {
                self.position = to;
                Ok(to as u64)
            }
            _ => Err(FsError::NotImplemented),
        };
        async move { result }.boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        let result = if self.writing {
            self.junk.store(&self.path, self.data.clone().freeze())
        } else {
            Ok(())
        };
        async move { result }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_known_by_name() {
        for junk in [
            "/a/._photo.jpg",
            "/.DS_Store",
            "/x/thumbs.db",
            "/Desktop.ini",
        ] {
            assert!(is_junk(&RemotePath::parse(junk).unwrap()), "{junk}");
        }
        for file in ["/a/photo.jpg", "/.config", "/x/_notes", "/DS_Store"] {
            assert!(!is_junk(&RemotePath::parse(file).unwrap()), "{file}");
        }
    }
}
