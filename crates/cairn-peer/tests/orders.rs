//! The peer's data path over real HTTP on 127.0.0.1:0 with a real data directory: the test
//! signs orders as the pool would, and every bad order is refused with nothing stored.

use cairn_proto::codes;
use std::sync::Arc;

use cairn_core::{AccountId, PeerId, PieceHash};
use cairn_peer::{PeerService, PieceStore, server};
use cairn_proto::clock::now_secs as now;
use cairn_proto::order::ORDER_HEADER;
use cairn_proto::peer_api::{audit_path, piece_path};
use cairn_proto::{
    ErrorBody, Holder, Order, OrderAction, OrderSerial, OrderSigner, Receipt, SignedOrder,
};
use ed25519_dalek::SigningKey;

struct Peer {
    url: cairn_proto::PeerAddr,
    service: Arc<PeerService>,
    pool: OrderSigner,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

async fn start(capacity: u64) -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let store = PieceStore::open(dir.path(), capacity).unwrap();
    let service = Arc::new(PeerService::new(store, SigningKey::from_bytes(&[1; 32])));
    let pool = OrderSigner::new(SigningKey::from_bytes(&[2; 32]));
    service.trust_pool(pool.pool_id());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(axum::serve(listener, server::router(service.clone())).into_future());
    Peer {
        url,
        service,
        pool,
        dir,
        http: reqwest::Client::new(),
    }
}

impl Peer {
    fn order(&self, action: OrderAction, piece: PieceHash, max_size: u64, serial: u64) -> Order {
        Order {
            pool: self.pool.pool_id(),
            peer: self.service.id(),
            piece,
            action,
            max_size,
            holder: Holder::Account(AccountId::from_verifying_key(
                &SigningKey::from_bytes(&[3; 32]).verifying_key(),
            )),
            serial: OrderSerial(serial),
            expires_at: now() + 600,
        }
    }

    async fn put(&self, order: &SignedOrder, piece: PieceHash, body: Vec<u8>) -> (u16, Vec<u8>) {
        let response = self
            .http
            .put(format!("{}{}", self.url, piece_path(&piece)))
            .header(ORDER_HEADER, order.to_header_value())
            .body(body)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.bytes().await.unwrap().to_vec(),
        )
    }

    async fn get(
        &self,
        order: &SignedOrder,
        piece: PieceHash,
        range: Option<&str>,
    ) -> (u16, Vec<u8>) {
        let mut request = self
            .http
            .get(format!("{}{}", self.url, piece_path(&piece)))
            .header(ORDER_HEADER, order.to_header_value());
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.bytes().await.unwrap().to_vec(),
        )
    }

    fn files(&self) -> usize {
        cairn_testkit::files_under(&self.dir.path().join("pieces"))
            + cairn_testkit::files_under(&self.dir.path().join("tmp"))
    }
}

fn code(body: &[u8]) -> String {
    ErrorBody::from_json(body).unwrap().code
}

#[tokio::test]
async fn a_good_order_stores_serves_and_deletes() {
    let peer = start(1 << 20).await;
    let data = vec![9u8; 10_000];
    let hash = PieceHash::of(&data);
    let put = peer
        .pool
        .sign(peer.order(OrderAction::Put, hash, 10_000, 1))
        .unwrap();
    let (status, body) = peer.put(&put, hash, data.clone()).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let receipt: Receipt = serde_json::from_slice(&body).unwrap();
    receipt.verify().unwrap();
    assert_eq!(
        (receipt.peer, receipt.piece, receipt.size),
        (peer.service.id(), hash, 10_000)
    );

    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 10_000, 2))
        .unwrap();
    assert_eq!(peer.get(&get, hash, None).await, (200, data.clone()));
    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 10_000, 3))
        .unwrap();
    assert_eq!(
        peer.get(&get, hash, Some("bytes=10-19")).await,
        (206, data[10..20].to_vec())
    );
    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 10_000, 4))
        .unwrap();
    assert_eq!(
        peer.get(&get, hash, Some("bytes=9990-")).await,
        (206, data[9990..].to_vec())
    );
    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 10_000, 5))
        .unwrap();
    assert_eq!(peer.get(&get, hash, Some("bytes=10000-")).await.0, 416);

    let delete = peer
        .pool
        .sign(peer.order(OrderAction::Delete, hash, 0, 6))
        .unwrap();
    let response = peer
        .http
        .delete(format!("{}{}", peer.url, piece_path(&hash)))
        .header(ORDER_HEADER, delete.to_header_value())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(peer.service.store().usage(), (0, 0));
    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 10_000, 7))
        .unwrap();
    assert_eq!(peer.get(&get, hash, None).await.0, 404);
}

/// The data path's own client tells a peer's refusal from a piece of the wrong size: a
/// missing piece is the peer's `piece_not_found`, whatever its error message's length.
#[tokio::test]
async fn the_transfer_client_reports_a_missing_piece_as_the_peers_refusal() {
    let peer = start(1 << 20).await;
    let client = cairn_transfer::PeerClient::new().unwrap();
    let data = vec![7u8; 10_000];
    let hash = PieceHash::of(&data);
    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 10_000, 1))
        .unwrap();
    match client
        .get(peer.service.id(), &peer.url, &get, hash, 10_000)
        .await
    {
        Err(cairn_transfer::TransferError::Refused { code, .. }) => {
            assert_eq!(code, codes::PIECE_NOT_FOUND)
        }
        other => panic!("expected the peer's refusal, got {other:?}"),
    }
    let put = peer
        .pool
        .sign(peer.order(OrderAction::Put, hash, 10_000, 2))
        .unwrap();
    let receipt = client
        .put(
            peer.service.id(),
            &peer.url,
            &put,
            hash,
            data.clone().into(),
        )
        .await
        .unwrap();
    assert_eq!(receipt.size, 10_000);
    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 10_000, 3))
        .unwrap();
    let body = client
        .get(peer.service.id(), &peer.url, &get, hash, 10_000)
        .await
        .unwrap();
    assert_eq!(body.as_ref(), data.as_slice());
}

#[tokio::test]
async fn bad_orders_are_refused_and_nothing_is_stored() {
    let peer = start(1 << 20).await;
    let data = vec![4u8; 1000];
    let hash = PieceHash::of(&data);
    let other_hash = PieceHash::of(b"other");
    let forger = OrderSigner::new(SigningKey::from_bytes(&[66; 32]));
    let other_peer = PeerId::from_verifying_key(&SigningKey::from_bytes(&[77; 32]).verifying_key());

    let mut forged_sig = peer
        .pool
        .sign(peer.order(OrderAction::Put, hash, 1000, 10))
        .unwrap();
    forged_sig.signature[0] ^= 1;
    let forged_pool = forger
        .sign(Order {
            pool: forger.pool_id(),
            ..peer.order(OrderAction::Put, hash, 1000, 11)
        })
        .unwrap();
    let expired = peer
        .pool
        .sign(Order {
            expires_at: now() - 1,
            ..peer.order(OrderAction::Put, hash, 1000, 12)
        })
        .unwrap();
    let for_other_peer = peer
        .pool
        .sign(Order {
            peer: other_peer,
            ..peer.order(OrderAction::Put, hash, 1000, 13)
        })
        .unwrap();
    let for_other_hash = peer
        .pool
        .sign(peer.order(OrderAction::Put, other_hash, 1000, 14))
        .unwrap();
    let too_small = peer
        .pool
        .sign(peer.order(OrderAction::Put, hash, 999, 15))
        .unwrap();
    let wrong_action = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 1000, 16))
        .unwrap();

    let cases = [
        (forged_sig, codes::ORDER_BAD_SIGNATURE),
        (forged_pool, codes::ORDER_WRONG_POOL),
        (expired, codes::ORDER_EXPIRED),
        (for_other_peer, codes::ORDER_WRONG_PEER),
        (for_other_hash, codes::ORDER_WRONG_PIECE),
        (too_small, codes::ORDER_TOO_LARGE),
        (wrong_action, codes::ORDER_WRONG_ACTION),
    ];
    for (order, expected) in cases {
        let (status, body) = peer.put(&order, hash, data.clone()).await;
        assert!(status >= 400, "{expected}: {status}");
        assert_eq!(code(&body), expected);
        assert_eq!(peer.service.store().usage(), (0, 0), "{expected}");
        assert_eq!(peer.files(), 0, "{expected}");
    }

    // Bytes that do not match the hash in the URL and order.
    let liar = peer
        .pool
        .sign(peer.order(OrderAction::Put, hash, 1000, 20))
        .unwrap();
    let (status, body) = peer.put(&liar, hash, vec![5u8; 1000]).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (400, codes::PIECE_HASH_MISMATCH)
    );
    assert_eq!(peer.files(), 0);

    // A good order works once; its replay is refused.
    let good = peer
        .pool
        .sign(peer.order(OrderAction::Put, hash, 1000, 30))
        .unwrap();
    assert_eq!(peer.put(&good, hash, data.clone()).await.0, 201);
    let (status, body) = peer.put(&good, hash, data.clone()).await;
    assert_eq!((status, code(&body).as_str()), (409, codes::ORDER_REPLAYED));

    // Garbage never panics.
    let response = peer
        .http
        .put(format!("{}/v1/pieces/not-a-hash", peer.url))
        .header(ORDER_HEADER, "garbage")
        .body(vec![1, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = peer
        .http
        .put(format!("{}{}", peer.url, piece_path(&hash)))
        .header(ORDER_HEADER, "x".repeat(292))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = peer
        .http
        .get(format!("{}{}", peer.url, piece_path(&hash)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn capacity_is_never_exceeded_even_by_concurrent_uploads() {
    let peer = Arc::new(start(25_000).await);
    let mut tasks = Vec::new();
    for i in 0..5u8 {
        let peer = peer.clone();
        tasks.push(tokio::spawn(async move {
            let data = vec![i; 10_000];
            let hash = PieceHash::of(&data);
            let order = peer
                .pool
                .sign(peer.order(OrderAction::Put, hash, 10_000, 100 + u64::from(i)))
                .unwrap();
            peer.put(&order, hash, data).await
        }));
    }
    let mut stored = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => stored += 1,
            507 => assert_eq!(code(&body), codes::PEER_FULL),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(stored, 2);
    let (used, count) = peer.service.store().usage();
    assert_eq!((used, count), (20_000, 2));
    assert!(used <= peer.service.store().capacity());
}

impl Peer {
    async fn audit(
        &self,
        order: &SignedOrder,
        piece: PieceHash,
        start: u64,
        len: u64,
    ) -> (u16, Vec<u8>) {
        let response = self
            .http
            .get(format!(
                "{}{}?start={start}&len={len}",
                self.url,
                audit_path(&piece)
            ))
            .header(ORDER_HEADER, order.to_header_value())
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.bytes().await.unwrap().to_vec(),
        )
    }

    /// Stores `data` under a put order with `serial`.
    async fn store(&self, data: &[u8], serial: u64) -> PieceHash {
        let hash = PieceHash::of(data);
        let put = self
            .pool
            .sign(self.order(OrderAction::Put, hash, data.len() as u64, serial))
            .unwrap();
        assert_eq!(self.put(&put, hash, data.to_vec()).await.0, 201);
        hash
    }
}

/// Decodes an audit slice against the piece's name, as the pool does.
fn verified(hash: PieceHash, start: u64, len: u64, slice: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let root = bao::Hash::from(*hash.as_bytes());
    let mut out = Vec::new();
    bao::decode::SliceDecoder::new(slice, &root, start, len)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[tokio::test]
async fn an_audit_answers_a_slice_that_verifies_against_the_piece_name() {
    let peer = start(1 << 20).await;
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let hash = peer.store(&data, 1).await;
    let audit = |serial| {
        peer.pool
            .sign(peer.order(OrderAction::Audit, hash, 10_000, serial))
            .unwrap()
    };

    let (status, slice) = peer.audit(&audit(2), hash, 2048, 4096).await;
    assert_eq!(status, 200);
    assert_eq!(
        verified(hash, 2048, 4096, &slice).unwrap(),
        data[2048..6144]
    );
    // A range past the end is cut there; the whole piece can be asked for.
    let (status, slice) = peer.audit(&audit(3), hash, 9216, 4096).await;
    assert_eq!(status, 200);
    assert_eq!(verified(hash, 9216, 4096, &slice).unwrap(), data[9216..]);
    let (status, slice) = peer.audit(&audit(4), hash, 0, 1 << 30).await;
    assert_eq!(status, 200);
    assert_eq!(verified(hash, 0, 1 << 30, &slice).unwrap(), data);

    // Impossible ranges.
    let (status, body) = peer.audit(&audit(5), hash, 10_240, 1024).await;
    assert_eq!((status, code(&body).as_str()), (416, codes::BAD_RANGE));
    let (status, body) = peer.audit(&audit(6), hash, 100, 1024).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (400, codes::BAD_AUDIT_RANGE)
    );
    let (status, body) = peer.audit(&audit(7), hash, 0, 0).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (400, codes::BAD_AUDIT_RANGE)
    );
    let response = peer
        .http
        .get(format!("{}{}?start=x", peer.url, audit_path(&hash)))
        .header(ORDER_HEADER, audit(8).to_header_value())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    ErrorBody::from_json(&response.bytes().await.unwrap()).unwrap();

    // A piece it does not hold.
    let missing = PieceHash::of(b"never stored");
    let order = peer
        .pool
        .sign(peer.order(OrderAction::Audit, missing, 10_000, 9))
        .unwrap();
    let (status, body) = peer.audit(&order, missing, 0, 1024).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (404, codes::PIECE_NOT_FOUND)
    );
}

#[tokio::test]
async fn bad_audit_orders_are_refused() {
    let peer = start(1 << 20).await;
    let data = vec![5u8; 3000];
    let hash = peer.store(&data, 1).await;
    let forger = OrderSigner::new(SigningKey::from_bytes(&[66; 32]));

    let get = peer
        .pool
        .sign(peer.order(OrderAction::Get, hash, 3000, 2))
        .unwrap();
    let (status, body) = peer.audit(&get, hash, 0, 1024).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (403, codes::ORDER_WRONG_ACTION)
    );

    let forged = forger
        .sign(Order {
            pool: forger.pool_id(),
            ..peer.order(OrderAction::Audit, hash, 3000, 3)
        })
        .unwrap();
    let (status, body) = peer.audit(&forged, hash, 0, 1024).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (403, codes::ORDER_WRONG_POOL)
    );
    let mut bad_signature = peer
        .pool
        .sign(peer.order(OrderAction::Audit, hash, 3000, 3))
        .unwrap();
    bad_signature.signature[0] ^= 1;
    let (status, body) = peer.audit(&bad_signature, hash, 0, 1024).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (403, codes::ORDER_BAD_SIGNATURE)
    );

    let mut expired = peer.order(OrderAction::Audit, hash, 3000, 4);
    expired.expires_at = now() - 1;
    let expired = peer.pool.sign(expired).unwrap();
    let (status, body) = peer.audit(&expired, hash, 0, 1024).await;
    assert_eq!((status, code(&body).as_str()), (403, codes::ORDER_EXPIRED));

    let other = PieceHash::of(b"other");
    let wrong_piece = peer
        .pool
        .sign(peer.order(OrderAction::Audit, other, 3000, 5))
        .unwrap();
    assert_eq!(peer.audit(&wrong_piece, hash, 0, 1024).await.0, 403);

    let good = peer
        .pool
        .sign(peer.order(OrderAction::Audit, hash, 3000, 6))
        .unwrap();
    assert_eq!(peer.audit(&good, hash, 0, 1024).await.0, 200);
    assert_eq!(peer.audit(&good, hash, 0, 1024).await.0, 409, "replayed");
    // A malformed range is refused before the order is even looked at.
    assert_eq!(peer.audit(&forged, hash, 0, 0).await.0, 400);
}

#[tokio::test]
async fn a_piece_altered_on_disk_fails_its_audit() {
    let peer = start(1 << 20).await;
    let data: Vec<u8> = (0..8192u32).map(|i| (i % 199) as u8).collect();
    let hash = peer.store(&data, 1).await;
    let mut damaged = data.clone();
    damaged[7000] ^= 0x10;
    std::fs::write(peer.service.store().piece_path(&hash), &damaged).unwrap();

    // The damaged byte lies outside the range asked for; the slice still fails.
    let order = peer
        .pool
        .sign(peer.order(OrderAction::Audit, hash, 8192, 2))
        .unwrap();
    let (status, slice) = peer.audit(&order, hash, 0, 2048).await;
    assert_eq!(status, 200);
    assert!(verified(hash, 0, 2048, &slice).is_none());
}

#[tokio::test]
async fn a_batch_of_reads_answers_each_order_on_its_own() {
    let peer = start(1 << 20).await;
    let client = cairn_transfer::PeerClient::new().unwrap();
    let id = peer.service.id();
    let pieces: Vec<Vec<u8>> = (0..3u8).map(|n| vec![n; 1000 + usize::from(n)]).collect();
    for (n, data) in pieces.iter().enumerate() {
        let hash = PieceHash::of(data);
        let put = peer
            .pool
            .sign(peer.order(OrderAction::Put, hash, data.len() as u64, 10 + n as u64))
            .unwrap();
        assert_eq!(peer.put(&put, hash, data.clone()).await.0, 201);
    }
    let hash = |n: usize| PieceHash::of(&pieces[n]);
    let size = |n: usize| pieces[n].len() as u64;
    let get = |n: usize, serial: u64| {
        peer.pool
            .sign(peer.order(OrderAction::Get, hash(n), size(n), serial))
            .unwrap()
    };
    let forger = OrderSigner::new(SigningKey::from_bytes(&[9; 32]));
    let missing = PieceHash::of(b"not held");
    let wanted = vec![
        (get(0, 100), hash(0), size(0)),
        // Another pool's signature, a put order, a piece not held, a serial used before.
        (
            forger
                .sign(Order {
                    pool: forger.pool_id(),
                    ..peer.order(OrderAction::Get, hash(1), size(1), 101)
                })
                .unwrap(),
            hash(1),
            size(1),
        ),
        (
            peer.pool
                .sign(peer.order(OrderAction::Put, hash(1), size(1), 102))
                .unwrap(),
            hash(1),
            size(1),
        ),
        (
            peer.pool
                .sign(peer.order(OrderAction::Get, missing, 10, 103))
                .unwrap(),
            missing,
            10,
        ),
        (get(1, 10), hash(1), size(1)),
        (get(2, 104), hash(2), size(2)),
    ];
    let answers = client.read_many(id, &peer.url, &wanted).await.unwrap();
    assert_eq!(answers.len(), 6);
    assert_eq!(answers[0].as_deref().unwrap(), pieces[0].as_slice());
    assert_eq!(answers[5].as_deref().unwrap(), pieces[2].as_slice());
    let codes: Vec<String> = answers[1..5]
        .iter()
        .map(|a| match a {
            Err(cairn_transfer::TransferError::Refused { code, .. }) => code.clone(),
            other => panic!("expected a refusal, got {other:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        [
            codes::ORDER_WRONG_POOL,
            codes::ORDER_WRONG_ACTION,
            codes::PIECE_NOT_FOUND,
            codes::ORDER_REPLAYED
        ]
    );

    // Too many orders, or too many bytes, and the whole batch is refused before any
    // order's serial is used: the same orders then read fine.
    let too_many: Vec<_> = (0..=cairn_proto::peer_api::MAX_READS as u64)
        .map(|n| (get(0, 200 + n), hash(0), size(0)))
        .collect();
    match client.read_many(id, &peer.url, &too_many).await {
        Err(cairn_transfer::TransferError::Refused { code, .. }) => {
            assert_eq!(code, codes::TOO_MANY_READS)
        }
        other => panic!("expected the batch refused, got {other:?}"),
    }
    let answers = client
        .read_many(id, &peer.url, &too_many[..3])
        .await
        .unwrap();
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    // A malformed body is refused as such.
    let response = peer
        .http
        .post(format!("{}{}", peer.url, cairn_proto::peer_api::READS))
        .body(r#"{"orders": "all of them"}"#)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(code(&response.bytes().await.unwrap()), codes::BAD_REQUEST);
}

#[tokio::test]
async fn a_batch_of_writes_answers_each_piece_on_its_own() {
    use cairn_proto::peer_api::{WRITES, push_write, split_frames};
    let peer = start(1 << 20).await;
    let put = |data: &[u8], serial: u64| {
        peer.pool
            .sign(peer.order(
                OrderAction::Put,
                PieceHash::of(data),
                data.len() as u64,
                serial,
            ))
            .unwrap()
    };
    let forger = OrderSigner::new(SigningKey::from_bytes(&[9; 32]));
    let pieces: Vec<Vec<u8>> = (0..4u8).map(|n| vec![n; 500 + usize::from(n)]).collect();
    let forged = forger
        .sign(Order {
            pool: forger.pool_id(),
            ..peer.order(OrderAction::Put, PieceHash::of(&pieces[1]), 501, 2)
        })
        .unwrap();
    let sent: Vec<(SignedOrder, Vec<u8>)> = vec![
        (put(&pieces[0], 1), pieces[0].clone()),
        (forged, pieces[1].clone()),
        // The bytes (of the right size) are not the piece the order names.
        (put(&pieces[2], 3), vec![9u8; pieces[2].len()]),
        (put(&pieces[3], 4), pieces[3].clone()),
        // The same piece again under another order: stored once, a receipt each.
        (put(&pieces[3], 5), pieces[3].clone()),
    ];
    let mut body = Vec::new();
    for (order, bytes) in &sent {
        push_write(&mut body, order, bytes);
    }
    let response = peer
        .http
        .post(format!("{}{WRITES}", peer.url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer = response.bytes().await.unwrap();
    let frames = split_frames(&answer, sent.len()).unwrap();
    let statuses: Vec<u16> = frames.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [201, 403, 400, 201, 201]);
    assert_eq!(code(&frames[1].1), codes::ORDER_WRONG_POOL);
    assert_eq!(code(&frames[2].1), codes::PIECE_HASH_MISMATCH);
    for (at, piece) in [(0, 0), (3, 3), (4, 3)] {
        let receipt: Receipt = serde_json::from_slice(&frames[at].1).unwrap();
        receipt.verify().unwrap();
        assert_eq!(receipt.piece, PieceHash::of(&pieces[piece]));
    }
    assert_eq!(peer.service.store().usage(), (500 + 503, 2));

    // A malformed batch, one without a length, and one of too many pieces: refused whole,
    // nothing stored.
    let post = |body: Vec<u8>| {
        peer.http
            .post(format!("{}{WRITES}", peer.url))
            .body(body)
            .send()
    };
    let cut = {
        let mut body = Vec::new();
        push_write(&mut body, &put(&pieces[1], 6), &pieces[1]);
        body.truncate(body.len() - 1);
        body
    };
    let response = post(cut).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let mut many = Vec::new();
    for n in 0..=cairn_proto::peer_api::MAX_WRITES as u64 {
        push_write(&mut many, &put(&pieces[1], 100 + n), &pieces[1]);
    }
    let response = post(many).await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(
        code(&response.bytes().await.unwrap()),
        codes::TOO_MANY_WRITES
    );
    let unsized_body =
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"x"))]);
    let response = peer
        .http
        .post(format!("{}{WRITES}", peer.url))
        .body(reqwest::Body::wrap_stream(unsized_body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 411);
    assert_eq!(peer.service.store().usage(), (500 + 503, 2));
}

#[tokio::test]
async fn concurrent_small_puts_travel_together_and_each_gets_its_receipt() {
    let peer = start(1 << 20).await;
    let client = cairn_transfer::PeerClient::new().unwrap();
    let id = peer.service.id();
    let mut puts = Vec::new();
    for n in 0..40u64 {
        let data = vec![n as u8; 300 + n as usize];
        let hash = PieceHash::of(&data);
        let order = peer
            .pool
            .sign(peer.order(OrderAction::Put, hash, data.len() as u64, 1000 + n))
            .unwrap();
        let client = client.clone();
        let url = peer.url.clone();
        puts.push(tokio::spawn(async move {
            client.put(id, &url, &order, hash, data.into()).await
        }));
    }
    for put in puts {
        let receipt = put.await.unwrap().unwrap();
        assert_eq!(receipt.peer, id);
    }
    assert_eq!(peer.service.store().usage().1, 40);
}
