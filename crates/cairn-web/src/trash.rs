//! The trash: deleting from the page moves a file or folder (one pool rename, however
//! big) to `/.trash/<when>-<depth>-<tag>/<its original path>`, so it can be restored to
//! where it was, or removed for good. The folder name records when it was deleted and how
//! many levels of the path below it lead to the item; the rest of the original path is the
//! path below it. The page hides `/.trash` from listings and searches.

use cairn_client::{ClientError, ClientResult, Drive, Kind};
use cairn_core::{Name, RemotePath};
use rand::Rng;

/// The trash folder's name, at the root of the drive.
pub const TRASH: &str = ".trash";

/// One deleted file or folder.
#[derive(Debug, Clone)]
pub(crate) struct TrashItem {
    /// Its folder in the trash (`<when>-<depth>-<tag>`): what restore and purge name.
    pub id: String,
    /// Where it was.
    pub original: RemotePath,
    /// When it was deleted, Unix milliseconds.
    pub deleted_ms: u64,
    /// File or folder.
    pub kind: Kind,
    /// A file's bytes.
    pub size: u64,
}

fn root() -> ClientResult<RemotePath> {
    Ok(RemotePath::root().join(Name::new(TRASH)?)?)
}

/// Whether `path` is the trash or inside it.
pub(crate) fn is_trash(path: &RemotePath) -> bool {
    path.names().first().is_some_and(|n| n.as_str() == TRASH)
}

/// Parses a trash folder's name: (when, depth).
fn parse_id(id: &str) -> Option<(u64, usize)> {
    let mut parts = id.splitn(3, '-');
    let when = parts.next()?.parse().ok()?;
    let depth = parts.next()?.parse().ok()?;
    parts.next()?;
    (depth > 0).then_some((when, depth))
}

/// Moves `path` to the trash; returns the trash folder's id.
pub(crate) async fn delete(drive: &Drive, path: &RemotePath) -> ClientResult<String> {
    if path.is_root() || is_trash(path) {
        return Err(ClientError::Local {
            path: path.to_string().into(),
            reason: "this cannot be moved to the trash".into(),
        });
    }
    let when = cairn_proto::clock::now_ms();
    let tag: u32 = rand::rng().random();
    let id = format!("{when}-{}-{tag:08x}", path.names().len());
    let mut target = root()?.join(Name::new(&id)?)?;
    for name in path.names() {
        target = target.join(name.clone())?;
    }
    if drive.kind(path).await?.is_none() {
        return Err(ClientError::NotFound(path.clone()));
    }
    drive.mv(path, &target).await?;
    Ok(id)
}

/// Everything in the trash, newest first.
pub(crate) async fn list(drive: &Drive) -> ClientResult<Vec<TrashItem>> {
    let root = root()?;
    if drive.kind(&root).await?.is_none() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    for folder in drive.list(&root).await? {
        let Some(id) = folder.path.file_name().map(|n| n.as_str().to_owned()) else {
            continue;
        };
        let Some((when, depth)) = parse_id(&id) else {
            continue;
        };
        if let Some(item) = find(drive, &folder.path, depth).await? {
            let original =
                RemotePath::from_names(item.path.names()[folder.path.names().len()..].to_vec())?;
            items.push(TrashItem {
                id,
                original,
                deleted_ms: when,
                kind: item.kind,
                size: item.size,
            });
        }
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.deleted_ms));
    Ok(items)
}

/// The item `depth` levels below a trash folder: one name per level on the way down.
async fn find(
    drive: &Drive,
    folder: &RemotePath,
    depth: usize,
) -> ClientResult<Option<cairn_client::ListEntry>> {
    let mut here = folder.clone();
    for level in 1..=depth {
        let entries = drive.list(&here).await?;
        let Some(next) = entries.into_iter().next() else {
            return Ok(None);
        };
        if level == depth {
            return Ok(Some(next));
        }
        if next.kind != Kind::Folder {
            return Ok(None);
        }
        here = next.path;
    }
    Ok(None)
}

/// The trash folder of `id`, checked to be one.
fn folder(id: &str) -> ClientResult<(RemotePath, usize)> {
    let (_, depth) = parse_id(id).ok_or_else(|| ClientError::Local {
        path: id.into(),
        reason: "this is not an item of the trash".into(),
    })?;
    Ok((root()?.join(Name::new(id)?)?, depth))
}

/// Puts the item `id` back where it was; returns that path.
pub(crate) async fn restore(drive: &Drive, id: &str) -> ClientResult<RemotePath> {
    let (folder, depth) = folder(id)?;
    let Some(item) = find(drive, &folder, depth).await? else {
        return Err(ClientError::NotFound(folder));
    };
    let original = RemotePath::from_names(item.path.names()[folder.names().len()..].to_vec())?;
    if drive.kind(&original).await?.is_some() {
        return Err(ClientError::Exists(original));
    }
    drive.mv(&item.path, &original).await?;
    drive.rm(&folder, true).await?;
    Ok(original)
}

/// Removes the item `id` for good; returns how many files went.
pub(crate) async fn purge(drive: &Drive, id: &str) -> ClientResult<u64> {
    let (folder, _) = folder(id)?;
    drive.rm(&folder, true).await
}

/// Removes everything in the trash for good; returns how many files went.
pub(crate) async fn empty(drive: &Drive) -> ClientResult<u64> {
    let root = root()?;
    if drive.kind(&root).await?.is_none() {
        return Ok(0);
    }
    drive.rm(&root, true).await
}
