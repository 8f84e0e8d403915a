//! Hostile input against every pool endpoint, over real HTTP (raw TCP where a well-behaved
//! client would refuse to send it): malformed JSON, wrong types, empty and deeply nested
//! bodies, lying `Content-Length`s, oversize and trickling bodies, path traversal in path
//! segments and queries, unknown routes and wrong methods. Each answers a 4xx with a JSON
//! `ErrorBody` (or, for a stalled body, a `408` or a closed connection) within a bound, the
//! pool keeps answering, and nothing is stored.

use cairn_proto::codes;
use std::net::SocketAddr;
use std::time::Duration;

use cairn_pool::{PoolConfig, RunningPool};
use cairn_proto::RequestAuth;
use cairn_proto::api::NetworkStatus;
use cairn_proto::clock::now_ms;
use cairn_testkit::raw::{Answer, raw, read_answer};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The body timeout the test pool runs with.
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long past the body timeout an answer may take (a loaded CI machine).
const SLACK: Duration = Duration::from_secs(15);
/// An upload id that parses but names nothing.
const UPLOAD: &str = "00112233445566778899aabbccddeeff";

/// What the body of a route is decoded as.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    /// Not read at all (public, unsigned).
    Unread,
    /// Signed; any JSON (or none) is accepted and ignored.
    AnyJson,
    /// Signed; decoded as a typed request. The text has every field of the wrong type.
    Typed(&'static str),
    /// A body no signature covers (whoever has a share link), checked like `Typed`.
    Public(&'static str),
}

/// One endpoint: method, path (with a valid query where one is needed) and body kind.
struct Route {
    method: &'static str,
    path: String,
    body: Body,
}

fn route(method: &'static str, path: &str, body: Body) -> Route {
    Route {
        method,
        path: path.to_owned(),
        body,
    }
}

/// Every route of `cairn_pool::api::router`.
fn routes() -> Vec<Route> {
    use Body::*;
    let path = "?path=AAAAAAAAAAAAAAAAAAAAAA";
    vec![
        route("GET", "/v1/info", Unread),
        route("GET", "/v1/status", Unread),
        route("GET", "/metrics", Unread),
        route(
            "POST",
            "/v1/peers/register",
            Typed(r#"{"address":7,"zone":5,"capacity":"lots","used":-1,"pieces":"x"}"#),
        ),
        route(
            "POST",
            "/v1/peers/heartbeat",
            Typed(r#"{"used":"x","piece_count":1.5,"load":-1,"deleted":[1]}"#),
        ),
        route("POST", "/v1/peers/drain", AnyJson),
        route(
            "POST",
            "/v1/repairs/report",
            Typed(r#"{"job":1,"pieces":{},"error":false}"#),
        ),
        route(
            "POST",
            "/v1/reports/corrupt",
            Typed(r#"{"peer":"../../etc/passwd","hash":["zz"]}"#),
        ),
        route("POST", "/v1/account", AnyJson),
        route("GET", "/v1/account/health", AnyJson),
        route("GET", "/v1/account/usage", AnyJson),
        route(
            "POST",
            "/v1/uploads",
            Typed(r#"{"path":["a"],"redundancy":3}"#),
        ),
        route(
            "POST",
            "/v1/uploads/many",
            Typed(r#"{"uploads":[{"path":["a"],"redundancy":3}]}"#),
        ),
        route(
            "POST",
            "/v1/uploads/commits",
            Typed(r#"{"commits":[{"upload":1,"commit":{"size":"1"}}]}"#),
        ),
        route("DELETE", &format!("/v1/uploads/{UPLOAD}"), AnyJson),
        route(
            "POST",
            &format!("/v1/uploads/{UPLOAD}/commit"),
            Typed(r#"{"metadata":1,"size":"1","segment_count":-1}"#),
        ),
        route(
            "POST",
            &format!("/v1/uploads/{UPLOAD}/segments/0/place"),
            Typed(r#"{"piece_size":-5,"fragments":[{"fragment":70000,"hash":1}]}"#),
        ),
        route(
            "POST",
            &format!("/v1/uploads/{UPLOAD}/segments/0/commit"),
            Typed(r#"{"pieces":[{"fragment":0,"receipt":"r"}]}"#),
        ),
        route("GET", "/v1/objects", AnyJson),
        route("POST", "/v1/objects/sources", Typed(r#"{"paths":"a"}"#)),
        route("GET", &format!("/v1/object{path}"), AnyJson),
        route("DELETE", &format!("/v1/object{path}"), AnyJson),
        route("GET", &format!("/v1/object/health{path}"), AnyJson),
        route("GET", "/v1/objects/level", AnyJson),
        route(
            "GET",
            &format!("/v1/object/range{path}&first=0&last=0"),
            AnyJson,
        ),
        route("POST", "/v1/rename", Typed(r#"{"from":null,"to":{}}"#)),
        route(
            "POST",
            "/v1/ledger/find",
            Typed(r#"{"locator":7,"after":"x"}"#),
        ),
        route(
            "POST",
            "/v1/objects/import",
            Typed(r#"{"objects":[{"object":"zz","segments":{}}]}"#),
        ),
        route(
            "POST",
            "/v1/shares",
            Typed(r#"{"id":"zz","token_hash":1,"manifest":[],"objects":"x"}"#),
        ),
        route("GET", "/v1/shares", AnyJson),
        route("POST", "/v1/shares/revoke", Typed(r#"{"id":7}"#)),
        route(
            "POST",
            "/v1/public/shares/open",
            Public(r#"{"id":"../..","token":["x"]}"#),
        ),
        route(
            "POST",
            "/v1/public/shares/sources",
            Public(r#"{"id":"00","token":"x","objects":"all"}"#),
        ),
        route("GET", "/s/..%2F..%2Fetc", Unread),
        route("GET", "/s/%3Cscript%3E/zz", Unread),
    ]
}

/// Whether concrete `path` (query ignored) is an instance of router `pattern`.
fn instance_of(pattern: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (pattern, path): (Vec<_>, Vec<_>) =
        (pattern.split('/').collect(), path.split('/').collect());
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| p.starts_with('{') || p == s)
}

/// The table above covers every route the router serves, so a new route cannot skip
/// these tests.
#[test]
fn every_route_is_exercised() {
    for (method, pattern) in cairn_pool::api::ROUTES {
        assert!(
            routes()
                .iter()
                .any(|r| r.method == *method && instance_of(pattern, &r.path)),
            "{method} {pattern} is missing from routes()"
        );
    }
}

/// A fresh key, so every request is a new account or an unknown peer.
fn key() -> SigningKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SigningKey::from_bytes(&bytes)
}

/// The four auth headers of `method path` with `body`, signed by a fresh key.
fn auth(method: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    RequestAuth::sign(&key(), method, path, body, now_ms(), nonce)
        .headers()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// A signed request with `body` and its true length.
async fn signed(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut headers = auth(method, path, body);
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("content-length".into(), body.len().to_string()));
    raw(addr, method, path, &headers, body, SLACK).await
}

/// What the pool holds, as its status shows it.
#[derive(Debug, PartialEq)]
struct Holdings {
    peers: usize,
    objects: u64,
    bytes: u64,
    open_uploads: u64,
}

struct Pool {
    pool: RunningPool,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Pool {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = PoolConfig::new(dir.path().to_owned(), "127.0.0.1:0".parse().unwrap());
        config.body_timeout = BODY_TIMEOUT;
        let pool = RunningPool::start(config).await.unwrap();
        let addr = pool.local_addr();
        Self {
            pool,
            addr,
            _dir: dir,
        }
    }

    /// The pool still answers, and holds what it held.
    async fn holdings(&self) -> Holdings {
        let status: NetworkStatus = reqwest::get(format!("http://{}/v1/status", self.addr))
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        Holdings {
            peers: status.peers.len(),
            objects: status.objects,
            bytes: status.bytes,
            open_uploads: status.open_uploads,
        }
    }
}

#[tokio::test]
async fn malformed_wrong_typed_empty_and_unsigned_bodies_are_refused() {
    let pool = Pool::start().await;
    let before = pool.holdings().await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for route in routes() {
        let (method, path) = (route.method, route.path.as_str());
        if route.body == Body::Unread {
            continue;
        }
        let what = format!("{method} {path}");
        // Unsigned, with a body that would be fine (a public route reads it, and finds it
        // lacking).
        let answer = raw(
            pool.addr,
            method,
            path,
            &[("content-length".into(), "2".into())],
            b"{}",
            SLACK,
        )
        .await;
        let (status, error) = answer.refusal(&format!("{what} unsigned"));
        let unsigned = match route.body {
            Body::Public(_) => (400, codes::BAD_REQUEST),
            _ => (401, codes::AUTH_MISSING),
        };
        assert_eq!((status, error.code.as_str()), unsigned, "{what}");

        // Malformed JSON, and JSON nested far past any parser's patience (past a public
        // route's smaller body limit too).
        for body in [&b"{\"a\":"[..], b"\xff\xfe garbage", nested.as_bytes()] {
            let answer = signed(pool.addr, method, path, body).await;
            let (status, error) = answer.refusal(&format!("{what} malformed"));
            let expected = match route.body {
                Body::Public(_) if body.len() > cairn_pool::api::MAX_PUBLIC_BODY => {
                    (413, codes::REQUEST_TOO_LARGE)
                }
                _ => (400, codes::BAD_REQUEST),
            };
            assert_eq!((status, error.code.as_str()), expected, "{what}");
            assert!(error.message.chars().count() < 500, "{what}: {error}");
        }

        if let Body::Typed(wrong) | Body::Public(wrong) = route.body {
            for body in [wrong, "", "null", "[]", "\"text\"", "-1", "{}", "1e999"] {
                let answer = signed(pool.addr, method, path, body.as_bytes()).await;
                let (status, error) = answer.refusal(&format!("{what} with {body:?}"));
                assert_eq!(
                    (status, error.code.as_str()),
                    (400, codes::BAD_REQUEST),
                    "{what}"
                );
            }
        }
    }
    assert_eq!(pool.holdings().await, before);
    pool.pool.shutdown().await;
}

#[tokio::test]
async fn lying_and_oversize_bodies_are_refused_without_being_read() {
    let pool = Pool::start().await;
    let before = pool.holdings().await;
    for route in routes() {
        let (method, path) = (route.method, route.path.as_str());
        let what = format!("{method} {path}");
        // A terabyte declared, ten bytes sent: refused at once, before any handler.
        let mut headers = auth(method, path, b"{}");
        headers.push(("content-length".into(), "1000000000000".into()));
        let answer = raw(pool.addr, method, path, &headers, b"{\"a\":1234", SLACK).await;
        let (status, error) = answer.refusal(&format!("{what} lying length"));
        assert_eq!(
            (status, error.code.as_str()),
            (413, codes::REQUEST_TOO_LARGE)
        );
    }
    // A body past the limit, sent chunked without a declared length, is cut off at the
    // limit: the pool answers 413 (or closes) while the client is still sending.
    let chunk = vec![b' '; 1 << 20];
    let chunked = format!("{:x}\r\n", chunk.len());
    let mut answered = 0;
    for route in routes().into_iter().filter(|r| r.body != Body::Unread) {
        let (method, path) = (route.method, route.path.as_str());
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", pool.addr);
        for (name, value) in auth(method, path, b"{}") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        let mut stream = TcpStream::connect(pool.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut sent = 0;
        while sent <= cairn_proto::limits::MAX_SIGNED_BODY {
            let frame = [chunked.as_bytes(), &chunk, b"\r\n"].concat();
            if stream.write_all(&frame).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        let answer = tokio::time::timeout(SLACK, read_answer(&mut stream))
            .await
            .unwrap();
        if !matches!(answer, Answer::Closed) {
            let (status, error) = answer.refusal(&format!("{method} {path} oversize"));
            assert_eq!(
                (status, error.code.as_str()),
                (413, codes::REQUEST_TOO_LARGE)
            );
            answered += 1;
        }
    }
    assert!(answered > 0, "every oversize body was met by a bare close");
    assert_eq!(pool.holdings().await, before);
    pool.pool.shutdown().await;
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_after_the_body_timeout() {
    let pool = Pool::start().await;
    let before = pool.holdings().await;
    let stalls = routes().into_iter().map(|route| {
        let addr = pool.addr;
        async move {
            let (method, path) = (route.method, route.path.as_str());
            let mut headers = auth(method, path, &[b' '; 1000]);
            headers.push(("content-length".into(), "1000".into()));
            // Ten bytes, then nothing: the client stalls for good.
            let answer = raw(
                addr,
                method,
                path,
                &headers,
                b"{\"used\": 1",
                BODY_TIMEOUT + SLACK,
            )
            .await;
            if route.body == Body::Unread {
                // The body is never read: the answer comes at once.
                assert!(
                    matches!(answer, Answer::Response { status: 200, .. }),
                    "{answer:?}"
                );
            } else {
                let (status, error) = answer.refusal(&format!("{method} {path} stalled"));
                assert_eq!((status, error.code.as_str()), (408, codes::REQUEST_TIMEOUT));
            }
        }
    });
    futures_util::future::join_all(stalls).await;
    assert_eq!(pool.holdings().await, before);
    pool.pool.shutdown().await;
}

#[tokio::test]
async fn traversal_in_path_segments_and_queries_is_refused() {
    let pool = Pool::start().await;
    let before = pool.holdings().await;
    let long = "a".repeat(10_000);
    let names = [
        "..",
        "%2e%2e",
        "..%2f..%2fetc%2fpasswd",
        "%2fetc%2fpasswd",
        "%00",
        "C:%5cwindows",
        long.as_str(),
    ];
    for name in names {
        // Well-formed bodies, so the refusal is the name's.
        for (method, path, body) in [
            ("DELETE", format!("/v1/uploads/{name}"), ""),
            (
                "POST",
                format!("/v1/uploads/{name}/commit"),
                r#"{"metadata":"","size":0,"segment_count":0}"#,
            ),
            (
                "POST",
                format!("/v1/uploads/{name}/segments/0/place"),
                r#"{"piece_size":1,"fragments":[]}"#,
            ),
            (
                "POST",
                format!("/v1/uploads/{UPLOAD}/segments/{name}/commit"),
                r#"{"pieces":[]}"#,
            ),
            ("GET", format!("/v1/object?path={name}"), ""),
            ("DELETE", format!("/v1/object?path={name}"), ""),
            ("GET", format!("/v1/object/health?path={name}"), ""),
            ("GET", format!("/v1/objects?prefix={name}"), ""),
            ("GET", format!("/v1/objects/level?prefix={name}"), ""),
            (
                "GET",
                format!("/v1/object/range?path={name}&first=0&last=0"),
                "",
            ),
            (
                "POST",
                "/v1/objects/sources".to_owned(),
                &*format!(r#"{{"paths":["{name}"]}}"#),
            ),
            (
                "POST",
                "/v1/uploads".to_owned(),
                &*format!(r#"{{"path":"{name}","redundancy":"auto"}}"#),
            ),
            (
                "POST",
                "/v1/rename".to_owned(),
                &*format!(r#"{{"from":"{name}","to":"AAAAAAAAAAAAAAAAAAAAAA"}}"#),
            ),
        ] {
            let answer = signed(pool.addr, method, &path, body.as_bytes()).await;
            let (status, _) = answer.refusal(&format!("{method} {path}"));
            assert_eq!(status, 400, "{method} {path}");
        }
    }
    // A query missing or of the wrong type is refused the same way.
    for (method, path) in [
        ("GET", "/v1/object"),
        ("GET", "/v1/objects?limit=-1"),
        ("GET", "/v1/objects?limit=many"),
        ("GET", "/v1/objects/level?limit=-1"),
        (
            "GET",
            "/v1/object/range?path=AAAAAAAAAAAAAAAAAAAAAA&first=2&last=1",
        ),
        (
            "GET",
            "/v1/object/range?path=AAAAAAAAAAAAAAAAAAAAAA&first=0&last=x",
        ),
        ("POST", "/v1/uploads/00/segments/4294967296/place"),
        ("POST", "/v1/uploads/00/segments/-1/commit"),
    ] {
        let answer = signed(pool.addr, method, path, b"{}").await;
        let (status, error) = answer.refusal(&format!("{method} {path}"));
        assert_eq!(
            (status, error.code.as_str()),
            (400, codes::BAD_REQUEST),
            "{path}"
        );
    }
    assert_eq!(pool.holdings().await, before);
    pool.pool.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let pool = Pool::start().await;
    let before = pool.holdings().await;
    for path in [
        "/",
        "/v1",
        "/v2/status",
        "/v1/status/../../etc/passwd",
        "/v1/%2e%2e/v1/status",
        "/v1/pieces/00",
        "//etc/passwd",
        "/v1/uploads/x/segments",
    ] {
        let answer = signed(pool.addr, "GET", path, b"").await;
        let (status, error) = answer.refusal(&format!("GET {path}"));
        assert_eq!(
            (status, error.code.as_str()),
            (404, codes::UNKNOWN_ENDPOINT)
        );
    }
    for route in routes() {
        let path = route.path.as_str();
        // A method the path does not serve (`/v1/shares` serves both GET and POST).
        let served: Vec<&str> = (cairn_pool::api::ROUTES.iter())
            .filter(|(_, pattern)| instance_of(pattern, path))
            .map(|(method, _)| *method)
            .collect();
        let wrong = ["PUT", "GET", "POST", "DELETE"]
            .into_iter()
            .find(|m| !served.contains(m))
            .unwrap();
        for method in ["PATCH", wrong] {
            let answer = signed(pool.addr, method, path, b"{}").await;
            let (status, error) = answer.refusal(&format!("{method} {path}"));
            assert_eq!(
                (status, error.code.as_str()),
                (405, codes::METHOD_NOT_ALLOWED),
                "{method} {path}"
            );
            let Answer::Response { head, .. } = answer else {
                unreachable!()
            };
            assert!(head.to_ascii_lowercase().contains("allow:"), "{head}");
        }
    }
    // Not HTTP at all: the connection is dropped or refused, and the pool carries on.
    let mut stream = TcpStream::connect(pool.addr).await.unwrap();
    stream
        .write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        .await
        .unwrap();
    let answer = tokio::time::timeout(SLACK, read_answer(&mut stream))
        .await
        .unwrap();
    assert!(
        matches!(
            answer,
            Answer::Closed | Answer::Response { status: 400, .. }
        ),
        "{answer:?}"
    );
    assert_eq!(pool.holdings().await, before);
    pool.pool.shutdown().await;
}
