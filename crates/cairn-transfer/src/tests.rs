//! The transfer client against peers that misbehave, played by a small in-process server:
//! receipts that lie inside a batch, and a peer of an earlier version without batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes as Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{post, put};
use cairn_core::{AccountId, PeerId, PieceHash};
use cairn_proto::order::{Holder, Order, OrderAction, OrderSerial, OrderSigner};
use cairn_proto::peer_api::{push_frame, split_writes};
use cairn_proto::{ErrorBody, Receipt, SignedOrder};
use ed25519_dalek::SigningKey;

use crate::{PeerClient, TransferError};

/// How the fake peer answers a batch of writes.
#[derive(Clone, Copy)]
enum Batches {
    /// Answers each piece with a receipt, but forges the second's signature and vouches
    /// for another piece in the third.
    Lying,
    /// Has no such route, as a peer before batches: `404 unknown_endpoint`.
    Unknown,
}

struct FakePeer {
    key: SigningKey,
    batches: Batches,
    /// Pieces received one per request.
    singles: AtomicUsize,
    /// Batches asked for.
    batches_asked: AtomicUsize,
}

fn receipt_json(key: &SigningKey, hash: PieceHash, size: u64, serial: u64) -> Vec<u8> {
    serde_json::to_vec(&Receipt::sign(key, hash, size, OrderSerial(serial))).unwrap()
}

async fn writes(State(peer): State<Arc<FakePeer>>, body: Body) -> (StatusCode, Vec<u8>) {
    peer.batches_asked.fetch_add(1, Ordering::SeqCst);
    if let Batches::Unknown = peer.batches {
        let error = ErrorBody::new(cairn_proto::codes::UNKNOWN_ENDPOINT, "no such route");
        return (StatusCode::NOT_FOUND, error.to_json().into_bytes());
    }
    let mut answer = Vec::new();
    for (i, (order, piece)) in split_writes(&body).unwrap().into_iter().enumerate() {
        let size = piece.len() as u64;
        let serial = order.order.serial.0;
        let mut receipt = Receipt::sign(&peer.key, order.order.piece, size, OrderSerial(serial));
        match i {
            1 => receipt.signature[5] ^= 1,
            2 => {
                receipt = Receipt::sign(
                    &peer.key,
                    PieceHash::of(b"other"),
                    size,
                    OrderSerial(serial),
                )
            }
            _ => {}
        }
        push_frame(&mut answer, 201, &serde_json::to_vec(&receipt).unwrap());
    }
    (StatusCode::OK, answer)
}

async fn put_piece(
    State(peer): State<Arc<FakePeer>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, Vec<u8>) {
    peer.singles.fetch_add(1, Ordering::SeqCst);
    let order = headers[cairn_proto::order::ORDER_HEADER].to_str().unwrap();
    let order = SignedOrder::from_header_value(order).unwrap();
    let hash: PieceHash = hash.parse().unwrap();
    let json = receipt_json(&peer.key, hash, body.len() as u64, order.order.serial.0);
    (StatusCode::CREATED, json)
}

/// Starts a fake peer on `127.0.0.1:0`; returns it, its id and address.
async fn fake_peer(batches: Batches) -> (Arc<FakePeer>, PeerId, cairn_proto::PeerAddr) {
    let peer = Arc::new(FakePeer {
        key: SigningKey::from_bytes(&[7; 32]),
        batches,
        singles: AtomicUsize::new(0),
        batches_asked: AtomicUsize::new(0),
    });
    let id = PeerId::from_verifying_key(&peer.key.verifying_key());
    let app = Router::new()
        .route(cairn_proto::peer_api::WRITES, post(writes))
        .route("/v1/pieces/{hash}", put(put_piece))
        .with_state(peer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = cairn_proto::PeerAddr::from_socket(false, listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (peer, id, address)
}

/// `n` small pieces with put orders for `peer`.
fn pieces(peer: PeerId, n: u64) -> Vec<(SignedOrder, PieceHash, bytes::Bytes)> {
    let signer = OrderSigner::new(SigningKey::from_bytes(&[1; 32]));
    let account = AccountId::from_verifying_key(&SigningKey::from_bytes(&[3; 32]).verifying_key());
    (0..n)
        .map(|i| {
            let bytes = bytes::Bytes::from(format!("piece number {i}").into_bytes());
            let hash = PieceHash::of(&bytes);
            let order = Order {
                pool: signer.pool_id(),
                peer,
                piece: hash,
                action: OrderAction::Put,
                max_size: 1 << 20,
                holder: Holder::Account(account),
                serial: OrderSerial(i + 1),
                expires_at: 4_000_000_000,
            };
            (signer.sign(order).unwrap(), hash, bytes)
        })
        .collect()
}

#[tokio::test]
async fn a_lying_receipt_in_a_batch_fails_only_its_piece() {
    let (_peer, id, address) = fake_peer(Batches::Lying).await;
    let client = PeerClient::new().unwrap();
    let sent = pieces(id, 5);
    let answers = client.write_many(id, &address, &sent).await.unwrap();
    assert_eq!(answers.len(), 5);
    for (i, (answer, (_, hash, _))) in answers.iter().zip(&sent).enumerate() {
        match (i, answer) {
            (1 | 2, Err(TransferError::Wrong { peer, .. })) => assert_eq!(*peer, id),
            (1 | 2, other) => panic!("piece {i}: a lying receipt was taken: {other:?}"),
            (_, Ok(receipt)) => assert_eq!(receipt.piece, *hash),
            (_, Err(e)) => panic!("piece {i}: an honest receipt was refused: {e}"),
        }
    }
}

#[tokio::test]
async fn a_peer_without_batches_is_written_one_piece_at_a_time() {
    let (peer, id, address) = fake_peer(Batches::Unknown).await;
    let client = PeerClient::new().unwrap();
    let sent = pieces(id, 24);
    // All at once, so that pieces queue behind a request that is out and try to batch.
    let receipts = futures_util::future::join_all(
        sent.iter()
            .map(|(order, hash, bytes)| client.put(id, &address, order, *hash, bytes.clone())),
    )
    .await;
    for (receipt, (_, hash, _)) in receipts.into_iter().zip(&sent) {
        assert_eq!(receipt.unwrap().piece, *hash);
    }
    assert_eq!(peer.singles.load(Ordering::SeqCst), 24);
    assert!(
        peer.batches_asked.load(Ordering::SeqCst) >= 1,
        "no batch was tried"
    );
}
