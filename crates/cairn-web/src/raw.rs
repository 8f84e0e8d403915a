//! A file's bytes for the browser: downloads (`?download=1`, always an attachment) and
//! previews, streamed from the peers as they are read, with single byte ranges so a
//! browser can resume a download and a video can seek.
//!
//! User files must never run script in the drive's origin: everything is served under a
//! `sandbox` Content-Security-Policy with `nosniff`, and only kinds a browser shows without
//! running anything (images but SVG, audio, video, PDF, plain text) are ever inline; HTML,
//! SVG and everything else is an attachment.

use std::ops::Range;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_client::{ClientError, Kind};
use serde::Deserialize;
use tokio_util::io::ReaderStream;

use crate::error::Failure;
use crate::routes::{Page, gate, remote_path};
use crate::state::AppState;
use crate::transfers::Direction;

/// How a file can be previewed in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preview {
    Image,
    Video,
    Audio,
    Pdf,
    Text,
    None,
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The preview a file's name allows.
pub(crate) fn preview_of(name: &str) -> Preview {
    match extension(name).as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "avif" | "bmp" | "ico" => Preview::Image,
        "mp4" | "m4v" | "webm" | "ogv" | "mov" => Preview::Video,
        "mp3" | "m4a" | "aac" | "oga" | "ogg" | "opus" | "wav" | "flac" => Preview::Audio,
        "pdf" => Preview::Pdf,
        "txt" | "md" | "markdown" | "csv" | "tsv" | "log" | "json" | "toml" | "yaml" | "yml"
        | "ini" | "cfg" | "conf" | "rs" | "py" | "js" | "ts" | "c" | "h" | "cpp" | "go"
        | "java" | "sh" | "css" | "html" | "htm" | "xml" | "svg" | "sql" | "rst" | "tex" => {
            Preview::Text
        }
        _ => Preview::None,
    }
}

/// The type a file is served with inline, or `None` when it must be an attachment.
fn inline_type(name: &str) -> Option<String> {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    match preview_of(name) {
        Preview::Image | Preview::Video | Preview::Audio | Preview::Pdf => {
            Some(mime.essence_str().to_owned())
        }
        // Text of any kind (HTML and SVG included) is shown as plain text, never rendered.
        Preview::Text => Some("text/plain; charset=utf-8".to_owned()),
        Preview::None => None,
    }
}

/// The policy of a user's file: a sandbox, no script, nothing loaded from anywhere.
pub(crate) const FILE_POLICY: &str =
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";
/// A PDF needs the browser's viewer, which a sandbox blocks; it still loads nothing else.
const PDF_POLICY: &str = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'self'";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawQuery {
    #[serde(default)]
    download: Option<String>,
}

/// The byte range a `Range` header asks for, if it is one single range this can serve:
/// `Ok(None)` for the whole file, `Err(())` when it cannot be satisfied.
pub(crate) fn byte_range(headers: &HeaderMap, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Several ranges: the whole file is a correct answer.
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let range = match (first.trim(), last.trim()) {
        ("", "") => return Ok(None),
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            size.saturating_sub(n)..size
        }
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| ())?;
            let end = if end.is_empty() {
                size
            } else {
                end.parse::<u64>()
                    .map_err(|_| ())?
                    .saturating_add(1)
                    .min(size)
            };
            start..end
        }
    };
    if range.start >= size || range.start >= range.end {
        return Err(());
    }
    Ok(Some(range))
}

/// The head of an answer with `size` bytes, whole or the one range `headers` ask for
/// (unless `If-Range` names another `etag`): the bytes to send and the response so far
/// (status, `Accept-Ranges`, `Content-Length`, `Content-Range`); or why it cannot be.
pub(crate) fn ranged(
    headers: &HeaderMap,
    size: u64,
    etag: Option<&str>,
) -> Result<(Range<u64>, axum::http::response::Builder), Unsatisfiable> {
    let mut range = byte_range(headers, size).map_err(|()| Unsatisfiable(size))?;
    // A resumed download of a file that changed since gets the whole new file.
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && etag.is_none_or(|etag| if_range != etag)
    {
        range = None;
    }
    let bytes = range.clone().unwrap_or(0..size);
    let mut response = Response::builder()
        .status(if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, bytes.end - bytes.start);
    if range.is_some() {
        response = response.header(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{size}",
                bytes.start,
                bytes.end.saturating_sub(1)
            ),
        );
    }
    Ok((bytes, response))
}

/// A range beyond a file of this many bytes: 416, with the size.
pub(crate) struct Unsatisfiable(u64);

impl IntoResponse for Unsatisfiable {
    fn into_response(self) -> Response {
        let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", self.0)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        response
    }
}

/// A body of the bytes `write` puts into its pipe on a task of its own: at most a few
/// segments in memory, and a browser that stops reading stops the writing.
pub(crate) fn piped<F, Fut>(write: F) -> Body
where
    F: FnOnce(tokio::io::DuplexStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (writer, reader) = tokio::io::duplex(256 * 1024);
    tokio::spawn(write(writer));
    Body::from_stream(ReaderStream::new(reader))
}

/// The `Content-Disposition` of a download named `name`.
pub(crate) fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /raw/{path}`: the file's bytes, whole or one range.
pub(crate) async fn serve(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(query): Query<RawQuery>,
    method: Method,
    headers: HeaderMap,
) -> Page {
    let drive = gate(&state)?;
    let path = remote_path(Some(&path))?;
    let stat = match drive.stat(&path).await? {
        Some(stat) if stat.kind == Kind::File => stat,
        Some(_) => return Err(ClientError::IsFolder(path).into()),
        None => return Err(ClientError::NotFound(path).into()),
    };
    let size = stat.size;
    let name = path
        .file_name()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let modified = stat.modified.map_or(0, |t| t.secs);
    let etag = format!("\"{size:x}-{modified:x}\"");
    let (bytes, mut response) = match ranged(&headers, size, Some(&etag)) {
        Ok(head) => head,
        Err(refused) => return Ok(refused.into_response()),
    };
    let download = query.download.is_some();
    let inline = if download { None } else { inline_type(&name) };
    let len = bytes.end - bytes.start;
    response = response
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "private, no-cache")
        .header(header::X_FRAME_OPTIONS, "SAMEORIGIN");
    response = match &inline {
        Some(mime) => response
            .header(header::CONTENT_TYPE, mime)
            .header(header::CONTENT_DISPOSITION, "inline")
            .header(
                header::CONTENT_SECURITY_POLICY,
                if mime == "application/pdf" {
                    PDF_POLICY
                } else {
                    FILE_POLICY
                },
            ),
        None => response
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_DISPOSITION, attachment(&name))
            .header(header::CONTENT_SECURITY_POLICY, FILE_POLICY),
    };
    if method == Method::HEAD || len == 0 {
        return response
            .body(Body::empty())
            .map_err(|e| Failure::bad_request(e.to_string()).into());
    }
    let progress = download.then(|| {
        state
            .transfers()
            .begin(path.to_string(), Direction::Download, len)
    });
    response
        .body(piped(|mut writer| async move {
            let sink = progress
                .as_ref()
                .map_or_else(cairn_client::Progress::silent, |t| t.progress());
            let result = drive.get_range_to(&path, bytes, &mut writer, &sink).await;
            if let Some(transfer) = &progress {
                transfer.finish(&result);
            }
            if let Err(error) = result {
                tracing::warn!("serving {path} stopped: {error}");
            }
        }))
        .map_err(|e| Failure::bad_request(e.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranged(value: &str, size: u64) -> Result<Option<Range<u64>>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        byte_range(&headers, size)
    }

    #[test]
    fn single_ranges_are_served_and_others_refused_or_ignored() {
        assert_eq!(ranged("bytes=0-99", 1000), Ok(Some(0..100)));
        assert_eq!(ranged("bytes=900-", 1000), Ok(Some(900..1000)));
        assert_eq!(ranged("bytes=-100", 1000), Ok(Some(900..1000)));
        assert_eq!(ranged("bytes=990-2000", 1000), Ok(Some(990..1000)));
        assert_eq!(ranged("bytes=1000-", 1000), Err(()));
        assert_eq!(ranged("bytes=5-2", 1000), Err(()));
        assert_eq!(ranged("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(ranged("items=0-1", 1000), Ok(None));
        assert_eq!(ranged("bytes=x-", 1000), Err(()));
    }

    #[test]
    fn only_harmless_kinds_are_inline() {
        assert_eq!(inline_type("a.PNG").as_deref(), Some("image/png"));
        assert_eq!(inline_type("a.mp4").as_deref(), Some("video/mp4"));
        assert_eq!(
            inline_type("page.html").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            inline_type("logo.svg").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(inline_type("tool.exe"), None);
        assert!(attachment("ré\"sumé.pdf").starts_with("attachment; filename=\"r__sum"));
    }
}
