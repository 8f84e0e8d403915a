//! The recipient's side of sharing: a link pasted into the page is opened here — with no
//! account needed, so a person who has only just installed Cairn can use it — and what it
//! shares is listed with its downloads (each file with ranges, a folder as one zip). Opening
//! counts one download at the pool; the files are then fetched under that one opening.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use cairn_client::{Progress, Received};
use cairn_core::share::{Link, Manifest};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use maud::{Markup, html};
use serde::Deserialize;
use tokio::io::DuplexStream;
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::pages::{Note, Section, human, layout};
use crate::raw::{FILE_POLICY, attachment, piped, ranged};
use crate::routes::Page;
use crate::state::AppState;
use crate::transfers::Direction;
use crate::zip::{archive, respond};
use crate::zipstream::ZipEntry;

/// The form that opens a link: on the links page, and for a person with no account.
pub(crate) fn open_form(link: Option<&str>, note: Option<&str>) -> Markup {
    html! {
        form class="open-link card" method="post" action="/open" {
            h2 { "Open a link someone sent you" }
            @if let Some(note) = note { p class="hint" { (note) } }
            div class="field" {
                label for="open-link" { "Link" }
                input id="open-link" type="text" name="link" required spellcheck="false" autocomplete="off"
                    placeholder="https://pool.example.org:7700/s/…#…" value=[link];
            }
            div class="field" {
                label for="open-password" { "Password (if the link has one)" }
                input id="open-password" type="password" name="password" autocomplete="off";
            }
            button type="submit" class="primary" { "Open link" }
        }
    }
}

/// The section a recipient's pages belong to: the links, or none before an account.
fn section(state: &AppState) -> Section {
    if state.drive().is_ok() {
        Section::Links
    } else {
        Section::Outside
    }
}

/// `GET /open`: the form alone.
pub(crate) async fn form(State(state): State<AppState>) -> Response {
    let body = html! {
        h1 { "Open a link" }
        (open_form(None, Some("Nobody needs an account to open a link: the files come straight from the peers and are decrypted here.")))
    };
    layout("Open a link", section(&state), None, body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct OpenLink {
    link: String,
    #[serde(default)]
    password: Zeroizing<String>,
}

/// `POST /open`: opens the link (one download counted) and shows what it shares.
pub(crate) async fn open(State(state): State<AppState>, Form(form): Form<OpenLink>) -> Response {
    let text = form.link.trim();
    let refused = |status: StatusCode, message: String| {
        let body = html! {
            h1 { "Open a link" }
            (open_form(Some(text), None))
        };
        (
            status,
            layout(
                "Open a link",
                section(&state),
                Some(&Note::Problem(message)),
                body,
            ),
        )
            .into_response()
    };
    let link = match Link::parse(text) {
        Ok(link) => link,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let password = Some(form.password.as_str()).filter(|p| !p.is_empty());
    if link.password && password.is_none() {
        return refused(
            StatusCode::UNAUTHORIZED,
            "This link needs a password too; type the one its owner gave you.".into(),
        );
    }
    match Received::open(&link, password, state.options().clone()).await {
        Ok(received) => {
            let handle = state.keep_received(received);
            Redirect::to(&format!("/received/{handle}")).into_response()
        }
        Err(error) => {
            let failure = Failure::from(error);
            refused(failure.status, failure.message)
        }
    }
}

/// The opened link `handle`, or a page saying it is gone.
fn opened(state: &AppState, handle: &str) -> Result<Arc<Received>, Failure> {
    state.received(handle).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            "that link is no longer open here; paste it again on the Shared links page",
        )
    })
}

/// `GET /received/{handle}`: what an opened link shares.
pub(crate) async fn show(State(state): State<AppState>, Path(handle): Path<String>) -> Page {
    let received = opened(&state, &handle)?;
    let manifest = &received.manifest;
    let total: u64 = manifest
        .files
        .iter()
        .map(|f| f.metadata.layout.size())
        .sum();
    let base = format!("/received/{handle}");
    let body = html! {
        div class="received" data-received=(manifest.name) {
            div class="heading" {
                h1 { (manifest.name) }
                p class="counts" {
                    @if manifest.folder { "A shared folder: " (manifest.files.len()) " files, " }
                    @else { "A shared file, " }
                    (human(total))
                }
            }
            div class="toolbar" {
                @if manifest.folder {
                    a class="button primary" href={ (base) "/zip" } download={ (manifest.name) ".zip" } { "Download all (zip)" }
                } @else {
                    a class="button primary" href={ (base) "/file/0" } download=(manifest.name) { "Download" }
                }
            }
            @if manifest.folder {
                @if manifest.files.is_empty() {
                    p class="empty" { "The folder was empty when it was shared." }
                } @else {
                    table class="entries" {
                        caption class="visually-hidden" { "Files in the shared folder" }
                        thead { tr { th scope="col" { "Name" } th scope="col" class="size" { "Size" } th scope="col" { span class="visually-hidden" { "Actions" } } } }
                        tbody {
                            @for (i, file) in manifest.files.iter().enumerate() {
                                @let name = file.path.rsplit('/').next().unwrap_or(&file.path);
                                tr class="shared-file" data-shared-path=(file.path) {
                                    td class="name" { (crate::pages::icon("file")) span { (file.path) } }
                                    td class="size" { (human(file.metadata.layout.size())) }
                                    td class="row-actions" {
                                        a class="button small" href={ (base) "/file/" (i) } download=(name)
                                            aria-label={ "Download " (file.path) } { "Download" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p class="hint" {
                "The files come straight from the peers and are decrypted on this computer. "
                "This page keeps the link open while Cairn runs. "
                a href="/open" { "Open another link" }
                @if !state.has_home() { " · " a href="/setup" { "Make a drive of your own" } }
            }
        }
    };
    Ok(layout(&manifest.name, section(&state), None, body).into_response())
}

/// `GET /received/{handle}/file/{n}`: one shared file's bytes, whole or one range.
pub(crate) async fn file(
    State(state): State<AppState>,
    Path((handle, index)): Path<(String, usize)>,
    method: Method,
    headers: HeaderMap,
) -> Page {
    let received = opened(&state, &handle)?;
    let Some(file) = received.manifest.files.get(index) else {
        return Err(Failure::new(StatusCode::NOT_FOUND, "the link shares no such file").into());
    };
    let size = file.metadata.layout.size();
    let name = file
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&file.path)
        .to_owned();
    let (bytes, response) = match ranged(&headers, size, None) {
        Ok(head) => head,
        Err(refused) => return Ok(refused.into_response()),
    };
    let len = bytes.end - bytes.start;
    let response = response
        .header(header::CACHE_CONTROL, "private, no-cache")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_DISPOSITION, attachment(&name))
        .header(header::CONTENT_SECURITY_POLICY, FILE_POLICY);
    if method == Method::HEAD || len == 0 {
        return response
            .body(Body::empty())
            .map_err(|e| Failure::bad_request(e.to_string()).into());
    }
    let transfer =
        state
            .transfers()
            .begin(format!("{} (shared)", file.path), Direction::Download, len);
    response
        .body(piped(|mut writer| async move {
            let file = &received.manifest.files[index];
            let result = received
                .get_range_to(file, bytes, &mut writer, &transfer.progress())
                .await;
            transfer.finish(&result);
            if let Err(error) = result {
                tracing::warn!("serving a shared file stopped: {error}");
            }
        }))
        .map_err(|e| Failure::bad_request(e.to_string()).into())
}

/// `GET /received/{handle}/zip`: a shared folder as one streamed zip.
pub(crate) async fn zip(State(state): State<AppState>, Path(handle): Path<String>) -> Page {
    let received = opened(&state, &handle)?;
    let (entries, first_file) = share_entries(&received.manifest);
    let total = entries.iter().map(|e| e.size).sum();
    let top = received.manifest.name.clone();
    let transfer =
        state
            .transfers()
            .begin(format!("{top} (shared, zip)"), Direction::Download, total);
    Ok(respond(&top, entries, transfer, share_writer(received, first_file)).into_response())
}

/// What a shared folder's zip holds: its folder, its sub-folders, its files (from the
/// index returned on), all under the folder's name.
fn share_entries(manifest: &Manifest) -> (Vec<ZipEntry>, usize) {
    let top = &manifest.name;
    let mut entries = vec![ZipEntry {
        name: format!("{top}/"),
        modified: None,
        size: 0,
    }];
    let mut folders = manifest.folders.clone();
    folders.sort();
    for folder in &folders {
        entries.push(ZipEntry {
            name: format!("{top}/{folder}/"),
            modified: None,
            size: 0,
        });
    }
    let first_file = entries.len();
    for file in &manifest.files {
        entries.push(ZipEntry {
            name: format!("{top}/{}", file.path),
            modified: u64::try_from(file.metadata.modified.secs)
                .ok()
                .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
            size: file.metadata.layout.size(),
        });
    }
    (entries, first_file)
}

/// Writes entry `index` of a share's zip: file `index - first_file` of the share.
fn share_writer(
    received: Arc<Received>,
    first_file: usize,
) -> impl Fn(usize, DuplexStream, Progress) -> Option<BoxFuture<'static, ()>> + Send + 'static {
    move |index, mut writer, progress| {
        let received = received.clone();
        let at = index.checked_sub(first_file)?;
        Some(Box::pin(async move {
            let Some(file) = received.manifest.files.get(at) else {
                return;
            };
            if let Err(error) = received
                .get_range_to(file, 0..u64::MAX, &mut writer, &progress)
                .await
            {
                tracing::warn!("zip of a share: {} stopped: {error}", file.path);
            }
        }))
    }
}

/// What an opened link shares, as one zip streamed as it is read from the peers (for
/// `cairn get LINK -`); `progress` counts its files' bytes.
pub fn share_zip(
    received: Arc<Received>,
    progress: Progress,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let (entries, first_file) = share_entries(&received.manifest);
    archive(entries, progress, share_writer(received, first_file))
}
