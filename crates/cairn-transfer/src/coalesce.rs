//! Small pieces bound for one peer travel together: while a request to that peer is out,
//! the small pieces that arrive for it wait, and the next request carries them all
//! (`POST /v1/writes`, within the peer's limits). There is no timer: a piece that finds
//! no request out goes at once, alone. The queue itself is [`cairn_net::batch`]; this file
//! says what fits in one request and how a batch is sent.

use std::sync::Arc;

use bytes::Bytes;
use cairn_core::{PeerId, PieceHash};
use cairn_net::batch::Batcher;
use cairn_proto::peer_api::{MAX_WRITE_BYTES, MAX_WRITES};
use cairn_proto::{PeerAddr, Receipt, SignedOrder};

use crate::{PeerClient, TransferError};

/// Pieces up to this size may travel with others.
pub(crate) const SMALL_WRITE: usize = 256 * 1024;

/// Room kept in a request for each piece's framing and order.
const PER_PIECE_OVERHEAD: u64 = 512;

/// A piece waiting for a request to its peer.
struct Waiting {
    order: SignedOrder,
    hash: PieceHash,
    bytes: Bytes,
}

/// A peer, at an address.
type PeerAt = (PeerId, PeerAddr);

/// Every peer's waiting pieces, by peer and address.
pub(crate) struct Queues {
    batcher: Arc<Batcher<PeerAt, Waiting, Result<Receipt, TransferError>>>,
}

impl Default for Queues {
    fn default() -> Self {
        Self {
            batcher: Batcher::new(fitting),
        }
    }
}

impl PeerClient {
    /// Queues a small piece for `peer`, starting a sender if none is working, and waits
    /// for its receipt.
    pub(crate) async fn put_queued(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        order: &SignedOrder,
        hash: PieceHash,
        bytes: Bytes,
    ) -> Result<Receipt, TransferError> {
        let piece = Waiting {
            order: order.clone(),
            hash,
            bytes,
        };
        let (client, to) = (self.clone(), address.clone());
        let send = move |batch| {
            let (client, to) = (client.clone(), to.clone());
            async move { client.send_batch(peer, &to, batch).await }
        };
        let key = (peer, address.clone());
        let answer = self.queues.batcher.call(key, piece, send).await;
        answer.unwrap_or_else(|e| {
            Err(TransferError::Unreachable {
                peer,
                address: address.to_string(),
                reason: format!("the request carrying the piece was lost: {e}"),
            })
        })
    }

    /// Sends one batch of waiting pieces to `peer`: alone by `PUT` if it is one, else in
    /// one `POST /v1/writes`; a receipt (or refusal) per piece, in order.
    async fn send_batch(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        mut batch: Vec<Waiting>,
    ) -> Vec<Result<Receipt, TransferError>> {
        if batch.len() == 1
            && let Some(piece) = batch.pop()
        {
            let receipt = self
                .put_one(peer, address, &piece.order, piece.hash, piece.bytes)
                .await;
            return vec![receipt];
        }
        let pieces: Vec<(SignedOrder, PieceHash, Bytes)> = batch
            .into_iter()
            .map(|w| (w.order, w.hash, w.bytes))
            .collect();
        match self.write_many(peer, address, &pieces).await {
            Ok(receipts) => receipts,
            // A peer of an earlier version, without the route: one piece at a time.
            Err(TransferError::Refused { code, .. })
                if code == cairn_proto::codes::UNKNOWN_ENDPOINT =>
            {
                let mut receipts = Vec::with_capacity(pieces.len());
                for (order, hash, bytes) in pieces {
                    receipts.push(self.put_one(peer, address, &order, hash, bytes).await);
                }
                receipts
            }
            Err(error) => pieces.iter().map(|_| Err(error.clone())).collect(),
        }
    }
}

/// How many of the oldest waiting pieces fit one request.
fn fitting(waiting: &[Waiting]) -> usize {
    let mut bytes = 0u64;
    let mut count = 0usize;
    for piece in waiting {
        let size = piece.bytes.len() as u64 + PER_PIECE_OVERHEAD;
        if count == MAX_WRITES || (count > 0 && bytes + size > MAX_WRITE_BYTES) {
            break;
        }
        bytes += size;
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::order::{Holder, Order, OrderAction, OrderSerial, OrderSigner};
    use ed25519_dalek::SigningKey;

    fn waiting(size: usize) -> Waiting {
        let signer = OrderSigner::new(SigningKey::from_bytes(&[1; 32]));
        let peer = PeerId::from_verifying_key(&SigningKey::from_bytes(&[2; 32]).verifying_key());
        let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let bytes = Bytes::from(vec![0u8; size]);
        let hash = PieceHash::of(&bytes);
        let order = signer
            .sign(Order {
                pool: signer.pool_id(),
                peer,
                piece: hash,
                action: OrderAction::Put,
                max_size: size as u64,
                holder: Holder::Account(cairn_core::AccountId::from_verifying_key(&key)),
                serial: OrderSerial(1),
                expires_at: 4_000_000_000,
            })
            .unwrap();
        Waiting { order, hash, bytes }
    }

    #[test]
    fn a_request_carries_what_fits_the_peers_limits_and_at_least_one_piece() {
        let small: Vec<Waiting> = (0..MAX_WRITES + 5).map(|_| waiting(10)).collect();
        assert_eq!(fitting(&small), MAX_WRITES);
        let per = SMALL_WRITE;
        let fit = (MAX_WRITE_BYTES / (per as u64 + PER_PIECE_OVERHEAD)) as usize;
        let big: Vec<Waiting> = (0..fit + 3).map(|_| waiting(per)).collect();
        assert_eq!(fitting(&big), fit.clamp(1, MAX_WRITES));
        assert_eq!(fitting(&big[..1]), 1);
        assert_eq!(fitting(&[]), 0);
    }
}
