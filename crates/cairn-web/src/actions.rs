//! What the page's forms and scripts change: new folders, renames, moves, the trash, and
//! the transfer panel's buttons. Forms answer with a redirect back to the folder and a note
//! of what happened; a refusal renders a page that says why and links back.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cairn_client::ClientError;
use cairn_core::{Name, RemotePath};
use serde::Deserialize;
use serde_json::json;

use crate::error::Failure;
use crate::pages::{Note, back_to};
use crate::routes::{Api, Page, Stop, drive_or_api, gate};
use crate::state::AppState;
use crate::trash;

fn parse(text: &str) -> Result<RemotePath, Failure> {
    RemotePath::parse(text.trim()).map_err(|e| Failure::bad_request(format!("{text}: {e}")))
}

fn name(text: &str) -> Result<Name, Failure> {
    let text = text.trim();
    if text.contains('/') {
        return Err(Failure::bad_request(format!(
            "“{text}” has a slash; a name cannot contain one"
        )));
    }
    Name::new(text).map_err(|e| Failure::bad_request(format!("“{text}” cannot be a name: {e}")))
}

fn parent(path: &RemotePath) -> RemotePath {
    path.parent().unwrap_or_else(RemotePath::root)
}

/// The trash's own folder is not touched by the drive's actions.
fn not_trash(path: &RemotePath) -> Result<(), Failure> {
    if trash::is_trash(path) {
        return Err(Failure::bad_request(
            "that is inside the trash; restore it from the Trash page first",
        ));
    }
    Ok(())
}

fn back(dir: &RemotePath, note: Note) -> axum::response::Response {
    Redirect::to(&back_to(dir, &note)).into_response()
}

/// A form's outcome: done, or refused with the reason shown on the folder it came from
/// (a person stays where they were, with the problem in front of them).
fn or_back(dir: &RemotePath, outcome: Page) -> Page {
    match outcome {
        Err(Stop::Fail(failure)) => Ok(back(dir, Note::Problem(failure.message))),
        other => other,
    }
}

/// The folder a form about `path` came from, if the path can be read.
fn folder_of(path: &str) -> RemotePath {
    RemotePath::parse(path.trim())
        .ok()
        .and_then(|p| p.parent())
        .unwrap_or_else(RemotePath::root)
}

/// Middleware for the routes that change the drive: each change runs on a task of its own,
/// so it finishes even when the page that asked goes away. A closed tab or a navigation
/// drops the request, and a change cut off half way (an entry moved into the trash without
/// its record, say) would be worse than either end.
pub(crate) async fn to_the_end(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the change stopped before it finished: {e}"),
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewFolder {
    dir: String,
    name: String,
}

/// `POST /do/mkdir`.
pub(crate) async fn mkdir(State(state): State<AppState>, Form(form): Form<NewFolder>) -> Page {
    let dir = RemotePath::parse(form.dir.trim()).unwrap_or_else(|_| RemotePath::root());
    or_back(&dir, make_folder(&state, &form).await)
}

async fn make_folder(state: &AppState, form: &NewFolder) -> Page {
    let drive = gate(state)?;
    let dir = parse(&form.dir)?;
    let path = dir.join(name(&form.name)?).map_err(ClientError::from)?;
    not_trash(&path)?;
    drive.mkdir(&path, false).await?;
    Ok(back(
        &dir,
        Note::Done(format!("Made the folder {}", form.name.trim())),
    ))
}

#[derive(Deserialize)]
pub(crate) struct Rename {
    path: String,
    name: String,
}

/// `POST /do/rename`: a new name in the same folder.
pub(crate) async fn rename(State(state): State<AppState>, Form(form): Form<Rename>) -> Page {
    or_back(&folder_of(&form.path), rename_entry(&state, &form).await)
}

async fn rename_entry(state: &AppState, form: &Rename) -> Page {
    let drive = gate(state)?;
    let path = parse(&form.path)?;
    not_trash(&path)?;
    let dir = parent(&path);
    let target = dir.join(name(&form.name)?).map_err(ClientError::from)?;
    if target == path {
        return Ok(back(&dir, Note::Done("The name is unchanged".into())));
    }
    if drive.kind(&target).await?.is_some() {
        return Err(ClientError::Exists(target).into());
    }
    drive.mv(&path, &target).await?;
    Ok(back(
        &dir,
        Note::Done(format!("Renamed to {}", form.name.trim())),
    ))
}

#[derive(Deserialize)]
pub(crate) struct Move {
    path: String,
    to: String,
}

/// Moves `path` into the folder `to` (made when missing), never over anything.
async fn move_into(
    drive: &cairn_client::Drive,
    path: &RemotePath,
    to: &RemotePath,
) -> Result<RemotePath, Stop> {
    not_trash(path)?;
    not_trash(to)?;
    let Some(name) = path.file_name() else {
        return Err(Failure::bad_request("the whole drive cannot be moved").into());
    };
    let target = to.join(name.clone()).map_err(ClientError::from)?;
    if target == *path {
        return Ok(target);
    }
    if drive.kind(&target).await?.is_some() {
        return Err(ClientError::Exists(target).into());
    }
    if drive.kind(to).await?.is_none() {
        drive.mkdir(to, true).await?;
    }
    Ok(drive.mv(path, &target).await?)
}

/// `POST /do/move`: into another folder.
pub(crate) async fn move_to(State(state): State<AppState>, Form(form): Form<Move>) -> Page {
    or_back(&folder_of(&form.path), move_entry(&state, &form).await)
}

async fn move_entry(state: &AppState, form: &Move) -> Page {
    let drive = gate(state)?;
    let path = parse(&form.path)?;
    let to = parse(&form.to)?;
    let moved = move_into(&drive, &path, &to).await?;
    Ok(back(
        &parent(&path),
        Note::Done(format!("Moved to {}", parent(&moved))),
    ))
}

#[derive(Deserialize)]
pub(crate) struct Target {
    path: String,
}

/// `POST /do/delete`: into the trash.
pub(crate) async fn delete(State(state): State<AppState>, Form(form): Form<Target>) -> Page {
    or_back(&folder_of(&form.path), trash_entry(&state, &form).await)
}

async fn trash_entry(state: &AppState, form: &Target) -> Page {
    let drive = gate(state)?;
    let path = parse(&form.path)?;
    trash::delete(&drive, &path).await?;
    let name = path
        .file_name()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    Ok(back(
        &parent(&path),
        Note::Done(format!("Moved {name} to the trash")),
    ))
}

#[derive(Deserialize)]
pub(crate) struct Item {
    id: String,
}

fn to_trash(note: Note) -> axum::response::Response {
    Redirect::to(&crate::pages::noted("/trash", &note)).into_response()
}

/// `POST /do/restore`.
pub(crate) async fn restore(State(state): State<AppState>, Form(form): Form<Item>) -> Page {
    let drive = gate(&state)?;
    match trash::restore(&drive, &form.id).await {
        Ok(path) => Ok(to_trash(Note::Done(format!("Restored {path}")))),
        Err(ClientError::Exists(path)) => Ok(to_trash(Note::Problem(format!(
            "{path} exists again; rename or move that one, then restore"
        )))),
        Err(other) => Err(other.into()),
    }
}

/// `POST /do/purge`: one item, for good.
pub(crate) async fn purge(State(state): State<AppState>, Form(form): Form<Item>) -> Page {
    let drive = gate(&state)?;
    trash::purge(&drive, &form.id).await?;
    Ok(to_trash(Note::Done("Deleted for good".into())))
}

/// `POST /do/empty-trash`.
pub(crate) async fn empty_trash(State(state): State<AppState>) -> Page {
    let drive = gate(&state)?;
    let files = trash::empty(&drive).await?;
    Ok(to_trash(Note::Done(format!(
        "Emptied the trash ({files} files deleted for good)"
    ))))
}

#[derive(Deserialize)]
pub(crate) struct MakeFolder {
    path: String,
}

/// `POST /api/mkdir`: a folder (and its parents) for an uploaded folder's empty folders.
pub(crate) async fn api_mkdir(State(state): State<AppState>, Json(body): Json<MakeFolder>) -> Api {
    let drive = drive_or_api(&state)?;
    let path = parse(&body.path)?;
    not_trash(&path)?;
    drive.mkdir(&path, true).await?;
    Ok(Json(json!({ "made": path.to_string() })).into_response())
}

/// `POST /api/move`: dragging an entry onto a folder.
pub(crate) async fn api_move(State(state): State<AppState>, Json(body): Json<Move>) -> Api {
    let drive = drive_or_api(&state)?;
    let path = parse(&body.path)?;
    let to = parse(&body.to)?;
    match move_into(&drive, &path, &to).await {
        Ok(moved) => Ok(Json(json!({ "moved": moved.to_string() })).into_response()),
        Err(Stop::Fail(failure)) => Err(failure),
        Err(Stop::Redirect(_)) => Err(Failure::bad_request("the drive is not open")),
    }
}

/// How old a health check the badges may show.
const HEALTH_FRESH: std::time::Duration = std::time::Duration::from_secs(3);

/// `GET /api/health`: which files are below full redundancy or unreadable now.
pub(crate) async fn health(State(state): State<AppState>) -> Api {
    let drive = drive_or_api(&state)?;
    let health = state.health(&drive, HEALTH_FRESH).await?;
    Ok(Json(health.as_ref().clone()).into_response())
}

/// `GET /api/transfers`: the panel's rows.
pub(crate) async fn transfers(State(state): State<AppState>) -> Api {
    Ok(Json(json!({ "transfers": state.transfers().views() })).into_response())
}

/// `POST /api/transfers/clear`.
pub(crate) async fn clear_transfers(State(state): State<AppState>) -> Api {
    state.transfers().clear_finished();
    Ok(Json(json!({})).into_response())
}

/// `POST /api/transfers/{id}/cancel`.
pub(crate) async fn cancel_transfer(State(state): State<AppState>, Path(id): Path<u64>) -> Api {
    let Some(transfer) = state.transfers().get(id) else {
        return Err(Failure::new(
            axum::http::StatusCode::NOT_FOUND,
            "no such transfer",
        ));
    };
    transfer.cancel.cancel();
    Ok(Json(json!({ "cancelled": id })).into_response())
}
