//! Small pieces bound for one peer travel together: while a request to that peer is out,
//! the small pieces that arrive for it wait, and the next request carries them all
//! (`POST /v1/writes`, within the peer's limits). There is no timer: a piece that finds
//! no request out goes at once, alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use cairn_core::{PeerId, PieceHash};
use cairn_proto::peer_api::{MAX_WRITE_BYTES, MAX_WRITES};
use cairn_proto::{Receipt, SignedOrder};
use tokio::sync::oneshot;

use crate::{PeerClient, TransferError};

/// Pieces up to this size may travel with others.
pub(crate) const SMALL_WRITE: usize = 256 * 1024;

/// Room kept in a request for each piece's framing and order.
const PER_PIECE_OVERHEAD: u64 = 512;

/// A piece waiting for a request to its peer, and where its receipt goes.
struct Waiting {
    order: SignedOrder,
    hash: PieceHash,
    bytes: Bytes,
    reply: oneshot::Sender<Result<Receipt, TransferError>>,
}

/// One peer's waiting pieces, and whether a sender is working through them.
#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    sending: bool,
}

type Shared = Arc<Mutex<Queue>>;

/// Every peer's queue, by peer and address.
#[derive(Default)]
pub(crate) struct Queues {
    by_peer: Mutex<HashMap<(PeerId, String), Shared>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the data usable (it is only moved in and out).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Armed while a sender works: if it stops before its queue is empty (a panic, or its
/// runtime shutting down), the pieces still waiting hear so (their callers try another
/// peer) and the next piece starts a sender afresh.
struct Stopped<'a>(&'a Shared, bool);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if self.1 {
            let mut queue = lock(self.0);
            queue.sending = false;
            // Dropping a reply tells its caller the request carrying it was lost.
            queue.waiting.clear();
        }
    }
}

impl PeerClient {
    /// Queues a small piece for `peer`, starting a sender if none is working, and waits
    /// for its receipt.
    pub(crate) async fn put_queued(
        &self,
        peer: PeerId,
        address: &str,
        order: &SignedOrder,
        hash: PieceHash,
        bytes: Bytes,
    ) -> Result<Receipt, TransferError> {
        let queue = lock(&self.queues.by_peer)
            .entry((peer, address.to_owned()))
            .or_default()
            .clone();
        let (reply, receipt) = oneshot::channel();
        let start = {
            let mut queue = lock(&queue);
            queue.waiting.push(Waiting {
                order: order.clone(),
                hash,
                bytes,
                reply,
            });
            !std::mem::replace(&mut queue.sending, true)
        };
        if start {
            // Its own task: a caller that stops waiting (a hedge won) must not strand the
            // pieces queued behind its own.
            let client = self.clone();
            let address = address.to_owned();
            tokio::spawn(async move { client.send_waiting(peer, &address, &queue).await });
        }
        receipt.await.map_err(|_| TransferError::Unreachable {
            peer,
            address: address.to_owned(),
            reason: "the request carrying the piece was lost".into(),
        })?
    }

    /// Sends what waits for `peer`, a request at a time, until nothing does.
    async fn send_waiting(&self, peer: PeerId, address: &str, queue: &Shared) {
        let mut stopped = Stopped(queue, true);
        loop {
            let mut batch = {
                let mut queue = lock(queue);
                if queue.waiting.is_empty() {
                    queue.sending = false;
                    stopped.1 = false;
                    return;
                }
                take_batch(&mut queue.waiting)
            };
            if batch.len() == 1 {
                if let Some(piece) = batch.pop() {
                    let receipt = self
                        .put_one(peer, address, &piece.order, piece.hash, piece.bytes)
                        .await;
                    let _ = piece.reply.send(receipt);
                }
                continue;
            }
            let pieces: Vec<(SignedOrder, PieceHash, Bytes)> = batch
                .iter()
                .map(|w| (w.order.clone(), w.hash, w.bytes.clone()))
                .collect();
            match self.write_many(peer, address, &pieces).await {
                Ok(receipts) => {
                    for (piece, receipt) in batch.into_iter().zip(receipts) {
                        let _ = piece.reply.send(receipt);
                    }
                }
                // A peer of an earlier version, without the route: one piece at a time.
                Err(TransferError::Refused { code, .. }) if code == "unknown_endpoint" => {
                    for piece in batch {
                        let receipt = self
                            .put_one(peer, address, &piece.order, piece.hash, piece.bytes)
                            .await;
                        let _ = piece.reply.send(receipt);
                    }
                }
                Err(error) => {
                    for piece in batch {
                        let _ = piece.reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }
}

/// The oldest waiting pieces that fit one request.
fn take_batch(waiting: &mut Vec<Waiting>) -> Vec<Waiting> {
    let mut bytes = 0u64;
    let mut count = 0usize;
    for piece in waiting.iter() {
        let size = piece.bytes.len() as u64 + PER_PIECE_OVERHEAD;
        if count == MAX_WRITES || (count > 0 && bytes + size > MAX_WRITE_BYTES) {
            break;
        }
        bytes += size;
        count += 1;
    }
    waiting.drain(..count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::order::{Holder, Order, OrderAction, OrderSerial, OrderSigner};
    use ed25519_dalek::SigningKey;

    #[tokio::test]
    async fn a_sender_that_stops_early_leaves_nobody_waiting() {
        let signer = OrderSigner::new(SigningKey::from_bytes(&[1; 32]));
        let peer = PeerId::from_verifying_key(&SigningKey::from_bytes(&[2; 32]).verifying_key());
        let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let order = signer
            .sign(Order {
                pool: signer.pool_id(),
                peer,
                piece: PieceHash::of(b"piece"),
                action: OrderAction::Put,
                max_size: 5,
                holder: Holder::Account(cairn_core::AccountId::from_verifying_key(&key)),
                serial: OrderSerial(1),
                expires_at: 4_000_000_000,
            })
            .unwrap();
        let queue: Shared = Arc::default();
        let (reply, receipt) = oneshot::channel();
        {
            let mut queue = lock(&queue);
            queue.sending = true;
            queue.waiting.push(Waiting {
                order,
                hash: PieceHash::of(b"piece"),
                bytes: Bytes::from_static(b"piece"),
                reply,
            });
        }
        // A sender stopping before its queue is empty (as a panic would stop it).
        drop(Stopped(&queue, true));
        assert!(receipt.await.is_err(), "the waiting piece heard nothing");
        assert!(!lock(&queue).sending, "no new sender could ever start");
        // A sender that ends normally is disarmed and leaves the queue alone.
        lock(&queue).sending = true;
        drop(Stopped(&queue, false));
        assert!(lock(&queue).sending);
    }
}
