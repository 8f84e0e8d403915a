//! The peer's HTTP API (paths in [`cairn_proto::peer_api`]): raw piece bytes under signed
//! orders, ranges on reads, and a status answer. Every refusal is an
//! [`ErrorBody`] with a stable code — including an unknown route, a wrong method and a
//! piece body that arrives too slowly.

use cairn_proto::codes;
use std::io::SeekFrom;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use cairn_core::PieceHash;
use cairn_net::http::{BodyDeadline, MAX_ECHOED, bounded, close, json_refusal};
use cairn_proto::order::ORDER_HEADER;
use cairn_proto::peer_api::{
    MAX_WRITE_BYTES, MAX_WRITES, PEER_STATUS, PeerInfo, READS, ReadMany, WRITES, push_frame,
    split_writes,
};
use cairn_proto::{ErrorBody, OrderError, SignedOrder};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::audit::{AuditError, AuditQuery};
use crate::service::{PeerService, ServiceError};
use crate::store::{HeldPiece, StoreError};

/// Bytes read from disk at a time when a large piece is sent (each read is a trip to a
/// blocking thread; `ReaderStream`'s default of 4 KiB made a 4 MiB piece 1,024 trips).
const READ_CHUNK: usize = 1 << 20;

/// A refusal on the wire.
struct Refusal(StatusCode, ErrorBody);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Refusal {
    Refusal(status, ErrorBody::new(code, message))
}

impl From<ServiceError> for Refusal {
    fn from(error: ServiceError) -> Self {
        let message = error.to_string();
        match &error {
            ServiceError::PoolUnknown => refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::POOL_UNKNOWN,
                message,
            ),
            ServiceError::TooManyReads(_) => refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_MANY_READS,
                message,
            ),
            ServiceError::Order(order) => {
                let status = match order {
                    OrderError::Malformed(_) | OrderError::UnknownVersion(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    OrderError::Replayed(_) => StatusCode::CONFLICT,
                    OrderError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    OrderError::ReplayCacheFull => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::FORBIDDEN,
                };
                refuse(status, order.code(), message)
            }
            ServiceError::Store(store) => match store {
                StoreError::Full { .. } => {
                    refuse(StatusCode::INSUFFICIENT_STORAGE, codes::PEER_FULL, message)
                }
                StoreError::HashMismatch(_) => {
                    refuse(StatusCode::BAD_REQUEST, codes::PIECE_HASH_MISMATCH, message)
                }
                StoreError::WrongLength { .. } => {
                    refuse(StatusCode::BAD_REQUEST, codes::PIECE_WRONG_LENGTH, message)
                }
                StoreError::Interrupted(_) => {
                    refuse(StatusCode::BAD_REQUEST, codes::PIECE_INTERRUPTED, message)
                }
                StoreError::NotFound(_) => {
                    refuse(StatusCode::NOT_FOUND, codes::PIECE_NOT_FOUND, message)
                }
                StoreError::Io(_) => {
                    tracing::error!("piece store: {message}");
                    refuse(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        codes::INTERNAL,
                        "the peer failed to read or write its disk; see its log",
                    )
                }
            },
            ServiceError::Audit(audit) => match audit {
                AuditError::Empty | AuditError::Misaligned(_) => {
                    refuse(StatusCode::BAD_REQUEST, codes::BAD_AUDIT_RANGE, message)
                }
                AuditError::OutOfRange { .. } => {
                    refuse(StatusCode::RANGE_NOT_SATISFIABLE, codes::BAD_RANGE, message)
                }
                AuditError::Io(_) => {
                    tracing::error!("audit: {message}");
                    refuse(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        codes::INTERNAL,
                        "the peer failed to read its piece for an audit; see its log",
                    )
                }
            },
        }
    }
}

pub use cairn_net::http::{DEFAULT_BODY_TIMEOUT, MIN_BODY_RATE};

/// Parses a piece name from the URL: only a piece hash (64 lowercase hex digits) names a
/// file, so `..`, slashes and absolute paths never reach the disk.
fn piece(text: &str) -> Result<PieceHash, Refusal> {
    text.parse().map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("{:?} is not a piece hash: {e}", bounded(text, MAX_ECHOED)),
        )
    })
}

fn order(headers: &HeaderMap) -> Result<SignedOrder, Refusal> {
    let text = headers
        .get(ORDER_HEADER)
        .ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                codes::ORDER_MISSING,
                format!("the request has no {ORDER_HEADER} header; ask the pool for an order"),
            )
        })?
        .to_str()
        .map_err(|_| {
            refuse(
                StatusCode::BAD_REQUEST,
                codes::ORDER_MALFORMED,
                "the order header is not text",
            )
        })?;
    SignedOrder::from_header_value(text).map_err(|e| ServiceError::from(e).into())
}

/// The router serving the peer API, with the default [`DEFAULT_BODY_TIMEOUT`].
pub fn router(service: Arc<PeerService>) -> Router {
    router_with(service, DEFAULT_BODY_TIMEOUT)
}

/// The router serving the peer API; a piece body must arrive within `body_timeout` (see
/// [`crate::PeerConfig::body_timeout`]).
pub fn router_with(service: Arc<PeerService>, body_timeout: Duration) -> Router {
    Router::new()
        .route(PEER_STATUS, get(status))
        .route(
            "/v1/pieces/{hash}",
            get(get_piece)
                .put(move |state, hash, request| put_piece(state, hash, request, body_timeout))
                .delete(delete_piece),
        )
        .route("/v1/pieces/{hash}/audit", get(audit_piece))
        .route(READS, post(read_many))
        .route(
            WRITES,
            post(move |state, request| write_many(state, request, body_timeout)),
        )
        .fallback(unknown_endpoint)
        .layer(axum::middleware::from_fn(refusals))
        .with_state(service)
}

/// The fallback for a path no route serves: `404 unknown_endpoint`.
async fn unknown_endpoint(method: Method, uri: Uri) -> Refusal {
    refuse(
        StatusCode::NOT_FOUND,
        codes::UNKNOWN_ENDPOINT,
        format!(
            "the peer has no endpoint {method} {}; check the URL and that client and peer are the same version",
            bounded(uri.path(), MAX_ECHOED)
        ),
    )
}

/// Makes every refusal a JSON [`ErrorBody`] (axum answers an unknown method, a bad path or
/// query in plain text or not at all), and closes the connection after a refusal that left
/// a piece body unread.
async fn refusals(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = bounded(request.uri().path(), MAX_ECHOED);
    let response = json_refusal(next.run(request).await, &method, &path, "peer").await;
    let status = response.status();
    let refused = status.is_client_error() || status.is_server_error();
    if refused && (method == Method::PUT || status == StatusCode::REQUEST_TIMEOUT) {
        close(response)
    } else {
        response
    }
}

/// A piece body that ends in an error, marking `slow`, once it stalls for `timeout` or
/// runs past its deadline: the store then discards what it received, as for any cut-off
/// upload, instead of the handler being cancelled midway.
fn timed_body<S, E>(
    body: S,
    timeout: Duration,
    size: u64,
    slow: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, String>> + Send + Unpin
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    let deadline = BodyDeadline::new(timeout, size);
    futures_util::stream::unfold(Some(body), move |body| {
        let slow = slow.clone();
        async move {
            let mut body = body?;
            match tokio::time::timeout_at(deadline.next_chunk(), body.next()).await {
                Err(_) => {
                    slow.store(true, Ordering::Relaxed);
                    Some((Err("the piece body arrived too slowly".to_owned()), None))
                }
                Ok(None) => None,
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(body))),
                Ok(Some(Err(e))) => Some((Err(e.to_string()), None)),
            }
        }
    })
    .boxed()
}

async fn status(State(service): State<Arc<PeerService>>) -> Result<Json<PeerInfo>, Refusal> {
    let pool = service.pool().ok_or(ServiceError::PoolUnknown)?;
    let (used, piece_count) = service.store().usage();
    let (received, served) = service.traffic();
    Ok(Json(PeerInfo {
        peer: service.id(),
        pool,
        capacity: service.store().capacity(),
        used,
        piece_count,
        received,
        served,
    }))
}

async fn put_piece(
    State(service): State<Arc<PeerService>>,
    Path(hash): Path<String>,
    request: Request,
    body_timeout: Duration,
) -> Result<Response, Refusal> {
    let _in_flight = service.begin();
    let hash = piece(&hash)?;
    let order = order(request.headers())?;
    let size = content_length(request.headers(), "a piece upload")?;
    // Refuse an oversize body before reading a byte of it.
    if size > order.order.max_size {
        return Err(ServiceError::from(OrderError::TooLarge {
            size,
            max: order.order.max_size,
        })
        .into());
    }
    let slow = Arc::new(AtomicBool::new(false));
    let body = timed_body(
        request.into_body().into_data_stream(),
        body_timeout,
        size,
        slow.clone(),
    );
    match service.put(&order, hash, size, body).await {
        Ok(receipt) => {
            service.count_received(size);
            Ok((StatusCode::CREATED, Json(receipt)).into_response())
        }
        Err(_) if slow.load(Ordering::Relaxed) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            codes::REQUEST_TIMEOUT,
            format!(
                "the piece body arrived too slowly (nothing for {} s, or under {MIN_BODY_RATE} bytes a second); send it again",
                body_timeout.as_secs_f64()
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Parses `bytes=a-b` or `bytes=a-` against a piece of `total` bytes.
fn range(headers: &HeaderMap, total: u64) -> Result<Option<(u64, u64)>, Refusal> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        refuse(
            StatusCode::RANGE_NOT_SATISFIABLE,
            codes::BAD_RANGE,
            format!("the range must be bytes=a-b within the piece's {total} bytes"),
        )
    };
    let text = value.to_str().map_err(|_| unsatisfiable())?;
    let spec = text.strip_prefix("bytes=").ok_or_else(unsatisfiable)?;
    let (start, end) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let start: u64 = start.trim().parse().map_err(|_| unsatisfiable())?;
    let end: u64 = match end.trim() {
        "" => total.checked_sub(1).ok_or_else(unsatisfiable)?,
        end => end
            .parse::<u64>()
            .map_err(|_| unsatisfiable())?
            .min(total.saturating_sub(1)),
    };
    if start > end || start >= total {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

async fn get_piece(
    State(service): State<Arc<PeerService>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let _in_flight = service.begin();
    let hash = piece(&hash)?;
    let order = order(&headers)?;
    let (held, total) = service.get(&order, hash).await?;
    let io = |e: std::io::Error| Refusal::from(ServiceError::Store(StoreError::Io(e.to_string())));
    let range = range(&headers, total)?;
    let (start, len) = range.map_or((0, total), |(start, end)| (start, end - start + 1));
    service.count_served(len);
    let body = match held {
        HeldPiece::Bytes(bytes) => {
            let within = usize::try_from(start)
                .ok()
                .zip(usize::try_from(start + len).ok())
                .filter(|&(_, end)| end <= bytes.len());
            let (from, to) =
                within.ok_or_else(|| io(std::io::Error::other("a range past the piece")))?;
            Body::from(bytes.slice(from..to))
        }
        HeldPiece::File(mut file) => {
            if start > 0 {
                file.seek(SeekFrom::Start(start)).await.map_err(io)?;
            }
            // Each read is a trip to a blocking thread: read in large chunks, not 4 KiB.
            Body::from_stream(ReaderStream::with_capacity(file.take(len), READ_CHUNK))
        }
    };
    Ok(match range {
        None => (
            StatusCode::OK,
            [(header::CONTENT_LENGTH, total.to_string())],
            body,
        )
            .into_response(),
        Some((start, end)) => (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_LENGTH, len.to_string()),
                (
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{total}"),
                ),
            ],
            body,
        )
            .into_response(),
    })
}

/// `POST /v1/reads`: many small pieces under their get orders, one frame each.
async fn read_many(
    State(service): State<Arc<PeerService>>,
    body: Result<Json<ReadMany>, JsonRejection>,
) -> Result<Response, Refusal> {
    let _in_flight = service.begin();
    let Json(asked) = body.map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("a batch of reads is {{\"orders\": [get orders]}}: {e}"),
        )
    })?;
    let answers = service.read_many(&asked.orders).await?;
    let sent = answers.iter().flatten().map(|b| b.len() as u64).sum();
    service.count_served(sent);
    Ok(framed(
        answers
            .into_iter()
            .map(|answer| answer.map(|bytes| (StatusCode::OK, bytes))),
    ))
}

/// `POST /v1/writes`: many small pieces under their put orders, stored together (the
/// store groups them under one sync), a receipt or a refusal each.
async fn write_many(
    State(service): State<Arc<PeerService>>,
    request: Request,
    body_timeout: Duration,
) -> Result<Response, Refusal> {
    let _in_flight = service.begin();
    let size = content_length(request.headers(), "a batch of pieces")?;
    if size > MAX_WRITE_BYTES {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_MANY_WRITES,
            format!("{size} bytes sent at once; at most {MAX_WRITE_BYTES}"),
        ));
    }
    let slow = Arc::new(AtomicBool::new(false));
    let mut body = timed_body(
        request.into_body().into_data_stream(),
        body_timeout,
        size,
        slow.clone(),
    );
    let bad = |message: String| refuse(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            if slow.load(Ordering::Relaxed) {
                refuse(StatusCode::REQUEST_TIMEOUT, codes::REQUEST_TIMEOUT, e)
            } else {
                bad(format!("the batch was cut off: {e}"))
            }
        })?;
        if (bytes.len() + chunk.len()) as u64 > size {
            return Err(bad("the batch is longer than its Content-Length".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.len() as u64 != size {
        return Err(bad("the batch is shorter than its Content-Length".into()));
    }
    let writes = split_writes(&Bytes::from(bytes)).map_err(|e| bad(e.to_string()))?;
    if writes.len() > MAX_WRITES {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_MANY_WRITES,
            format!("{} pieces sent at once; at most {MAX_WRITES}", writes.len()),
        ));
    }
    // The orders' signatures are checked as one set, each order still answered alone.
    let vouched = service.vouch_many(writes.iter().map(|(order, _)| order))?;
    let stored = futures_util::future::join_all(writes.iter().zip(vouched).map(
        |((order, piece), vouched)| {
            let body =
                futures_util::stream::iter([Ok::<_, std::convert::Infallible>(piece.clone())]);
            service.put_vouched(vouched, order.order.piece, piece.len() as u64, body)
        },
    ))
    .await;
    let took = (writes.iter().zip(&stored))
        .filter(|(_, stored)| stored.is_ok())
        .map(|((_, piece), _)| piece.len() as u64)
        .sum();
    service.count_received(took);
    Ok(framed(stored.into_iter().map(|stored| {
        stored.map(|receipt| {
            let json = serde_json::to_vec(&receipt).unwrap_or_default();
            (StatusCode::CREATED, json)
        })
    })))
}

/// A batch's answer: a frame per item in order, its status and bytes, or its refusal's
/// status and `ErrorBody`.
fn framed<B: AsRef<[u8]>>(
    items: impl Iterator<Item = Result<(StatusCode, B), ServiceError>>,
) -> Response {
    let mut out = Vec::new();
    for item in items {
        match item {
            Ok((status, bytes)) => push_frame(&mut out, status.as_u16(), bytes.as_ref()),
            Err(e) => {
                let Refusal(status, body) = Refusal::from(e);
                push_frame(&mut out, status.as_u16(), body.to_json().as_bytes());
            }
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        out,
    )
        .into_response()
}

/// The request's `Content-Length`, which `what` must have.
fn content_length(headers: &HeaderMap, what: &str) -> Result<u64, Refusal> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            refuse(
                StatusCode::LENGTH_REQUIRED,
                codes::LENGTH_REQUIRED,
                format!("{what} needs a Content-Length"),
            )
        })
}

/// `GET /v1/pieces/{hash}/audit?start=&len=` under an audit order: the Bao slice.
async fn audit_piece(
    State(service): State<Arc<PeerService>>,
    Path(hash): Path<String>,
    query: Result<Query<AuditQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let _in_flight = service.begin();
    let hash = piece(&hash)?;
    let Query(query) = query.map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("an audit needs ?start=S&len=L in bytes: {e}"),
        )
    })?;
    let order = order(&headers)?;
    let slice = service.audit(&order, hash, query).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        slice,
    )
        .into_response())
}

async fn delete_piece(
    State(service): State<Arc<PeerService>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Refusal> {
    let hash = piece(&hash)?;
    let order = order(&headers)?;
    service.delete(&order, hash)?;
    Ok(StatusCode::NO_CONTENT)
}
