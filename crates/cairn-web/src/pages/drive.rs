//! The drive's main pages: a folder (breadcrumbs, the upload and new-folder tools, its
//! entries with health badges and actions), search results and the trash.

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use cairn_client::{Kind, ListEntry};
use cairn_core::RemotePath;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Note, Section, folder_href, href, human, icon, layout, query_value, stamp, when};
use crate::routes::{Page, gate, remote_path};
use crate::state::AppState;
use crate::trash;

/// How many entries a folder shows before "Show more".
const FIRST: usize = 100;

/// What a page's address may add: a note of what just happened, how many entries to show.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct View {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    problem: Option<String>,
    #[serde(default)]
    show: Option<usize>,
}

impl View {
    pub fn note(&self) -> Option<Note> {
        match (&self.problem, &self.done) {
            (Some(p), _) => Some(Note::Problem(p.clone())),
            (None, Some(d)) => Some(Note::Done(d.clone())),
            _ => None,
        }
    }
}

/// A file's health badge: filled in by the page's script from `/api/health` (one account-wide
/// check, shared and cached), so a big folder shows at once.
pub(crate) fn pending_badge(path: &RemotePath) -> Markup {
    html! {
        span class="badge pending" data-health="pending" data-health-of=(path.to_string()) title="Checking health" { "Checking…" }
    }
}

/// A badge for a condition known already (a file's own page).
pub(crate) fn badge(class: &str) -> Markup {
    let (text, title) = match class {
        "unreadable" => (
            "Unreadable",
            "Too few pieces can be read now; it comes back when peers return",
        ),
        "degraded" => (
            "Degraded",
            "Readable, below full redundancy; the network is repairing it",
        ),
        _ => ("Healthy", "Stored at full redundancy"),
    };
    html! {
        span class={ "badge " (class) } data-health=(class) title=(title) { (text) }
    }
}

/// The trail of links from the root to `dir`.
pub(crate) fn breadcrumbs(dir: &RemotePath) -> Markup {
    let names = dir.names();
    html! {
        nav class="crumbs" aria-label="Breadcrumb" {
            ol {
                li {
                    @if names.is_empty() {
                        span aria-current="page" { "My drive" }
                    } @else {
                        a href="/drive/" { "My drive" }
                    }
                }
                @for (i, name) in names.iter().enumerate() {
                    li {
                        @if i + 1 == names.len() {
                            span aria-current="page" { (name.as_str()) }
                        } @else {
                            @let Ok(up) = RemotePath::from_names(names[..=i].to_vec()) else { continue };
                            a href=(folder_href(&up)) data-drop=(up.to_string()) { (name.as_str()) }
                        }
                    }
                }
            }
        }
    }
}

/// The menu of actions on one entry: its forms (rename, move, trash) are cloned from the
/// page's one template when it opens, so a long listing stays light; without script it
/// links to where the same can be done.
fn actions(entry: &ListEntry) -> Markup {
    let name = entry.path.file_name().map(|n| n.as_str()).unwrap_or("");
    html! {
        details class="menu" data-path=(entry.path.to_string()) {
            summary aria-label={ "Actions for " (name) } { "⋯" }
            div class="menu-body" {
                @if entry.kind == Kind::File {
                    a href=(href("/file", &entry.path)) { "Rename, move or delete" }
                }
            }
        }
    }
}

/// The forms every entry's menu is filled from.
fn actions_template() -> Markup {
    html! {
        template id="entry-actions" {
            form method="post" action="/do/rename" {
                input type="hidden" name="path";
                label { "New name " input type="text" name="name" required; }
                button type="submit" { "Rename" }
            }
            form method="post" action="/do/move" {
                input type="hidden" name="path";
                label { "Move to folder " input type="text" name="to" required; }
                button type="submit" { "Move" }
            }
            form method="post" action="/do/delete" {
                input type="hidden" name="path";
                button type="submit" class="danger" { "Move to trash" }
            }
        }
    }
}

/// One row of a listing.
fn row(entry: &ListEntry) -> Markup {
    let name = entry.path.file_name().map(|n| n.as_str()).unwrap_or("/");
    let kind = entry.kind.as_str();
    html! {
        tr class="entry" data-path=(entry.path.to_string()) data-kind=(kind) draggable="true" {
            td class="name" {
                @match entry.kind {
                    Kind::Folder => {
                        a href=(folder_href(&entry.path)) data-drop=(entry.path.to_string()) {
                            (icon("folder")) span { (name) }
                        }
                    }
                    Kind::File => {
                        a href=(href("/file", &entry.path)) { (icon("file")) span { (name) } }
                    }
                }
            }
            td class="size" {
                @if entry.kind == Kind::File { (human(entry.size)) } @else { "—" }
            }
            td class="modified" {
                @if let Some(t) = entry.modified { time { (stamp(t)) } }
            }
            td class="health" {
                @if entry.kind == Kind::File { (pending_badge(&entry.path)) }
            }
            td class="row-actions" {
                @match entry.kind {
                    Kind::File => {
                        a class="button small" href={ (href("/raw", &entry.path)) "?download=1" } download=(name)
                            aria-label={ "Download " (name) } { "Download" }
                    }
                    Kind::Folder => {
                        a class="button small" href=(href("/zip", &entry.path)) download={ (name) ".zip" }
                            aria-label={ "Download " (name) " as a zip" } { "Zip" }
                    }
                }
                a class="button small" href=(href("/share", &entry.path)) aria-label={ "Share " (name) } { "Share" }
                (actions(entry))
            }
        }
    }
}

/// A table of entries.
fn table(entries: &[ListEntry], caption: &str) -> Markup {
    html! {
        table class="entries" {
            caption class="visually-hidden" { (caption) }
            thead {
                tr {
                    th scope="col" { "Name" }
                    th scope="col" class="size" { "Size" }
                    th scope="col" class="modified" { "Modified" }
                    th scope="col" class="health" { "Health" }
                    th scope="col" class="row-actions" { span class="visually-hidden" { "Actions" } }
                }
            }
            tbody {
                @for entry in entries { (row(entry)) }
            }
        }
    }
}

/// Folders first, then by name, ignoring case.
pub(crate) fn sort(entries: &mut [ListEntry]) {
    entries.sort_by_cached_key(|e| {
        let name = e.path.file_name().map(|n| n.as_str().to_lowercase());
        (e.kind != Kind::Folder, name)
    });
}

/// `GET /drive/{path}/`: a folder.
pub(crate) async fn folder(
    State(state): State<AppState>,
    path: Option<Path<String>>,
    Query(view): Query<View>,
) -> Page {
    let drive = gate(&state)?;
    let dir = remote_path(path.as_ref().map(|p| p.0.as_str()))?;
    if !dir.is_root() {
        match drive.kind(&dir).await? {
            Some(Kind::Folder) => {}
            Some(Kind::File) => {
                return Ok(axum::response::Redirect::to(&href("/file", &dir)).into_response());
            }
            None => return Err(cairn_client::ClientError::NotFound(dir).into()),
        }
    }
    let mut entries = drive.list(&dir).await?;
    if dir.is_root() {
        entries.retain(|e| !trash::is_trash(&e.path));
    }
    sort(&mut entries);
    let total = entries.len();
    let show = view.show.unwrap_or(FIRST).max(1);
    let shown = &entries[..total.min(show)];
    let title = dir
        .file_name()
        .map_or_else(|| "My drive".to_owned(), |n| n.as_str().to_owned());
    let files = entries.iter().filter(|e| e.kind == Kind::File).count();
    let body = html! {
        div class="folder" data-dir=(dir.to_string()) {
            (breadcrumbs(&dir))
            div class="heading" {
                h1 { (title) }
                p class="counts" { (total - files) " folders, " (files) " files" }
            }
            div class="toolbar" {
                input type="file" id="upload-files" class="visually-hidden" multiple;
                label class="button primary" for="upload-files" { "Upload files" }
                input type="file" id="upload-folder" class="visually-hidden" webkitdirectory multiple;
                label class="button" for="upload-folder" { "Upload a folder" }
                form class="new-folder" method="post" action="/do/mkdir" {
                    input type="hidden" name="dir" value=(dir.to_string());
                    label for="new-folder-name" { "New folder" }
                    input id="new-folder-name" type="text" name="name" placeholder="Folder name" required;
                    button type="submit" { "Create" }
                }
                @if !dir.is_root() || total > 0 {
                    a class="button" href=(href("/zip", &dir)) download={ (title) ".zip" } { "Download all (zip)" }
                }
                @if !dir.is_root() {
                    a class="button" href=(href("/share", &dir)) { "Share this folder" }
                }
            }
            div id="drop-zone" class="drop-zone" {
                "Drop files or folders anywhere on this page to upload them here."
            }
            @if entries.is_empty() {
                p class="empty" { "This folder is empty. Upload files or make a folder to begin." }
            } @else {
                (table(shown, &format!("Contents of {title}")))
                (actions_template())
                @if total > shown.len() {
                    p class="more" {
                        "Showing " (shown.len()) " of " (total) ". "
                        a href={ "?show=" (shown.len() + FIRST) } { "Show " (FIRST.min(total - shown.len())) " more" }
                        " · "
                        a href={ "?show=" (total) } { "Show all" }
                    }
                }
            }
        }
    };
    Ok(layout(&title, Section::Drive, view.note().as_ref(), body).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// How many results a search shows.
const RESULTS: usize = 1000;

/// `GET /search?q=`: files and folders whose name holds the words, anywhere in the drive.
/// Names are encrypted at the pool, so this client walks the drive and matches here.
pub(crate) async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Page {
    let drive = gate(&state)?;
    let needle = query.q.trim().to_lowercase();
    let mut found = Vec::new();
    if !needle.is_empty() {
        let walked = drive.walk(&RemotePath::root()).await?;
        let mut folders: HashSet<RemotePath> = walked.folders.iter().cloned().collect();
        for file in &walked.files {
            let mut up = file.parent();
            while let Some(dir) = up {
                if dir.is_root() || !folders.insert(dir.clone()) {
                    break;
                }
                up = dir.parent();
            }
        }
        let matches = |p: &RemotePath| {
            !trash::is_trash(p)
                && p.file_name()
                    .is_some_and(|n| n.as_str().to_lowercase().contains(&needle))
        };
        for dir in folders.into_iter().filter(|p| matches(p)) {
            found.push(ListEntry {
                path: dir,
                kind: Kind::Folder,
                size: 0,
                modified: None,
            });
        }
        for file in walked.files.into_iter().filter(|p| matches(p)) {
            if let Some(stat) = drive.stat(&file).await? {
                found.push(ListEntry {
                    path: stat.path,
                    kind: stat.kind,
                    size: stat.size,
                    modified: stat.modified,
                });
            }
            if found.len() >= RESULTS {
                break;
            }
        }
    }
    sort(&mut found);
    let body = html! {
        h1 { "Search" }
        form class="search-page" method="get" action="/search" role="search" {
            label for="search-again" { "Name contains" }
            input id="search-again" type="search" name="q" value=(query.q);
            button type="submit" { "Search" }
        }
        @if needle.is_empty() {
            p { "Type part of a file or folder name." }
        } @else if found.is_empty() {
            p class="empty" { "Nothing in your drive has “" (query.q.trim()) "” in its name." }
        } @else {
            p { (found.len()) " found for “" (query.q.trim()) "”" }
            table class="entries results" {
                caption class="visually-hidden" { "Search results" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "In folder" } th scope="col" class="size" { "Size" } th scope="col" class="health" { "Health" } } }
                tbody {
                    @for entry in &found {
                        @let parent = entry.path.parent().unwrap_or_else(RemotePath::root);
                        tr class="entry" data-path=(entry.path.to_string()) data-kind=(entry.kind.as_str()) {
                            td class="name" {
                                @if entry.kind == Kind::Folder {
                                    a href=(folder_href(&entry.path)) { (icon("folder")) span { (entry.path.file_name().map(|n| n.as_str()).unwrap_or("")) } }
                                } @else {
                                    a href=(href("/file", &entry.path)) { (icon("file")) span { (entry.path.file_name().map(|n| n.as_str()).unwrap_or("")) } }
                                }
                            }
                            td { a href=(folder_href(&parent)) { (parent.to_string()) } }
                            td class="size" { @if entry.kind == Kind::File { (human(entry.size)) } }
                            td class="health" { @if entry.kind == Kind::File { (pending_badge(&entry.path)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Search", Section::Drive, None, body).into_response())
}

/// `GET /trash`: what was deleted, to restore or remove for good.
pub(crate) async fn trash(State(state): State<AppState>, Query(view): Query<View>) -> Page {
    let drive = gate(&state)?;
    let items = trash::list(&drive).await?;
    let body = html! {
        div class="heading" {
            h1 { "Trash" }
            @if !items.is_empty() {
                form method="post" action="/do/empty-trash" {
                    button type="submit" class="danger" data-confirm="Remove everything in the trash for good? This cannot be undone." { "Empty trash" }
                }
            }
        }
        @if items.is_empty() {
            p class="empty" { "The trash is empty. What you delete waits here until you empty it." }
        } @else {
            table class="entries trash" {
                caption class="visually-hidden" { "Deleted files and folders" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Was in" } th scope="col" class="modified" { "Deleted" } th scope="col" class="size" { "Size" } th scope="col" { span class="visually-hidden" { "Actions" } } } }
                tbody {
                    @for item in &items {
                        @let name = item.original.file_name().map(|n| n.as_str()).unwrap_or("");
                        @let parent = item.original.parent().unwrap_or_else(RemotePath::root);
                        tr class="entry" data-path=(item.original.to_string()) data-trash=(item.id) data-kind=(item.kind.as_str()) {
                            td class="name" { (icon(item.kind.as_str())) span { (name) } }
                            td { (parent.to_string()) }
                            td class="modified" { (when(item.deleted_ms)) }
                            td class="size" { @if item.kind == Kind::File { (human(item.size)) } @else { "folder" } }
                            td class="row-actions" {
                                form method="post" action="/do/restore" {
                                    input type="hidden" name="id" value=(item.id);
                                    button type="submit" aria-label={ "Restore " (name) } { "Restore" }
                                }
                                form method="post" action="/do/purge" {
                                    input type="hidden" name="id" value=(item.id);
                                    button type="submit" class="danger" aria-label={ "Delete " (name) " for good" }
                                        data-confirm={ "Delete " (name) " for good? This cannot be undone." } { "Delete for good" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Trash", Section::Trash, view.note().as_ref(), body).into_response())
}

/// An address back to a folder with a note.
pub(crate) fn back_to(dir: &RemotePath, note: &Note) -> String {
    noted(&folder_href(dir), note)
}

/// `address` with `note` for the page to show (`?done=` or `?problem=`).
pub(crate) fn noted(address: &str, note: &Note) -> String {
    let (key, text) = match note {
        Note::Done(t) => ("done", t),
        Note::Problem(t) => ("problem", t),
    };
    let join = if address.contains('?') { '&' } else { '?' };
    format!("{address}{join}{key}={}", query_value(text))
}
