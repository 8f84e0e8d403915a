//! WebDAV dead properties (what a client sets with PROPPATCH) — kept in the client home, a
//! `0600` file beside the keys, never at the pool: they can hold anything a program cares
//! to note about a file, names included. They follow their file through MOVE and COPY and
//! go with it on DELETE. They are this device's: another device's WebDAV sees its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use cairn_core::RemotePath;
use data_encoding::BASE64URL_NOPAD;
use dav_server::fs::DavProp;
use serde::{Deserialize, Serialize};

/// The file the properties live in, in the client home.
const FILE: &str = "webdav-properties.json";

/// One property as kept on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// The property's XML, unpadded base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xml: Option<String>,
}

impl Stored {
    fn of(prop: &DavProp) -> Self {
        Self {
            name: prop.name.clone(),
            prefix: prop.prefix.clone(),
            namespace: prop.namespace.clone(),
            xml: prop.xml.as_ref().map(|x| BASE64URL_NOPAD.encode(x)),
        }
    }

    fn prop(&self, with_value: bool) -> DavProp {
        DavProp {
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            namespace: self.namespace.clone(),
            xml: self
                .xml
                .as_ref()
                .filter(|_| with_value)
                .and_then(|x| BASE64URL_NOPAD.decode(x.as_bytes()).ok()),
        }
    }

    fn same(&self, prop: &DavProp) -> bool {
        self.name == prop.name && self.namespace == prop.namespace
    }
}

/// The properties of every path that has some.
#[derive(Clone)]
pub(crate) struct Props {
    file: Option<PathBuf>,
    all: Arc<Mutex<BTreeMap<String, Vec<Stored>>>>,
}

impl Props {
    /// The properties kept in `home` (none yet if it holds none, or an unreadable file).
    pub fn open(home: &Path) -> Self {
        let file = home.join(FILE);
        let all = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self {
            file: Some(file),
            all: Arc::new(Mutex::new(all)),
        }
    }

    fn change<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Vec<Stored>>) -> T) -> T {
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut all);
        all.retain(|_, props| !props.is_empty());
        if let Some(file) = &self.file
            && let Err(e) = save(file, &all)
        {
            tracing::warn!("webdav: cannot keep properties in {}: {e}", file.display());
        }
        out
    }

    /// Sets (`true`) or removes (`false`) each property; every one answers 200.
    pub fn patch(
        &self,
        path: &RemotePath,
        patch: Vec<(bool, DavProp)>,
    ) -> Vec<(StatusCode, DavProp)> {
        self.change(|all| {
            let props = all.entry(path.to_string()).or_default();
            patch
                .into_iter()
                .map(|(set, prop)| {
                    props.retain(|p| !p.same(&prop));
                    if set {
                        props.push(Stored::of(&prop));
                    }
                    let answer = DavProp { xml: None, ..prop };
                    (StatusCode::OK, answer)
                })
                .collect()
        })
    }

    /// Every property of `path`, with values when `with_values`.
    pub fn all(&self, path: &RemotePath, with_values: bool) -> Vec<DavProp> {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.get(&path.to_string())
            .map(|props| props.iter().map(|p| p.prop(with_values)).collect())
            .unwrap_or_default()
    }

    /// The value of one property of `path`.
    pub fn one(&self, path: &RemotePath, prop: &DavProp) -> Option<Vec<u8>> {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.get(&path.to_string())?
            .iter()
            .find(|p| p.same(prop))
            .and_then(|p| p.prop(true).xml)
    }

    /// The properties of `from` and everything under it, now of `to`.
    pub fn rename(&self, from: &RemotePath, to: &RemotePath) {
        self.change(|all| {
            for (path, props) in take_under(all, from) {
                all.insert(moved(&path, from, to), props);
            }
        });
    }

    /// A copy of the properties of `from` (a file) for `to`.
    pub fn copy(&self, from: &RemotePath, to: &RemotePath) {
        self.change(|all| {
            if let Some(props) = all.get(&from.to_string()).cloned() {
                all.insert(to.to_string(), props);
            }
        });
    }

    /// The properties of `path` and everything under it, gone.
    pub fn remove(&self, path: &RemotePath) {
        self.change(|all| drop(take_under(all, path)));
    }
}

/// Takes the entries of `base` and of the paths under it.
fn take_under(
    all: &mut BTreeMap<String, Vec<Stored>>,
    base: &RemotePath,
) -> Vec<(String, Vec<Stored>)> {
    let base = base.to_string();
    let inside = format!("{}/", base.trim_end_matches('/'));
    let keys: Vec<String> = all
        .keys()
        .filter(|k| **k == base || k.starts_with(&inside))
        .cloned()
        .collect();
    keys.into_iter()
        .filter_map(|k| all.remove(&k).map(|v| (k, v)))
        .collect()
}

/// `path` under `from`, moved under `to`.
fn moved(path: &str, from: &RemotePath, to: &RemotePath) -> String {
    let rest = &path[from.to_string().len()..];
    format!("{to}{rest}")
}

/// Writes the properties whole, readable by this user alone.
fn save(file: &Path, all: &BTreeMap<String, Vec<Stored>>) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".webdav-properties-")
        .tempfile_in(dir)?;
    serde_json::to_writer(&mut temp, all)?;
    temp.as_file().sync_all()?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str, value: &str) -> DavProp {
        DavProp::new(
            name.into(),
            "z".into(),
            "http://example.com/ns".into(),
            value.into(),
        )
    }

    #[test]
    fn properties_follow_their_file_and_survive_a_restart() {
        let home = tempfile::tempdir().unwrap();
        let path = |p: &str| RemotePath::parse(p).unwrap();
        let props = Props::open(home.path());
        props.patch(&path("/a/b.txt"), vec![(true, prop("colour", "blue"))]);
        props.patch(&path("/a/c.txt"), vec![(true, prop("size", "big"))]);
        props.rename(&path("/a"), &path("/moved"));
        props.copy(&path("/moved/b.txt"), &path("/copy.txt"));
        props.remove(&path("/moved/c.txt"));
        let again = Props::open(home.path());
        let value = again
            .one(&path("/moved/b.txt"), &prop("colour", ""))
            .unwrap();
        assert!(String::from_utf8(value).unwrap().contains("blue"));
        assert_eq!(again.all(&path("/copy.txt"), false).len(), 1);
        assert!(again.all(&path("/moved/c.txt"), true).is_empty());
        assert!(again.all(&path("/a/b.txt"), true).is_empty());
        again.patch(&path("/copy.txt"), vec![(false, prop("colour", ""))]);
        assert!(
            Props::open(home.path())
                .all(&path("/copy.txt"), true)
                .is_empty()
        );
    }
}
