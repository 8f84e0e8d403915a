//! Hostile input against every peer endpoint, over raw TCP so nothing is tidied up by a
//! client: garbage orders, bodies that are not the piece, lying and missing
//! `Content-Length`s, oversize and trickling bodies, path traversal in piece names, bad
//! audit queries, unknown routes and wrong methods. Each answers a 4xx with a JSON
//! `ErrorBody` (or, for a stalled body, a `408` or a closed connection) within a bound, the
//! peer keeps answering, and no piece file, temp file or index row is left.

use cairn_proto::codes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{AccountId, PieceHash};
use cairn_peer::{PeerService, PieceStore, server};
use cairn_proto::clock::now_secs as now;
use cairn_proto::order::ORDER_HEADER;
use cairn_proto::peer_api::PeerInfo;
use cairn_proto::{ErrorBody, Holder, Order, OrderAction, OrderSerial, OrderSigner};
use cairn_testkit::raw::{Answer, raw, read_answer};
use ed25519_dalek::SigningKey;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The body timeout the test peer runs with.
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long past the body timeout an answer may take (a loaded CI machine).
const SLACK: Duration = Duration::from_secs(15);
/// The size every put order in these tests allows.
const MAX_SIZE: u64 = 1000;

struct Peer {
    addr: SocketAddr,
    service: Arc<PeerService>,
    pool: OrderSigner,
    dir: tempfile::TempDir,
    serial: std::sync::atomic::AtomicU64,
}

async fn start() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let store = PieceStore::open(dir.path(), 1 << 20).unwrap();
    let service = Arc::new(PeerService::new(store, SigningKey::from_bytes(&[1; 32])));
    let pool = OrderSigner::new(SigningKey::from_bytes(&[2; 32]));
    service.trust_pool(pool.pool_id());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = server::router_with(service.clone(), BODY_TIMEOUT);
    tokio::spawn(axum::serve(listener, router).into_future());
    Peer {
        addr,
        service,
        pool,
        dir,
        serial: 1.into(),
    }
}

impl Peer {
    /// A fresh, valid order header for `action` on `piece`.
    fn order(&self, action: OrderAction, piece: PieceHash) -> (String, String) {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let order = Order {
            pool: self.pool.pool_id(),
            peer: self.service.id(),
            piece,
            action,
            max_size: MAX_SIZE,
            holder: Holder::Account(AccountId::from_verifying_key(
                &SigningKey::from_bytes(&[3; 32]).verifying_key(),
            )),
            serial: OrderSerial(serial),
            expires_at: now() + 600,
        };
        (
            ORDER_HEADER.to_owned(),
            self.pool.sign(order).unwrap().to_header_value(),
        )
    }

    /// Files under `pieces/` and `tmp/`.
    fn files(&self) -> usize {
        cairn_testkit::files_under(&self.dir.path().join("pieces"))
            + cairn_testkit::files_under(&self.dir.path().join("tmp"))
    }

    /// The peer still answers, and holds nothing: no index row, no file, no usage.
    async fn assert_empty(&self, what: &str) {
        let info: PeerInfo = reqwest::get(format!("http://{}/v1/status", self.addr))
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!((info.used, info.piece_count), (0, 0), "{what}");
        assert_eq!(self.service.store().usage(), (0, 0), "{what}");
        assert_eq!(self.files(), 0, "{what}");
    }
}

/// A peer's refusal: a JSON 4xx whose message stays short.
trait PeerRefusal {
    fn peer_refusal(&self, what: &str) -> (u16, ErrorBody);
}

impl PeerRefusal for Answer {
    fn peer_refusal(&self, what: &str) -> (u16, ErrorBody) {
        let (status, error) = self.refusal(what);
        assert!(error.message.chars().count() < 500, "{what}: {error}");
        (status, error)
    }
}

/// Polls `condition` until it holds, failing the test after [`SLACK`].
async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    cairn_testkit::wait_until(what, SLACK, || {
        let holds = condition();
        async move { holds.then_some(()) }
    })
    .await
    .unwrap();
}

/// `headers` plus a true `Content-Length` for `body`.
fn with_length(mut headers: Vec<(String, String)>, body: &[u8]) -> Vec<(String, String)> {
    headers.push(("content-length".into(), body.len().to_string()));
    headers
}

/// The piece routes of `cairn_peer::server::router` for `piece`: method, path, action.
fn piece_routes(piece: &str) -> [(&'static str, String, OrderAction); 4] {
    [
        ("PUT", format!("/v1/pieces/{piece}"), OrderAction::Put),
        ("GET", format!("/v1/pieces/{piece}"), OrderAction::Get),
        ("DELETE", format!("/v1/pieces/{piece}"), OrderAction::Delete),
        (
            "GET",
            format!("/v1/pieces/{piece}/audit?start=0&len=1024"),
            OrderAction::Audit,
        ),
    ]
}

#[tokio::test]
async fn garbage_orders_are_refused_on_every_piece_route() {
    let peer = start().await;
    let hash = PieceHash::of(b"piece");
    // Right length and alphabet, wrong bytes; and a real order with its version mangled.
    let random_order = "B".repeat(cairn_proto::order::SIGNED_ORDER_TEXT_LEN);
    let mangled = format!("_{}", &peer.order(OrderAction::Get, hash).1[1..]);
    let long = "A".repeat(16 * 1024);
    let garbage = [
        "",
        "x",
        "not base64 at all!",
        r#"{"order":1,"action":"put"}"#,
        random_order.as_str(),
        mangled.as_str(),
        long.as_str(),
    ];
    for (method, path, _) in piece_routes(&hash.to_string()) {
        let body = b"{\"a\":";
        let answer = raw(
            peer.addr,
            method,
            &path,
            &with_length(Vec::new(), body),
            body,
            SLACK,
        )
        .await;
        let (status, error) = answer.peer_refusal(&format!("{method} {path} without order"));
        assert_eq!((status, error.code.as_str()), (401, codes::ORDER_MISSING));
        for value in garbage {
            let headers = vec![(ORDER_HEADER.to_owned(), value.to_owned())];
            let answer = raw(
                peer.addr,
                method,
                &path,
                &with_length(headers, body),
                body,
                SLACK,
            )
            .await;
            let (status, _) = answer.peer_refusal(&format!("{method} {path} order {value:.20}"));
            assert!(status == 400 || status == 403, "{method} {path}: {status}");
        }
    }
    // Bad audit queries: refused before the order is looked at.
    for query in [
        "",
        "?start=abc&len=1",
        "?start=0&len=-1",
        "?start=0",
        "?start=1&len=1024",
        "?start=0&len=0",
        "?start=18446744073709551616&len=1",
    ] {
        let path = format!("/v1/pieces/{hash}/audit{query}");
        let headers = vec![peer.order(OrderAction::Audit, hash)];
        let answer = raw(peer.addr, "GET", &path, &headers, b"", SLACK).await;
        let (status, _) = answer.peer_refusal(&format!("GET {path}"));
        assert_eq!(status, 400, "{path}");
    }
    peer.assert_empty("after garbage orders").await;
}

#[tokio::test]
async fn bodies_that_are_not_the_piece_store_nothing() {
    let peer = start().await;
    let data = vec![4u8; MAX_SIZE as usize];
    let hash = PieceHash::of(&data);
    let path = format!("/v1/pieces/{hash}");
    let put = |body: &[u8]| with_length(vec![peer.order(OrderAction::Put, hash)], body);

    // Malformed JSON, wrong content, nothing at all, a prefix of the piece.
    for body in [&b"{\"a\":"[..], b"[1,2,3]", b"", &data[..999]] {
        let answer = raw(peer.addr, "PUT", &path, &put(body), body, SLACK).await;
        let (status, error) = answer.peer_refusal(&format!("PUT {} bytes", body.len()));
        assert_eq!(status, 400, "{error}");
        peer.assert_empty("after a wrong body").await;
    }

    // A terabyte declared, a few bytes sent: refused before a byte is read.
    let mut headers = vec![peer.order(OrderAction::Put, hash)];
    headers.push(("content-length".into(), "1000000000000".into()));
    let answer = raw(peer.addr, "PUT", &path, &headers, &data[..10], SLACK).await;
    let (status, error) = answer.peer_refusal("PUT lying length");
    assert_eq!((status, error.code.as_str()), (413, codes::ORDER_TOO_LARGE));

    // One byte more than the order allows, all of it sent.
    let over = vec![4u8; MAX_SIZE as usize + 1];
    let answer = raw(peer.addr, "PUT", &path, &put(&over), &over, SLACK).await;
    let (status, error) = answer.peer_refusal("PUT oversize");
    assert_eq!((status, error.code.as_str()), (413, codes::ORDER_TOO_LARGE));

    // No declared length at all (chunked): refused, the size must be known up front.
    let mut headers = vec![peer.order(OrderAction::Put, hash)];
    headers.push(("transfer-encoding".into(), "chunked".into()));
    let body = format!("{:x}\r\n", data.len());
    let body = [body.as_bytes(), &data, b"\r\n0\r\n\r\n"].concat();
    let answer = raw(peer.addr, "PUT", &path, &headers, &body, SLACK).await;
    let (status, error) = answer.peer_refusal("PUT chunked");
    assert_eq!((status, error.code.as_str()), (411, codes::LENGTH_REQUIRED));

    // The declared length, a short body, then the client hangs up.
    let mut stream = TcpStream::connect(peer.addr).await.unwrap();
    let mut head = format!("PUT {path} HTTP/1.1\r\nhost: {}\r\n", peer.addr);
    for (name, value) in put(&data) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    stream
        .write_all(format!("{head}\r\n").as_bytes())
        .await
        .unwrap();
    stream.write_all(&data[..500]).await.unwrap();
    stream.shutdown().await.unwrap();
    let answer = tokio::time::timeout(SLACK, read_answer(&mut stream))
        .await
        .unwrap();
    if !matches!(answer, Answer::Closed) {
        let (status, error) = answer.peer_refusal("PUT cut off");
        assert_eq!(
            (status, error.code.as_str()),
            (400, codes::PIECE_INTERRUPTED)
        );
    }
    // Whether or not it could answer, the peer discards what it received.
    wait_for("the cut-off piece to be discarded", || peer.files() == 0).await;
    peer.assert_empty("after wrong bodies").await;

    // The real piece still goes in afterwards: nothing was held against it.
    let answer = raw(peer.addr, "PUT", &path, &put(&data), &data, SLACK).await;
    assert!(
        matches!(answer, Answer::Response { status: 201, .. }),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_trickling_piece_body_is_cut_off_after_the_body_timeout() {
    let peer = start().await;
    let hash = PieceHash::of(&[9u8; MAX_SIZE as usize]);
    let stalls = piece_routes(&hash.to_string())
        .into_iter()
        .chain([("GET", "/v1/status".to_owned(), OrderAction::Get)])
        .map(|(method, path, action)| {
            let mut headers = vec![peer.order(action, hash)];
            headers.push(("content-length".into(), MAX_SIZE.to_string()));
            let addr = peer.addr;
            async move {
                // Ten bytes, then nothing: the client stalls for good.
                let answer = raw(
                    addr,
                    method,
                    &path,
                    &headers,
                    &[9u8; 10],
                    BODY_TIMEOUT + SLACK,
                )
                .await;
                if method == "PUT" {
                    let (status, error) = answer.peer_refusal(&format!("{method} {path} stalled"));
                    assert_eq!((status, error.code.as_str()), (408, codes::REQUEST_TIMEOUT));
                } else {
                    // The body is never read: the answer comes at once, whatever it is.
                    assert!(matches!(answer, Answer::Response { .. }), "{answer:?}");
                }
            }
        });
    futures_util::future::join_all(stalls).await;
    peer.assert_empty("after a trickling body").await;
}

#[tokio::test]
async fn traversal_in_piece_names_never_reaches_the_disk() {
    let peer = start().await;
    let hash = PieceHash::of(b"x").to_string();
    let long = "a".repeat(10_000);
    let names = [
        "..".to_owned(),
        "%2e%2e".to_owned(),
        "..%2f..%2f..%2fetc%2fpasswd".to_owned(),
        "%2fetc%2fpasswd".to_owned(),
        "%00".to_owned(),
        "..%5c..%5cwindows".to_owned(),
        format!("{}%2f..", &hash[..60]),
        format!("../{}", &hash[3..]),
        hash[1..].to_owned(),
        format!("{hash}0"),
        long,
    ];
    for name in &names {
        for (method, path, action) in piece_routes(name) {
            let piece = PieceHash::of(b"x");
            let headers = with_length(vec![peer.order(action, piece)], b"x");
            let answer = raw(peer.addr, method, &path, &headers, b"x", SLACK).await;
            let (status, error) = answer.peer_refusal(&format!("{method} {path:.80}"));
            assert!(
                (status, error.code.as_str()) == (400, codes::BAD_REQUEST)
                    || (status, error.code.as_str()) == (404, codes::UNKNOWN_ENDPOINT),
                "{method} {path:.80}: {status} {error}"
            );
        }
    }
    peer.assert_empty("after traversal").await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let peer = start().await;
    let hash = PieceHash::of(b"x");
    for path in [
        "/".to_owned(),
        "/v1".to_owned(),
        "/v1/pieces".to_owned(),
        "/v1/pieces/".to_owned(),
        "/v2/status".to_owned(),
        format!("/v1/pieces/{hash}/other"),
        format!("/v1/status/../pieces/{hash}"),
        "//etc/passwd".to_owned(),
    ] {
        let answer = raw(peer.addr, "GET", &path, &[], b"", SLACK).await;
        let (status, error) = answer.peer_refusal(&format!("GET {path}"));
        assert_eq!(
            (status, error.code.as_str()),
            (404, codes::UNKNOWN_ENDPOINT)
        );
    }
    for (method, path) in [
        ("POST", "/v1/status".to_owned()),
        ("DELETE", "/v1/status".to_owned()),
        ("PATCH", format!("/v1/pieces/{hash}")),
        ("POST", format!("/v1/pieces/{hash}")),
        ("PUT", format!("/v1/pieces/{hash}/audit")),
        ("DELETE", format!("/v1/pieces/{hash}/audit")),
        ("GET", "/v1/reads".to_owned()),
        ("PUT", "/v1/reads".to_owned()),
        ("GET", "/v1/writes".to_owned()),
        ("DELETE", "/v1/writes".to_owned()),
    ] {
        let headers = with_length(vec![peer.order(OrderAction::Put, hash)], b"{}");
        let answer = raw(peer.addr, method, &path, &headers, b"{}", SLACK).await;
        let (status, error) = answer.peer_refusal(&format!("{method} {path}"));
        assert_eq!(
            (status, error.code.as_str()),
            (405, codes::METHOD_NOT_ALLOWED)
        );
        let Answer::Response { head, .. } = answer else {
            unreachable!()
        };
        assert!(head.to_ascii_lowercase().contains("allow:"), "{head}");
    }
    // Not HTTP at all: the connection is dropped or refused, and the peer carries on.
    let mut stream = TcpStream::connect(peer.addr).await.unwrap();
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
    peer.assert_empty("after unknown routes").await;
}
