//! The owner's side of sharing: the share dialog of a file or folder (expiry, password,
//! download limit), the account's links with copy and revoke, and the forms that make and
//! revoke them. A link's key never reaches the pool; the owner's client can give any of its
//! links again (`cairn_client::share`), so the pages show them from the list, not from memory.

use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use cairn_client::{ClientError, Kind, ShareInfo, ShareOptions};
use cairn_core::{RemotePath, ShareId};
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::Failure;
use crate::pages::{Note, Section, View, breadcrumbs, folder_href, href, layout, noted, when};
use crate::routes::{Page, Stop, gate, remote_path};
use crate::state::AppState;
use crate::trash;

/// The expiry choices of the dialog: form value, words, how long.
const EXPIRIES: [(&str, &str, Option<Duration>); 5] = [
    ("never", "Never", None),
    ("1h", "In 1 hour", Some(Duration::from_secs(3600))),
    ("1d", "In 1 day", Some(Duration::from_secs(86_400))),
    ("7d", "In 7 days", Some(Duration::from_secs(7 * 86_400))),
    ("30d", "In 30 days", Some(Duration::from_secs(30 * 86_400))),
];

/// What the dialog's address may add besides a note: the link just made.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Made {
    #[serde(default)]
    made: Option<String>,
}

/// A link in a box with its copy button (the page's script copies it; without script it
/// can be selected by hand).
fn link_box(id: &str, link: &str, label: &str) -> Markup {
    html! {
        div class="link-box" {
            label for=(id) { (label) }
            input id=(id) class="link" type="text" readonly value=(link) spellcheck="false";
            button type="button" class="primary" data-copy=(id) { "Copy link" }
        }
    }
}

/// What a link's state reads as.
fn state_words(info: &ShareInfo) -> &'static str {
    match info.state.as_str() {
        "live" => "Live",
        "revoked" => "Revoked",
        "expired" => "Expired",
        "exhausted" => "Used up",
        _ => "Unknown",
    }
}

/// How often a link was opened, of how many allowed.
fn downloads(info: &ShareInfo) -> String {
    match info.max_downloads {
        Some(max) => format!("{} of {max}", info.downloads),
        None => info.downloads.to_string(),
    }
}

/// A table of links; `whole` adds the column of what each shares.
fn links_table(links: &[ShareInfo], whole: bool, back: &str) -> Markup {
    html! {
        table class="entries links" {
            caption class="visually-hidden" { "Links" }
            thead {
                tr {
                    @if whole { th scope="col" { "Shares" } }
                    th scope="col" { "Link" }
                    th scope="col" class="modified" { "Made" }
                    th scope="col" class="modified" { "Expires" }
                    th scope="col" { "Opened" }
                    th scope="col" { "State" }
                    th scope="col" { span class="visually-hidden" { "Actions" } }
                }
            }
            tbody {
                @for info in links {
                    @let id = info.id.to_string();
                    @let live = info.state == "live";
                    tr class="link-row" data-share=(id) data-state=(info.state) {
                        @if whole {
                            td class="name" {
                                @match &info.path {
                                    Some(path) => a href=(href("/share", path)) { (path.to_string()) },
                                    None => span { "(made by another version)" },
                                }
                            }
                        }
                        td class="link-cell" {
                            @match (&info.link, live) {
                                (Some(link), true) => {
                                    input id={ "link-" (id) } class="link" type="text" readonly value=(link.to_string())
                                        aria-label="The link" spellcheck="false";
                                    @if link.password { span class="hint" { "needs its password" } }
                                }
                                _ => code { (id) },
                            }
                        }
                        td class="modified" { (when(info.created_ms)) }
                        td class="modified" {
                            @match info.expires_ms { Some(ms) => (when(ms)), None => "Never" }
                        }
                        td { (downloads(info)) }
                        td { span class={ "badge share-" (info.state) } { (state_words(info)) } }
                        td class="row-actions" {
                            @if live {
                                @if info.link.is_some() {
                                    button type="button" class="small" data-copy={ "link-" (id) } { "Copy link" }
                                }
                                form method="post" action="/do/revoke" {
                                    input type="hidden" name="id" value=(id);
                                    input type="hidden" name="back" value=(back);
                                    button type="submit" class="danger small"
                                        data-confirm="Revoke this link? Whoever has it can no longer open it." { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /share/{path}`: the share dialog of one file or folder, and its links.
pub(crate) async fn dialog(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(made): Query<Made>,
    Query(view): Query<View>,
) -> Page {
    let drive = gate(&state)?;
    let path = remote_path(Some(&path))?;
    if trash::is_trash(&path) {
        return Err(Failure::bad_request("what is in the trash cannot be shared").into());
    }
    let Some(kind) = drive.kind(&path).await? else {
        return Err(ClientError::NotFound(path).into());
    };
    let name = path
        .file_name()
        .map_or("My drive", |n| n.as_str())
        .to_owned();
    let links: Vec<ShareInfo> = drive
        .shares()
        .await?
        .into_iter()
        .filter(|s| s.path.as_ref() == Some(&path))
        .collect();
    let fresh = made
        .made
        .as_deref()
        .and_then(|id| links.iter().find(|s| s.id.to_string() == id))
        .and_then(|s| s.link.as_ref());
    let back = href("/share", &path);
    let (what, back_to) = match kind {
        Kind::Folder => ("folder", folder_href(&path)),
        Kind::File => ("file", href("/file", &path)),
    };
    let body = html! {
        div class="share" data-shared=(path.to_string()) {
            (breadcrumbs(&path))
            div class="heading" {
                h1 { "Share “" (name) "”" }
                a class="button" href=(back_to) { "Back to the " (what) }
            }
            @if let Some(link) = fresh {
                section class="made" aria-labelledby="made-title" {
                    h2 id="made-title" { "Your new link" }
                    (link_box("share-link", &link.to_string(), "Send this link to whoever should have the file"))
                    p class="hint" {
                        "Anyone with this link can download "
                        @if kind == Kind::Folder { "this folder as it is now" } @else { "this file" }
                        " without an account."
                        @if link.password { " They also need the password; send it another way." }
                        " The key is in the part after #, which the pool never sees."
                    }
                }
            }
            form class="share-form" method="post" action="/do/share" {
                h2 { "Make a link" }
                input type="hidden" name="path" value=(path.to_string());
                label for="share-expires" { "Link expires" }
                select id="share-expires" name="expires" {
                    @for (value, words, _) in EXPIRIES {
                        option value=(value) { (words) }
                    }
                }
                label for="share-password" { "Password (optional)" }
                input id="share-password" type="password" name="password" autocomplete="new-password"
                    placeholder="No password";
                label for="share-max" { "Downloads allowed (optional)" }
                input id="share-max" type="number" name="max_downloads" min="1" step="1" inputmode="numeric"
                    placeholder="No limit";
                button type="submit" class="primary" { "Create link" }
            }
            section aria-labelledby="links-title" {
                h2 id="links-title" { "Links to this " (what) }
                @if links.is_empty() {
                    p class="empty" { "No links yet." }
                } @else {
                    (links_table(&links, false, &back))
                }
            }
        }
    };
    Ok(layout(
        &format!("Share {name}"),
        Section::Links,
        view.note().as_ref(),
        body,
    )
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct NewLink {
    path: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    max_downloads: String,
}

/// `POST /do/share`: a new link, shown on the dialog it came from.
pub(crate) async fn create(State(state): State<AppState>, Form(form): Form<NewLink>) -> Page {
    let back = RemotePath::parse(form.path.trim())
        .map(|p| href("/share", &p))
        .unwrap_or_else(|_| "/links".into());
    match make(&state, &form).await {
        Err(Stop::Fail(failure)) => {
            Ok(Redirect::to(&noted(&back, &Note::Problem(failure.message))).into_response())
        }
        other => other,
    }
}

async fn make(state: &AppState, form: &NewLink) -> Page {
    let drive = gate(state)?;
    let path = RemotePath::parse(form.path.trim())
        .map_err(|e| Failure::bad_request(format!("{}: {e}", form.path)))?;
    if trash::is_trash(&path) {
        return Err(Failure::bad_request("what is in the trash cannot be shared").into());
    }
    let chosen = match form.expires.trim() {
        "" => "never",
        other => other,
    };
    let Some((_, _, expires)) = EXPIRIES.iter().find(|(value, _, _)| *value == chosen) else {
        return Err(Failure::bad_request(format!(
            "“{}” is not one of the expiry choices",
            form.expires
        ))
        .into());
    };
    let max_downloads = match form.max_downloads.trim() {
        "" => None,
        text => match text.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(Failure::bad_request(format!(
                    "“{text}” is not a number of downloads; give 1 or more, or leave it empty"
                ))
                .into());
            }
        },
    };
    let options = ShareOptions {
        expires: *expires,
        password: Some(form.password.clone()).filter(|p| !p.is_empty()),
        max_downloads,
    };
    let link = drive.share(&path, &options).await?;
    let made = format!("{}?made={}", href("/share", &path), link.id);
    Ok(Redirect::to(&noted(&made, &Note::Done("Link created".into()))).into_response())
}

/// `GET /links`: the account's links, and a field to open one someone sent.
pub(crate) async fn list(State(state): State<AppState>, Query(view): Query<View>) -> Page {
    let drive = gate(&state)?;
    let links = drive.shares().await?;
    let live = links.iter().filter(|s| s.state == "live").count();
    let body = html! {
        div class="heading" {
            h1 { "Shared links" }
            p class="counts" { (links.len()) " links, " (live) " live" }
        }
        section aria-labelledby="mine-title" {
            h2 id="mine-title" { "Links you made" }
            @if links.is_empty() {
                p class="empty" { "You have not shared anything yet. Use “Share” beside a file or folder." }
            } @else {
                (links_table(&links, true, "/links"))
            }
        }
        (crate::received::open_form(None, None))
    };
    Ok(layout("Shared links", Section::Links, view.note().as_ref(), body).into_response())
}

#[derive(Deserialize)]
pub(crate) struct Revoke {
    id: String,
    #[serde(default)]
    back: String,
}

/// `POST /do/revoke`: the link opens no more.
pub(crate) async fn revoke(State(state): State<AppState>, Form(form): Form<Revoke>) -> Page {
    // Only back to the pages that list links.
    let back = if form.back.starts_with("/share/") || form.back == "/links" {
        form.back.clone()
    } else {
        "/links".to_owned()
    };
    let outcome = async {
        let drive = gate(&state)?;
        let id: ShareId = form
            .id
            .trim()
            .parse()
            .map_err(|_| Failure::bad_request(format!("“{}” is not a link's id", form.id)))?;
        drive.revoke_share(id).await?;
        Ok::<_, Stop>(())
    }
    .await;
    let note = match outcome {
        Ok(()) => Note::Done("Link revoked; it opens no more".into()),
        Err(Stop::Fail(failure)) => Note::Problem(failure.message),
        Err(Stop::Redirect(to)) => return Ok(Redirect::to(to).into_response()),
    };
    Ok(Redirect::to(&noted(&back, &note)).into_response())
}
