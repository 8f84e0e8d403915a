//! Raw HTTP/1.1 over TCP, for tests that send what no client library would: lying
//! lengths, stalled bodies, garbage heads — and read whatever comes back, or the close.

use std::net::SocketAddr;
use std::time::Duration;

use cairn_proto::ErrorBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a raw request got back.
#[derive(Debug)]
pub enum Answer {
    /// The connection closed without an answer.
    Closed,
    /// An HTTP answer.
    Response {
        /// Its status code (0 if unreadable).
        status: u16,
        /// The status line and headers.
        head: String,
        /// The body, as far as it came.
        body: Vec<u8>,
    },
}

impl Answer {
    /// The status and error body of a JSON 4xx refusal; panics (failing the test)
    /// otherwise, naming `what`.
    pub fn refusal(&self, what: &str) -> (u16, ErrorBody) {
        let Answer::Response { status, head, body } = self else {
            panic!("{what}: the connection closed without an answer");
        };
        assert!(
            (400..500).contains(status),
            "{what}: expected a 4xx, got {status}: {}",
            String::from_utf8_lossy(body)
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{what}: not JSON: {head}"
        );
        let error = ErrorBody::from_json(body).unwrap_or_else(|e| {
            panic!(
                "{what}: {status} without an ErrorBody ({e}): {:?}",
                String::from_utf8_lossy(body)
            )
        });
        assert!(
            !error.code.is_empty() && !error.message.is_empty(),
            "{what}"
        );
        (*status, error)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Reads one answer: to the end of its `Content-Length`, or until the server closes.
pub async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if let Some(n) = length.filter(|n| buf.len() >= end + 4 + n) {
                let body = buf[end + 4..end + 4 + n].to_vec();
                let status = status_of(&head);
                return Answer::Response { status, head, body };
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    match find(&buf, b"\r\n\r\n") {
        Some(end) => {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            Answer::Response {
                status: status_of(&head),
                head,
                body: buf[end + 4..].to_vec(),
            }
        }
        None => Answer::Closed,
    }
}

/// Sends a request head (`headers` plus `Host`) and `body` as raw bytes to `addr`, then
/// waits at most `within` for the answer or the connection closing (panicking after).
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    within: Duration,
) -> Answer {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("cannot send to {addr}: {e}"));
    // The server may refuse before reading the body and close; that is a fine answer.
    let _ = stream.write_all(body).await;
    tokio::time::timeout(within, read_answer(&mut stream))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer and no close within {within:?}"))
}
