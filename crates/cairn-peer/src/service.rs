//! The peer's data path, independent of HTTP: every order checked (pool signature, expiry,
//! this peer, action, piece, size, serial) before a byte is stored, served or deleted.
//! A different transport can call the same methods.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use cairn_core::{PeerId, PieceHash, PoolId};
use cairn_proto::order::DEFAULT_REPLAY_CAPACITY;
use cairn_proto::peer_api::{MAX_READ_BYTES, MAX_READS};
use cairn_proto::{OrderAction, OrderError, OrderVerifier, Receipt, SignedOrder, Vouched};
use ed25519_dalek::SigningKey;
use futures_util::Stream;

use crate::audit::{self, AuditError, AuditQuery};
use crate::store::{HeldPiece, PieceStore, StoreError};

/// Why a request on the data path was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The peer has not yet learnt which pool it serves.
    #[error("this peer has not reached its pool yet and cannot check orders; try again shortly")]
    PoolUnknown,
    /// The order was refused.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An audit asked for an impossible slice, or its piece could not be read.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A batch of reads asked for too much at once.
    #[error("{0}")]
    TooManyReads(String),
}

pub use cairn_proto::clock::now_secs;

/// The peer's data path.
#[derive(Debug)]
pub struct PeerService {
    store: PieceStore,
    key: SigningKey,
    id: PeerId,
    pool: Mutex<Option<PoolId>>,
    verifier: Mutex<Option<OrderVerifier>>,
    load: AtomicU32,
    /// Piece bytes stored and sent since start (see [`PeerService::traffic`]).
    received: AtomicU64,
    served: AtomicU64,
}

/// Counts a request in flight while alive.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PeerService {
    /// A service over `store` for the peer whose key this is; it accepts orders once
    /// [`PeerService::trust_pool`] is called.
    pub fn new(store: PieceStore, key: SigningKey) -> Self {
        let id = PeerId::from_verifying_key(&key.verifying_key());
        Self {
            store,
            key,
            id,
            pool: Mutex::new(None),
            verifier: Mutex::new(None),
            load: AtomicU32::new(0),
            received: AtomicU64::new(0),
            served: AtomicU64::new(0),
        }
    }

    /// Accepts orders signed by `pool` from now on, and no longer those of any pool
    /// trusted before (a peer the operator moved to a new pool: `--join-new-pool`).
    pub fn trust_pool(&self, pool: PoolId) {
        let mut trusted = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if *trusted == Some(pool) {
            return;
        }
        let mut verifier = self.verifier.lock().unwrap_or_else(PoisonError::into_inner);
        *verifier = Some(OrderVerifier::new(pool, self.id, DEFAULT_REPLAY_CAPACITY));
        *trusted = Some(pool);
    }

    /// The pool whose orders this peer accepts, once known.
    pub fn pool(&self) -> Option<PoolId> {
        *self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This peer.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The piece store.
    pub fn store(&self) -> &PieceStore {
        &self.store
    }

    /// Piece bytes stored and piece bytes sent out since start.
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.received.load(Ordering::Relaxed),
            self.served.load(Ordering::Relaxed),
        )
    }

    /// Counts `bytes` of pieces stored.
    pub(crate) fn count_received(&self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts `bytes` of pieces sent out.
    pub(crate) fn count_served(&self, bytes: u64) {
        self.served.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Requests in flight.
    pub fn load(&self) -> u32 {
        self.load.load(Ordering::Relaxed)
    }

    /// Marks a request in flight until the guard drops.
    pub fn begin(&self) -> InFlight<'_> {
        self.load.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.load)
    }

    /// Checks `order` for `action` on `piece` with `size` bytes, using up its serial.
    pub fn check(
        &self,
        order: &SignedOrder,
        action: OrderAction,
        piece: &PieceHash,
        size: u64,
    ) -> Result<(), ServiceError> {
        let pool = self.pool().ok_or(ServiceError::PoolUnknown)?;
        // The signature is checked outside the verifier's lock.
        let vouched = Vouched::check(order, pool)?;
        self.admit(vouched, action, piece, size)
    }

    /// Checks many orders' signatures by the trusted pool as one set; each answered alone.
    pub fn vouch_many<'a>(
        &self,
        orders: impl IntoIterator<Item = &'a SignedOrder>,
    ) -> Result<Vec<Result<Vouched<'a>, OrderError>>, ServiceError> {
        let pool = self.pool().ok_or(ServiceError::PoolUnknown)?;
        Ok(Vouched::check_many(orders, pool))
    }

    /// [`PeerService::check`] for an order whose signature was checked.
    fn admit(
        &self,
        vouched: Vouched<'_>,
        action: OrderAction,
        piece: &PieceHash,
        size: u64,
    ) -> Result<(), ServiceError> {
        let mut verifier = self
            .verifier
            .lock()
            .map_err(|_| StoreError::Io("order verifier lock poisoned".to_owned()))?;
        let verifier = verifier.as_mut().ok_or(ServiceError::PoolUnknown)?;
        verifier.admit(vouched, action, piece, size, now_secs())?;
        Ok(())
    }

    /// Stores a piece of `size` bytes under a put order; returns the signed receipt.
    /// Capacity is reserved before the order's serial is used, so a full peer refuses
    /// without spending the order.
    pub async fn put<S, E>(
        &self,
        order: &SignedOrder,
        piece: PieceHash,
        size: u64,
        body: S,
    ) -> Result<Receipt, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let pool = self.pool().ok_or(ServiceError::PoolUnknown)?;
        self.put_vouched(Vouched::check(order, pool), piece, size, body)
            .await
    }

    /// [`PeerService::put`] under an order whose signature was checked (or why it was
    /// refused, answered only after capacity is checked, as for one order alone).
    pub async fn put_vouched<S, E>(
        &self,
        vouched: Result<Vouched<'_>, OrderError>,
        piece: PieceHash,
        size: u64,
        body: S,
    ) -> Result<Receipt, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if self.pool().is_none() {
            return Err(ServiceError::PoolUnknown);
        }
        let reservation = self.store.reserve(size)?;
        let vouched = vouched?;
        let serial = vouched.signed().order.serial;
        self.admit(vouched, OrderAction::Put, &piece, size)?;
        self.store.put(piece, size, body, reservation).await?;
        Ok(Receipt::sign(&self.key, piece, size, serial))
    }

    /// A piece for sending under a get order.
    pub async fn get(
        &self,
        order: &SignedOrder,
        piece: PieceHash,
    ) -> Result<(HeldPiece, u64), ServiceError> {
        let size = self.store.size_of(&piece).unwrap_or(0);
        self.check(order, OrderAction::Get, &piece, size)?;
        Ok(self.store.read(&piece).await?)
    }

    /// Many small pieces under get orders, each answered on its own (a refused order or a
    /// missing piece fails alone). A request for more than [`MAX_READS`] pieces, more than
    /// [`MAX_READ_BYTES`] in all, or any piece too large to read whole is refused before
    /// any order's serial is used.
    pub async fn read_many(
        &self,
        orders: &[SignedOrder],
    ) -> Result<Vec<Result<Bytes, ServiceError>>, ServiceError> {
        if orders.len() > MAX_READS {
            return Err(ServiceError::TooManyReads(format!(
                "{} pieces asked at once; at most {MAX_READS}",
                orders.len()
            )));
        }
        let sizes: Vec<u64> = orders
            .iter()
            .map(|o| self.store.size_of(&o.order.piece).unwrap_or(0))
            .collect();
        if sizes.iter().any(|&size| !PieceStore::is_small(size)) {
            return Err(ServiceError::TooManyReads(
                "a piece that large is read alone, with GET /v1/pieces/{hash}".into(),
            ));
        }
        let total: u64 = sizes.iter().sum();
        if total > MAX_READ_BYTES {
            return Err(ServiceError::TooManyReads(format!(
                "{total} bytes asked at once; at most {MAX_READ_BYTES}"
            )));
        }
        let mut answers: Vec<Result<Bytes, ServiceError>> = Vec::with_capacity(orders.len());
        let mut granted = Vec::new();
        for (order, &size) in orders.iter().zip(&sizes) {
            let piece = order.order.piece;
            match self.check(order, OrderAction::Get, &piece, size) {
                Ok(()) => {
                    granted.push((answers.len(), piece));
                    answers.push(Ok(Bytes::new()));
                }
                Err(e) => answers.push(Err(e)),
            }
        }
        let (slots, hashes): (Vec<usize>, Vec<PieceHash>) = granted.into_iter().unzip();
        for (slot, read) in slots.into_iter().zip(self.store.read_many(hashes).await) {
            answers[slot] = read.map_err(ServiceError::from);
        }
        Ok(answers)
    }

    /// Answers an audit of `piece` under an audit order: the Bao slice of the queried range,
    /// computed from the bytes on disk now (see [`crate::audit`]). A malformed range is
    /// refused before the order's serial is used.
    pub async fn audit(
        &self,
        order: &SignedOrder,
        piece: PieceHash,
        query: AuditQuery,
    ) -> Result<Vec<u8>, ServiceError> {
        query.check_shape()?;
        let size = self.store.size_of(&piece).unwrap_or(0);
        self.check(order, OrderAction::Audit, &piece, size)?;
        let (file, size) = self.store.open_piece(&piece).await?;
        let range = query.within(size)?;
        let file = file.into_std().await;
        let answer = tokio::task::spawn_blocking(move || audit::slice(file, range))
            .await
            .map_err(|e| StoreError::Io(format!("the audit task failed: {e}")))??;
        Ok(answer)
    }

    /// Deletes a piece under a delete order; returns whether it was held.
    pub fn delete(&self, order: &SignedOrder, piece: PieceHash) -> Result<bool, ServiceError> {
        self.check(order, OrderAction::Delete, &piece, 0)?;
        Ok(self.store.delete(&piece)?)
    }
}
