//! A file's own page: its preview (streamed with Range by the browser, never the whole
//! file first), its health with the pieces of every segment and the peers holding them,
//! and what can be done with it.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use cairn_client::{Drive, Kind};
use cairn_core::RemotePath;
use cairn_proto::api::PieceState;
use maud::{Markup, html};

use super::drive::{badge, breadcrumbs};
use super::{Section, folder_href, href, human, layout, stamp};
use crate::raw::{Preview, preview_of};
use crate::routes::{Page, gate, remote_path};
use crate::state::AppState;

/// How much of a text file its preview shows.
const TEXT_PREVIEW: u64 = 64 * 1024;

/// `GET /file/{path}`: one file.
pub(crate) async fn file(State(state): State<AppState>, Path(path): Path<String>) -> Page {
    let drive = gate(&state)?;
    let path = remote_path(Some(&path))?;
    let Some(stat) = drive.stat(&path).await? else {
        return Err(cairn_client::ClientError::NotFound(path).into());
    };
    if stat.kind == Kind::Folder {
        return Ok(axum::response::Redirect::to(&folder_href(&path)).into_response());
    }
    let status = drive.status(&path).await?;
    let condition = if status.full_redundancy() {
        "full"
    } else if status.readable() {
        "degraded"
    } else {
        "unreadable"
    };
    let name = path.file_name().map(|n| n.as_str()).unwrap_or("");
    let raw = href("/raw", &path);
    let preview = preview(&drive, &path, stat.size, &raw).await;
    let parent = path.parent().unwrap_or_else(RemotePath::root);
    let body = html! {
        div class="file" data-path=(path.to_string()) {
            (breadcrumbs(&path))
            div class="heading" {
                h1 { (name) }
                (badge(condition))
            }
            div class="toolbar" {
                a class="button primary" href={ (raw) "?download=1" } download=(name) { "Download" }
                a class="button" href=(href("/share", &path)) { "Share" }
                a class="button" href=(folder_href(&parent)) { "Back to folder" }
                form method="post" action="/do/delete" {
                    input type="hidden" name="path" value=(path.to_string());
                    button type="submit" class="danger" { "Move to trash" }
                }
            }
            section class="preview" aria-label="Preview" { (preview) }
            section class="details" aria-labelledby="details-title" {
                h2 id="details-title" { "Details" }
                dl {
                    dt { "Size" } dd { (human(stat.size)) " (" (stat.size) " bytes)" }
                    @if let Some(t) = stat.modified { dt { "Modified" } dd { (stamp(t)) } }
                    dt { "Redundancy" } dd { code { (status.redundancy) } " — " (redundancy_words(&status.redundancy)) }
                    @if let Some(durability) = status.durability {
                        dt { "Durability" } dd data-below-target[!durability.meets_target()] {
                            (durability)
                            @if !durability.meets_target() { " — the network has too few peers for it yet." }
                        }
                    }
                    dt { "Segments" } dd { (status.segments.len()) }
                    dt { "Health" } dd {
                        @if status.full_redundancy() { "Every piece of every segment is healthy." }
                        @else if status.readable() { "Readable; some pieces are missing and the network is rebuilding them." }
                        @else { "Not readable now: too few pieces answer. It comes back when their peers do." }
                    }
                }
                details class="pieces" {
                    summary { "Which peers hold its pieces" }
                    @for segment in &status.segments {
                        h3 { "Segment " (segment.index)
                            @if segment.repairing { " — being repaired" } }
                        table class="pieces-table" {
                            thead { tr { th scope="col" { "Fragment" } th scope="col" { "Peer" } th scope="col" { "State" } } }
                            tbody {
                                @for piece in &segment.pieces {
                                    tr {
                                        td { (piece.fragment) }
                                        td { code { (short(&piece.peer.to_string())) } }
                                        td class={ "state " (state_class(piece.state)) } { (state_word(piece.state)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(name, Section::Drive, None, body).into_response())
}

async fn preview(drive: &Drive, path: &RemotePath, size: u64, raw: &str) -> Markup {
    let name = path.file_name().map(|n| n.as_str()).unwrap_or("");
    match preview_of(name) {
        Preview::Image => html! { img src=(raw) alt={ "Preview of " (name) } loading="lazy"; },
        Preview::Video => html! {
            video controls preload="metadata" src=(raw) aria-label={ "Video " (name) } {
                "Your browser cannot play this video; download it instead."
            }
        },
        Preview::Audio => html! {
            audio controls preload="metadata" src=(raw) aria-label={ "Audio " (name) } {}
        },
        Preview::Pdf => html! {
            iframe class="pdf" src=(raw) title={ "PDF " (name) } {}
        },
        Preview::Text => {
            let mut text = Vec::new();
            let want = size.min(TEXT_PREVIEW);
            let read = drive
                .get_range_to(path, 0..want, &mut text, &cairn_client::Progress::silent())
                .await;
            match read {
                Ok(_) => html! {
                    pre class="text" tabindex="0" aria-label={ "Text of " (name) } { (String::from_utf8_lossy(&text)) }
                    @if size > want { p class="more" { "The first " (human(want)) " of " (human(size)) " are shown; download the file for the rest." } }
                },
                Err(error) => {
                    html! { p class="note problem" { "The preview could not be read: " (error.to_string()) } }
                }
            }
        }
        Preview::None => html! {
            p class="empty" { "No preview for this kind of file. Download it to open it." }
        },
    }
}

fn short(id: &str) -> &str {
    id.get(..16).unwrap_or(id)
}

fn redundancy_words(redundancy: &str) -> String {
    if let Some(rest) = redundancy.strip_prefix("ec:")
        && let Some((k, m)) = rest.split_once('+')
    {
        return format!(
            "each segment is cut into {k} pieces plus {m} spares; any {k} give it back"
        );
    }
    if let Some(rest) = redundancy.strip_prefix("rep:")
        && let Some((_, r)) = rest.split_once('x')
    {
        return format!("{r} copies of every piece");
    }
    String::new()
}

fn state_word(state: PieceState) -> &'static str {
    match state {
        PieceState::Healthy => "healthy",
        PieceState::Suspect => "peer slow to answer",
        PieceState::Offline => "peer offline",
        PieceState::Lost => "lost",
        PieceState::Draining => "moving (peer leaving)",
        PieceState::Left => "peer left",
        PieceState::Disqualified => "peer disqualified",
        PieceState::Corrupt => "damaged",
    }
}

fn state_class(state: PieceState) -> &'static str {
    match state {
        PieceState::Healthy => "good",
        PieceState::Suspect | PieceState::Draining | PieceState::Offline => "warn",
        _ => "bad",
    }
}
