//! The data path through the transport boundary (`Arc<dyn PeerTransport>`, HTTP behind it)
//! against a real peer on 127.0.0.1:0: what the client's pipelines, repairs and the pool's
//! audits and probes ask of a peer, each through the trait.

use std::sync::Arc;
use std::time::Duration;

use cairn_core::{AccountId, PieceHash};
use cairn_peer::{PeerService, PieceStore, server};
use cairn_proto::clock::now_secs;
use cairn_proto::{Holder, Order, OrderAction, OrderSerial, OrderSigner, PeerAddr, SignedOrder};
use cairn_transfer::{PeerClient, PeerTransport, TransferError};
use ed25519_dalek::SigningKey;
use tokio::io::AsyncReadExt;

struct Peer {
    url: PeerAddr,
    service: Arc<PeerService>,
    pool: OrderSigner,
    _dir: tempfile::TempDir,
}

async fn start() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let store = PieceStore::open(dir.path(), 1 << 24).unwrap();
    let service = Arc::new(PeerService::new(store, SigningKey::from_bytes(&[1; 32])));
    let pool = OrderSigner::new(SigningKey::from_bytes(&[2; 32]));
    service.trust_pool(pool.pool_id());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = PeerAddr::from_socket(false, listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, server::router(service.clone())).into_future());
    Peer {
        url,
        service,
        pool,
        _dir: dir,
    }
}

impl Peer {
    fn order(
        &self,
        action: OrderAction,
        piece: PieceHash,
        max_size: u64,
        serial: u64,
    ) -> SignedOrder {
        let account = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let holder = match action {
            OrderAction::Audit => Holder::Peer(self.service.id()),
            _ => Holder::Account(AccountId::from_verifying_key(&account)),
        };
        self.pool
            .sign(Order {
                pool: self.pool.pool_id(),
                peer: self.service.id(),
                piece,
                action,
                max_size,
                holder,
                serial: OrderSerial(serial),
                expires_at: now_secs() + 600,
            })
            .unwrap()
    }
}

#[tokio::test]
async fn every_call_of_the_transport_reaches_a_real_peer() {
    let peer = start().await;
    let id = peer.service.id();
    let transport: Arc<dyn PeerTransport> = Arc::new(PeerClient::new().unwrap());
    let data: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
    let hash = PieceHash::of(&data);
    let size = data.len() as u64;

    // put, then get whole and a range.
    let put = peer.order(OrderAction::Put, hash, size, 1);
    let receipt = transport
        .put(id, &peer.url, &put, hash, data.clone().into())
        .await
        .unwrap();
    assert_eq!((receipt.piece, receipt.size), (hash, size));
    let get = peer.order(OrderAction::Get, hash, size, 2);
    let whole = transport
        .get(id, &peer.url, &get, hash, size)
        .await
        .unwrap();
    assert_eq!(&whole[..], &data[..]);
    // Each order is good for one request.
    let get = peer.order(OrderAction::Get, hash, size, 3);
    let part = transport
        .get_range(id, &peer.url, &get, hash, 1000, 5000)
        .await
        .unwrap();
    assert_eq!(&part[..], &data[1000..6000]);
    assert!(
        (transport
            .get_range(id, &peer.url, &get, hash, 0, 0)
            .await
            .unwrap())
        .is_empty()
    );

    // Small pieces, written and read in one exchange each.
    let small: Vec<Vec<u8>> = (0..3u8).map(|n| vec![n; 100 + usize::from(n)]).collect();
    let writes: Vec<_> = small
        .iter()
        .enumerate()
        .map(|(n, bytes)| {
            let hash = PieceHash::of(bytes);
            let order = peer.order(OrderAction::Put, hash, bytes.len() as u64, 10 + n as u64);
            (order, hash, bytes.clone().into())
        })
        .collect();
    let receipts = transport.write_many(id, &peer.url, &writes).await.unwrap();
    assert!(receipts.iter().all(Result::is_ok), "{receipts:?}");
    let reads: Vec<_> = small
        .iter()
        .enumerate()
        .map(|(n, bytes)| {
            let hash = PieceHash::of(bytes);
            let size = bytes.len() as u64;
            (
                peer.order(OrderAction::Get, hash, size, 20 + n as u64),
                hash,
                size,
            )
        })
        .collect();
    let answers = transport.read_many(id, &peer.url, &reads).await.unwrap();
    for (answer, bytes) in answers.into_iter().zip(&small) {
        assert_eq!(&answer.unwrap()[..], &bytes[..]);
    }

    // An audit slice streams back (larger than the bytes it covers: it carries their
    // hashes too); an audit of a piece the peer lacks is its refusal, with the status.
    let audit = peer.order(OrderAction::Audit, hash, size, 30);
    let mut slice = transport
        .audit(
            id,
            &peer.url,
            &audit,
            hash,
            0,
            2048,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let mut bytes = Vec::new();
    slice.read_to_end(&mut bytes).await.unwrap();
    assert!(bytes.len() > 2048, "{} bytes", bytes.len());
    let missing = PieceHash::of(b"not here");
    let audit = peer.order(OrderAction::Audit, missing, size, 31);
    match transport
        .audit(
            id,
            &peer.url,
            &audit,
            missing,
            0,
            1024,
            Duration::from_secs(30),
        )
        .await
    {
        Err(TransferError::Refused { status, code, .. }) => {
            assert_eq!(
                (status, code.as_str()),
                (404, cairn_proto::codes::PIECE_NOT_FOUND)
            )
        }
        Ok(_) => panic!("an audit of a missing piece passed"),
        Err(other) => panic!("{other:?}"),
    }

    // Status: the answer must come from the peer asked for.
    let info = transport
        .status(id, &peer.url, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((info.peer, info.pool), (id, peer.pool.pool_id()));
    let stranger =
        cairn_core::PeerId::from_verifying_key(&SigningKey::from_bytes(&[9; 32]).verifying_key());
    assert!(matches!(
        transport
            .status(stranger, &peer.url, Duration::from_secs(5))
            .await,
        Err(TransferError::Wrong { .. })
    ));
}
