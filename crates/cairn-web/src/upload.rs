//! Uploads from the page, streamed: the page announces a file (`POST /api/uploads`), then
//! sends it in chunks (`PUT /api/uploads/{id}?offset=N`), each passed straight into the
//! client's `put_reader` through a small channel. The channel's back-pressure holds the
//! browser to the speed of the network, so neither side ever holds more than a few chunks'
//! worth of the file, however large. A chunk cut short can be sent again from the offset
//! the server names; the last chunk's answer says whether the file was stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_core::RemotePath;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::io::StreamReader;

use crate::error::Failure;
use crate::routes::{Api, drive_or_api};
use crate::state::{AppState, lock};
use crate::transfers::{Direction, Transfer};

/// Chunks of the body waiting for the client: a few frames of a few tens of KiB.
const QUEUE: usize = 16;

type Chunk = std::io::Result<Bytes>;

/// One file on its way in.
pub(crate) struct Session {
    transfer: Arc<Transfer>,
    /// Bytes passed on so far; a chunk must start here.
    received: AtomicU64,
    /// The way in to `put_reader`; `None` once the whole file has been passed on.
    sender: tokio::sync::Mutex<Option<mpsc::Sender<Chunk>>>,
    /// How the put ended, once it has: stored (with a note for the person, if any), or why
    /// not.
    outcome: watch::Receiver<Option<Result<Option<String>, String>>>,
    /// Woken when a chunk has been passed on (or given up), for the chunks queued after it.
    moved: Notify,
}

/// The uploads in progress, by transfer id.
#[derive(Default)]
pub(crate) struct Sessions(std::sync::Mutex<HashMap<u64, Arc<Session>>>);

#[derive(Deserialize)]
pub(crate) struct Announce {
    /// The drive path the file goes to.
    path: String,
    /// Its bytes.
    size: u64,
}

/// `POST /api/uploads`: starts the put; answers the transfer id.
pub(crate) async fn begin(State(state): State<AppState>, Json(announce): Json<Announce>) -> Api {
    let drive = drive_or_api(&state)?;
    let path = RemotePath::parse(&announce.path)
        .map_err(|e| Failure::bad_request(format!("{}: {e}", announce.path)))?;
    if path.is_root() {
        return Err(Failure::bad_request("choose a name for the file"));
    }
    if crate::trash::is_trash(&path) {
        return Err(Failure::bad_request(
            "files cannot be uploaded into the trash",
        ));
    }
    // A file already there goes to the trash first: an upload never loses what it
    // replaces (restore it from the Trash page).
    if drive.kind(&path).await? == Some(cairn_client::Kind::File) {
        crate::trash::delete(&drive, &path).await?;
    }
    let transfer = state
        .transfers()
        .begin(path.to_string(), Direction::Upload, announce.size);
    let (sender, receiver) = mpsc::channel::<Chunk>(QUEUE);
    let (report, outcome) = watch::channel(None);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let reader = StreamReader::new(Box::pin(stream));
    let task_transfer = transfer.clone();
    let size = announce.size;
    tokio::spawn(async move {
        let progress = task_transfer.progress();
        let result = drive.put_reader(&path, size, reader, &progress).await;
        task_transfer.finish(&result);
        let outcome = result
            .map(|stored| stored.below_target.map(|short| short.to_string()))
            .map_err(|e| e.to_string());
        let _ = report.send(Some(outcome));
    });
    let session = Arc::new(Session {
        transfer: transfer.clone(),
        received: AtomicU64::new(0),
        sender: tokio::sync::Mutex::new(Some(sender)),
        outcome,
        moved: Notify::new(),
    });
    lock(&state.uploads().0).insert(transfer.id, session.clone());
    tokio::spawn(watch_idle(state.clone(), session, state.upload_idle()));
    Ok(Json(json!({ "id": transfer.id })).into_response())
}

/// Ends an upload whose page stopped sending: no bytes and no chunk in flight for `idle`.
async fn watch_idle(state: AppState, session: Arc<Session>, idle: Duration) {
    let mut last = session.received.load(Ordering::Acquire);
    loop {
        tokio::time::sleep(idle).await;
        if !session.transfer.is_running() {
            break;
        }
        let now = session.received.load(Ordering::Acquire);
        // A chunk being passed on holds the sender; it is not idle, only slow.
        let sending = session.sender.try_lock().is_err();
        if now == last && !sending {
            session.transfer.fail(format!(
                "the page stopped sending for {} s (was it closed?); nothing is listed yet: upload it again to go on where it stopped",
                idle.as_secs()
            ));
            // The file ends short, which fails the put without cancelling it: the segments
            // it stored stay journaled, and the next upload of the file goes on from them.
            if let Ok(mut sender) = session.sender.try_lock() {
                *sender = None;
            } else {
                session.transfer.cancel.cancel();
            }
            break;
        }
        last = now;
    }
    lock(&state.uploads().0).remove(&session.transfer.id);
}

#[derive(Deserialize)]
pub(crate) struct At {
    offset: u64,
}

/// `PUT /api/uploads/{id}?offset=N`: the next chunk of the file.
pub(crate) async fn chunk(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(at): Query<At>,
    body: Body,
) -> Response {
    let Some(session) = lock(&state.uploads().0).get(&id).cloned() else {
        return refusal(
            StatusCode::NOT_FOUND,
            "this upload is not known (the drive was restarted?); start it again",
            None,
        );
    };
    let answer = pass_on(&session, at.offset, body).await;
    session.moved.notify_waiters();
    if !session.transfer.is_running() {
        lock(&state.uploads().0).remove(&id);
    }
    answer
}

/// How long a chunk that arrived early waits for the chunks before it.
const IN_ORDER: Duration = Duration::from_secs(60);

async fn pass_on(session: &Session, offset: u64, body: Body) -> Response {
    let size = session.transfer.size;
    // The page keeps two chunks in flight; the later one waits here for its turn.
    let mut sender = loop {
        let moved = session.moved.notified();
        tokio::pin!(moved);
        moved.as_mut().enable();
        let sender = session.sender.lock().await;
        let received = session.received.load(Ordering::Acquire);
        if sender.is_none() {
            return finished(session).await;
        }
        if offset == received {
            break sender;
        }
        if offset < received {
            return refusal(
                StatusCode::CONFLICT,
                &format!("this chunk starts at byte {offset}, the upload is at byte {received}"),
                Some(received),
            );
        }
        drop(sender);
        if tokio::time::timeout(IN_ORDER, moved).await.is_err() {
            return refusal(
                StatusCode::CONFLICT,
                &format!("this chunk starts at byte {offset}, the upload is at byte {received}"),
                Some(received),
            );
        }
    };
    let mut frames = body.into_data_stream();
    let mut cut = None;
    while let Some(frame) = frames.next().await {
        let Some(way_in) = sender.as_ref() else {
            break;
        };
        match frame {
            Ok(bytes) => {
                let at = session.received.load(Ordering::Acquire);
                if at + bytes.len() as u64 > size {
                    session
                        .transfer
                        .fail(format!("more than the announced {size} bytes arrived"));
                    session.transfer.cancel.cancel();
                    *sender = None;
                    return refusal(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "more than the announced {size} bytes arrived; nothing was stored"
                        ),
                        None,
                    );
                }
                let len = bytes.len() as u64;
                if way_in.send(Ok(bytes)).await.is_err() {
                    // The put ended early (refused or cancelled): say how.
                    *sender = None;
                    return finished(session).await;
                }
                session.received.fetch_add(len, Ordering::AcqRel);
            }
            Err(error) => {
                cut = Some(error.to_string());
                break;
            }
        }
    }
    let received = session.received.load(Ordering::Acquire);
    if let Some(reason) = cut {
        return refusal(
            StatusCode::BAD_REQUEST,
            &format!("the chunk was cut short ({reason}); send it again from byte {received}"),
            Some(received),
        );
    }
    if received < size {
        return (StatusCode::OK, Json(json!({ "received": received }))).into_response();
    }
    // The whole file is in: end the stream, then answer with the put's outcome.
    *sender = None;
    drop(sender);
    finished(session).await
}

/// Waits for the put to end and answers how.
async fn finished(session: &Session) -> Response {
    let mut outcome = session.outcome.clone();
    let result = match outcome.wait_for(Option::is_some).await {
        Ok(value) => value.clone(),
        Err(_) => Some(Err("the upload stopped unexpectedly; try again".into())),
    };
    match result {
        Some(Ok(note)) => (
            StatusCode::OK,
            Json(json!({ "received": session.transfer.size, "stored": true, "note": note })),
        )
            .into_response(),
        Some(Err(message)) if session.transfer.cancel.is_cancelled() => {
            refusal(StatusCode::CONFLICT, &format!("cancelled: {message}"), None)
        }
        Some(Err(message)) => refusal(StatusCode::BAD_GATEWAY, &message, None),
        None => refusal(StatusCode::INTERNAL_SERVER_ERROR, "no outcome", None),
    }
}

fn refusal(status: StatusCode, message: &str, expected: Option<u64>) -> Response {
    let body = match expected {
        Some(at) => json!({ "error": message, "expected": at }),
        None => json!({ "error": message }),
    };
    (status, Json(body)).into_response()
}
