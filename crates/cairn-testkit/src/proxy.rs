//! A pass-through HTTP proxy in front of a pool for tests: it forwards every request
//! unchanged (signatures cover the path and body, not the host), records each one's method
//! and path, and can hold requests (all, or those a test picks by method, URI and body)
//! until let go — to count what a call asked the pool, or to catch a change half way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use reqwest::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use tokio::sync::watch;

/// Picks requests to hold, by method, path and query, and body.
type Pick = Box<dyn Fn(&str, &str, &[u8]) -> bool + Send + Sync>;

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// Its base URL, to give in place of the pool's.
    pub url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    open: watch::Sender<bool>,
    held: Arc<AtomicUsize>,
    pick: Arc<Mutex<Option<Pick>>>,
    released: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// An open proxy to the server at `target` (a base URL).
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the proxy's address")
        );
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (open, opened) = watch::channel(true);
        let held = Arc::new(AtomicUsize::new(0));
        let pick: Arc<Mutex<Option<Pick>>> = Arc::default();
        let (released, releases) = watch::channel(0u64);
        let http = reqwest::Client::new();
        let target = target.to_owned();
        let (log, counter, wanted) = (seen.clone(), held.clone(), pick.clone());
        let app = axum::Router::new().fallback(move |request: Request| {
            let (http, target, log, counter, wanted) = (
                http.clone(),
                target.clone(),
                log.clone(),
                counter.clone(),
                wanted.clone(),
            );
            let mut opened = opened.clone();
            let mut releases = releases.clone();
            async move {
                // Noted before the pick is asked, so a release in between is not missed.
                let release = *releases.borrow_and_update();
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .expect("the request's body");
                let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let matches = (wanted.lock().expect("the proxy's pick").as_ref())
                    .is_some_and(|pick| pick(parts.method.as_str(), uri, &body));
                if matches {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = releases.wait_for(|r| *r != release).await;
                }
                if !*opened.borrow() {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = opened.wait_for(|open| *open).await;
                }
                forward(&http, &target, parts, body, &log).await
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            seen,
            open,
            held,
            pick,
            released,
            task,
        }
    }

    /// Holds, from now on, every request whose body holds `text`, until [`Self::open`].
    pub fn hold_containing(&self, text: &str) {
        let needle = text.as_bytes().to_vec();
        self.hold_when(move |_, _, body| {
            body.windows(needle.len().max(1))
                .any(|w| w == needle.as_slice())
        });
    }

    /// Holds, from now on, every request `pick` chooses by its method, path and query,
    /// and body, until [`Self::open`].
    pub fn hold_when(&self, pick: impl Fn(&str, &str, &[u8]) -> bool + Send + Sync + 'static) {
        *self.pick.lock().expect("the proxy's pick") = Some(Box::new(pick));
    }

    /// Requests seen so far, as (method, path), and forgets them.
    pub fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.seen.lock().expect("the proxy's log"))
    }

    /// Holds every request from now on.
    pub fn close(&self) {
        self.open.send_replace(false);
    }

    /// Lets held and later requests through.
    pub fn open(&self) {
        *self.pick.lock().expect("the proxy's pick") = None;
        self.released.send_modify(|r| *r += 1);
        self.open.send_replace(true);
    }

    /// Requests held since the proxy was first closed.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

/// Sends `request` on to `target` and answers with what came back.
async fn forward(
    http: &reqwest::Client,
    target: &str,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
    log: &Mutex<Vec<(String, String)>>,
) -> Response {
    log.lock()
        .expect("the proxy's log")
        .push((parts.method.to_string(), parts.uri.path().to_owned()));
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    headers.remove(HOST);
    let answer = http
        .request(parts.method, format!("{target}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("the target answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != TRANSFER_ENCODING && name != CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.expect("the target's answer");
    response
        .body(Body::from(bytes))
        .expect("a response of the target's parts")
}
