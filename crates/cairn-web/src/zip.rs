//! A folder as one zip, streamed as it is read from the peers: STORED (photos and videos
//! are compressed already), zip64 so a folder over 4 GiB or 65,535 files opens, and never
//! more than a few segments in memory.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_client::{ClientError, Kind, Progress};
use cairn_core::RemotePath;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::io::DuplexStream;

use crate::raw::attachment;
use crate::routes::{Page, gate, remote_path};
use crate::state::AppState;
use crate::transfers::{Direction, Transfer};
use crate::trash;
use crate::zipstream::{ZipEntry, zip_stream};

/// How many files' records are looked up at once.
const LOOKUPS: usize = 16;

/// `GET /zip/{path}`: the folder and everything in it.
pub(crate) async fn serve(State(state): State<AppState>, path: Option<Path<String>>) -> Page {
    let drive = gate(&state)?;
    let dir = remote_path(path.as_ref().map(|p| p.0.as_str()))?;
    if !dir.is_root() && drive.kind(&dir).await? != Some(Kind::Folder) {
        return Err(ClientError::NotFound(dir).into());
    }
    let top = dir
        .file_name()
        .map_or_else(|| "My drive".to_owned(), |n| n.as_str().to_owned());
    let walked = drive.walk(&dir).await?;
    let inside = |p: &RemotePath| !trash::is_trash(p);
    let relative = |p: &RemotePath| -> String {
        let names: Vec<&str> = p.names()[dir.names().len()..]
            .iter()
            .map(|n| n.as_str())
            .collect();
        format!("{top}/{}", names.join("/"))
    };
    let mut entries = vec![ZipEntry {
        name: format!("{top}/"),
        modified: None,
        size: 0,
    }];
    let mut folders: Vec<RemotePath> = walked.folders.into_iter().filter(|p| inside(p)).collect();
    folders.sort();
    for folder in &folders {
        if folder != &dir {
            entries.push(ZipEntry {
                name: format!("{}/", relative(folder)),
                modified: None,
                size: 0,
            });
        }
    }
    let mut files: Vec<RemotePath> = walked.files.into_iter().filter(|p| inside(p)).collect();
    files.sort();
    let stats: Vec<_> = futures_util::stream::iter(files.iter().cloned())
        .map(|file| {
            let drive = drive.clone();
            async move { drive.stat(&file).await }
        })
        .buffered(LOOKUPS)
        .try_collect()
        .await?;
    let mut sources = Vec::new();
    let mut total = 0u64;
    for stat in stats.into_iter().flatten() {
        if stat.kind != Kind::File {
            continue;
        }
        total += stat.size;
        entries.push(ZipEntry {
            name: relative(&stat.path),
            modified: stat
                .modified
                .map(|t| UNIX_EPOCH + Duration::from_secs(u64::try_from(t.secs).unwrap_or(0))),
            size: stat.size,
        });
        sources.push(Some(stat.path));
    }
    // Entries and sources line up: folders have no source.
    let mut by_entry: Vec<Option<RemotePath>> = vec![None; entries.len() - sources.len()];
    by_entry.extend(sources);
    let transfer = state
        .transfers()
        .begin(format!("{dir} (zip)"), Direction::Download, total);
    Ok(respond(
        &top,
        entries,
        transfer,
        move |index, mut writer, progress| {
            let drive = drive.clone();
            let path = by_entry.get(index).cloned().flatten()?;
            Some(async move {
                if let Err(error) = drive
                    .get_range_to(&path, 0..u64::MAX, &mut writer, &progress)
                    .await
                {
                    tracing::warn!("zip: {path} stopped: {error}");
                }
            })
        },
    ))
}

/// `{top}.zip` of `entries`, streamed, its bytes counted on `transfer`: each file's bytes
/// are written into a pipe by the future `write(index, pipe, progress)` gives, on a task of
/// its own (`None` for an entry with no bytes, a folder).
pub(crate) fn respond<F, Fut>(
    top: &str,
    entries: Vec<ZipEntry>,
    transfer: Arc<Transfer>,
    write: F,
) -> Response
where
    F: Fn(usize, DuplexStream, Progress) -> Option<Fut> + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stream = archive(entries, transfer.progress(), write);
    let finish = transfer.clone();
    let done = transfer;
    let stream = stream
        .inspect(move |item| {
            if let Err(error) = item {
                finish.fail(error.to_string());
            }
        })
        .chain(
            futures_util::stream::once(async move {
                if done.is_running() {
                    done.finish(&Ok::<(), ClientError>(()));
                }
                None
            })
            .filter_map(std::future::ready),
        );
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("{top}.zip")),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The zip of `entries`, streamed: each file's bytes are written into a pipe by the future
/// `write(index, pipe, progress)` gives, on a task of its own (`None` for an entry with no
/// bytes, a folder).
pub(crate) fn archive<F, Fut>(
    entries: Vec<ZipEntry>,
    progress: Progress,
    write: F,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    F: Fn(usize, DuplexStream, Progress) -> Option<Fut> + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    zip_stream(entries, move |index| {
        let (writer, reader) = tokio::io::duplex(256 * 1024);
        let task = write(index, writer, progress.clone());
        async move {
            let task = task.ok_or_else(|| std::io::Error::other("a folder has no bytes"))?;
            tokio::spawn(task);
            Ok(reader)
        }
    })
}
