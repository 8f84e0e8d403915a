//! The pool's shared state behind every request and background loop: the metadata store,
//! the order signer, the memory of recent signed requests and request rates, and the
//! configuration, and the clock every service reads.

use std::sync::Mutex;
use std::time::Duration;

use cairn_core::{PeerId, PieceHash, PoolId};
use cairn_proto::clock::SharedClock;
use cairn_proto::order::MAX_ORDER_LIFETIME;
use cairn_proto::{
    Holder, Order, OrderAction, OrderError, OrderSerial, OrderSigner, RequestVerifier, SignedOrder,
};
use rand::Rng;

use crate::config::PoolConfig;
use crate::counters::Counters;
use crate::quota::Quotas;
use crate::rate::KeyRates;
use crate::rebalance::Rebalancer;
use crate::repair::Repairs;
use crate::store::{IndexMark, MetadataStore, StoreError};

/// Shared state of a running pool.
pub struct App<S> {
    /// The metadata store.
    pub store: S,
    /// Signs orders with the pool's key.
    pub signer: OrderSigner,
    /// Recent signed requests, so none is accepted twice.
    pub requests: Mutex<RequestVerifier>,
    /// The configuration.
    pub config: PoolConfig,
    /// HTTP client for plain (loopback) requests.
    pub http: reqwest::Client,
    /// The peers' data path, for probing and auditing them (pinned to each peer's
    /// identity over TLS).
    pub peers: std::sync::Arc<dyn cairn_transfer::PeerTransport>,
    /// Totals of background work, for `/metrics`.
    pub counters: Counters,
    /// The repair queue and the jobs peers are running.
    pub repairs: Repairs,
    /// The rebalancer's memory between passes.
    pub rebalance: Rebalancer,
    /// Every active signing key's request bucket (see [`crate::rate`]).
    pub rates: Mutex<KeyRates>,
    /// Each account's usage bound, so concurrent placements cannot together pass the
    /// account's quota and a placement needs no scan of the account's pieces.
    pub quotas: Quotas,
    /// Room promised on each peer that its last report may not count yet, so placement
    /// never promises a peer more than it has.
    pub reserved: crate::reserved::Reserved,
    /// The time every service and background loop reads ([`cairn_proto::clock::system`]
    /// outside tests).
    pub clock: SharedClock,
    /// The store's index mark as last read, and when (by [`App::clock`]), so heartbeats
    /// do not each read it (see [`App::index_mark`]).
    pub index_mark: Mutex<Option<(IndexMark, u64)>>,
}

/// How old an index mark peers may be told, in milliseconds: a mark a little behind costs a
/// peer nothing but a later notice that the pool's index went back.
pub const INDEX_MARK_FRESH_MS: u64 = 1000;

/// The pool could not sign an order with its own key (a bug: the order named another pool).
#[derive(Debug, thiserror::Error)]
#[error("the pool could not sign an order: {0}")]
pub struct SignError(#[from] OrderError);

impl<S> App<S> {
    /// The pool's identity.
    pub fn pool_id(&self) -> PoolId {
        self.signer.pool_id()
    }

    /// Now by the pool's clock, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The expiry (Unix seconds) of an order issued at `now_ms` to last `ttl`, capped at the
    /// longest lifetime peers accept.
    pub fn expiry(now_ms: u64, ttl: Duration) -> u64 {
        now_ms / 1000 + ttl.as_secs().clamp(1, MAX_ORDER_LIFETIME)
    }

    /// Signs an order for `peer` to perform `action` on `piece` (at most `max_size` bytes)
    /// for `holder` until `expires_at` (see [`App::expiry`]), with a fresh random serial.
    pub fn order(
        &self,
        peer: PeerId,
        piece: PieceHash,
        action: OrderAction,
        max_size: u64,
        holder: Holder,
        expires_at: u64,
    ) -> Result<SignedOrder, SignError> {
        let order = Order {
            pool: self.pool_id(),
            peer,
            piece,
            action,
            max_size,
            holder,
            serial: OrderSerial(rand::rng().random()),
            expires_at,
        };
        Ok(self.signer.sign(order)?)
    }
}

impl<S: MetadataStore> App<S> {
    /// The store's index mark, read at most once per [`INDEX_MARK_FRESH_MS`]; never one
    /// behind a mark already given out by this process.
    pub async fn index_mark(&self) -> Result<IndexMark, StoreError> {
        let now = self.now_ms();
        let cached = *self
            .index_mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((mark, at)) = cached
            && now.saturating_sub(at) < INDEX_MARK_FRESH_MS
        {
            return Ok(mark);
        }
        let mark = self.store.index_mark().await?;
        let mut cached = self
            .index_mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *cached {
            // A slower read must not replace a newer mark.
            Some((newer, _)) if newer.id == mark.id && newer.generation > mark.generation => {
                Ok(newer)
            }
            _ => {
                *cached = Some((mark, now));
                Ok(mark)
            }
        }
    }
}
