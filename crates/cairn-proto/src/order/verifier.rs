//! The peer's side of orders: checks each one offline against the pool's key, the peer's own
//! identity, the request and the clock, and accepts each serial once.
//!
//! Time is an argument, never read from a clock, so tests drive it directly. The verifier's
//! time never runs backwards: a clock stepped back cannot reopen an order whose serial was
//! already forgotten because it had expired.

use cairn_core::batch::{SignedBy, verify_many};
use cairn_core::{PeerId, PieceHash, PoolId};

use super::{OrderAction, OrderError, OrderSerial, SignedOrder};
use crate::replay::{Refused, ReplayCache};

/// The longest an order may stay valid, in seconds (24 hours). An order that claims more is
/// refused: it means a wrong clock or a bug, and it would pin a serial in memory for long.
pub const MAX_ORDER_LIFETIME: u64 = 24 * 60 * 60;

/// A reasonable number of serials for a peer to remember. Each costs a few dozen bytes, so
/// a full cache takes tens of megabytes.
pub const DEFAULT_REPLAY_CAPACITY: usize = 1_000_000;

/// Checks orders on a peer and remembers the serials it accepted.
#[derive(Debug)]
pub struct OrderVerifier {
    /// The only pool whose orders this peer accepts.
    pool: PoolId,
    /// This peer.
    peer: PeerId,
    /// Serials accepted and not yet expired.
    seen: ReplayCache<OrderSerial>,
    /// The latest time a check was made at; earlier times are treated as this one.
    latest: u64,
}

impl OrderVerifier {
    /// A verifier for `peer` that trusts `pool`, remembering at most `max_serials` serials
    /// of unexpired orders (see [`DEFAULT_REPLAY_CAPACITY`]).
    pub fn new(pool: PoolId, peer: PeerId, max_serials: usize) -> Self {
        Self {
            pool,
            peer,
            seen: ReplayCache::new(max_serials),
            latest: 0,
        }
    }

    /// The pool this verifier trusts.
    pub fn pool_id(&self) -> PoolId {
        self.pool
    }

    /// The peer this verifier checks orders for.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// How many serials are remembered right now.
    pub fn remembered_serials(&self) -> usize {
        self.seen.len()
    }

    /// Checks that `signed` allows this peer to perform `action` on `piece` for a request of
    /// `size` bytes at `now` (Unix seconds), and if so uses up its serial.
    ///
    /// Checks, in order: the trusted pool and its signature, expiry (valid while
    /// `now < expires_at`, and for at most [`MAX_ORDER_LIFETIME`]), this peer, the action,
    /// the piece, the size, and the serial. A refused order does not use up its serial.
    pub fn check(
        &mut self,
        signed: &SignedOrder,
        action: OrderAction,
        piece: &PieceHash,
        size: u64,
        now: u64,
    ) -> Result<(), OrderError> {
        let vouched = Vouched::check(signed, self.pool)?;
        self.admit(vouched, action, piece, size, now)
    }

    /// [`OrderVerifier::check`] for an order whose signature was already checked (see
    /// [`Vouched::check_many`]): everything but the signature.
    pub fn admit(
        &mut self,
        vouched: Vouched<'_>,
        action: OrderAction,
        piece: &PieceHash,
        size: u64,
        now: u64,
    ) -> Result<(), OrderError> {
        let now = now.max(self.latest);
        self.latest = now;
        self.seen.prune(now);

        let order = &vouched.signed.order;
        if vouched.pool != self.pool {
            return Err(OrderError::WrongPool {
                trusted: self.pool,
                found: vouched.pool,
            });
        }
        if now >= order.expires_at {
            return Err(OrderError::Expired {
                expired_at: order.expires_at,
                now,
            });
        }
        if order.expires_at - now > MAX_ORDER_LIFETIME {
            return Err(OrderError::LifetimeTooLong {
                expires_at: order.expires_at,
                now,
                max_lifetime: MAX_ORDER_LIFETIME,
            });
        }
        if order.peer != self.peer {
            return Err(OrderError::NotForThisPeer {
                addressed_to: order.peer,
                this_peer: self.peer,
            });
        }
        if order.action != action {
            return Err(OrderError::WrongAction {
                expected: action,
                found: order.action,
            });
        }
        if order.piece != *piece {
            return Err(OrderError::WrongPiece {
                ordered: order.piece,
                requested: *piece,
            });
        }
        if size > order.max_size {
            return Err(OrderError::TooLarge {
                size,
                max: order.max_size,
            });
        }
        self.seen
            .insert(order.serial, order.expires_at)
            .map_err(|refused| match refused {
                Refused::Seen => OrderError::Replayed(order.serial),
                Refused::Full => OrderError::ReplayCacheFull,
            })
    }
}

/// An order whose signature by the pool it names was checked against a trusted pool. Made
/// only by [`Vouched::check`] and [`Vouched::check_many`]; [`OrderVerifier::admit`] does the
/// rest of an order's checks.
#[derive(Debug, Clone, Copy)]
pub struct Vouched<'a> {
    signed: &'a SignedOrder,
    pool: PoolId,
}

impl<'a> Vouched<'a> {
    /// Checks that `signed` names `pool` and carries its signature.
    pub fn check(signed: &'a SignedOrder, pool: PoolId) -> Result<Self, OrderError> {
        if signed.order.pool != pool {
            return Err(OrderError::WrongPool {
                trusted: pool,
                found: signed.order.pool,
            });
        }
        pool.verify(&signed.order.signed_message(), &signed.signature)
            .map_err(|_| OrderError::BadSignature)?;
        Ok(Self { signed, pool })
    }

    /// [`Vouched::check`] for many orders at once: their signatures are checked as one set
    /// (about half the work of checking each; see [`cairn_core::batch`]), each order still
    /// answered on its own, in the order given.
    pub fn check_many(
        orders: impl IntoIterator<Item = &'a SignedOrder>,
        pool: PoolId,
    ) -> Vec<Result<Self, OrderError>> {
        let orders: Vec<&SignedOrder> = orders.into_iter().collect();
        let messages: Vec<Vec<u8>> = orders.iter().map(|o| o.order.signed_message()).collect();
        let key = pool.as_bytes();
        let items: Vec<SignedBy<'_>> = orders
            .iter()
            .zip(&messages)
            .filter(|(signed, _)| signed.order.pool == pool)
            .map(|(signed, message)| SignedBy {
                key,
                message,
                signature: &signed.signature,
            })
            .collect();
        let mut checked = verify_many(&items).into_iter();
        orders
            .into_iter()
            .map(|signed| {
                if signed.order.pool != pool {
                    return Err(OrderError::WrongPool {
                        trusted: pool,
                        found: signed.order.pool,
                    });
                }
                match checked.next() {
                    Some(Ok(())) => Ok(Self { signed, pool }),
                    _ => Err(OrderError::BadSignature),
                }
            })
            .collect()
    }

    /// The order.
    pub fn signed(&self) -> &'a SignedOrder {
        self.signed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::test_support::*;
    use crate::order::{Holder, Order, OrderSerial, OrderSigner, SIGNED_ORDER_LEN};
    use proptest::prelude::*;

    const NOW: u64 = 1_800_000_000;

    fn verifier() -> OrderVerifier {
        OrderVerifier::new(pool_signer().pool_id(), peer(2), 100)
    }

    /// An order for `peer(2)` to put piece [3; 32], up to 1000 bytes, expiring at NOW + 60.
    fn order(serial: u64) -> Order {
        Order {
            pool: pool_signer().pool_id(),
            peer: peer(2),
            piece: PieceHash::from_bytes([3; 32]),
            action: OrderAction::Put,
            max_size: 1000,
            holder: Holder::Account(account(4)),
            serial: OrderSerial(serial),
            expires_at: NOW + 60,
        }
    }

    fn signed(order: Order) -> SignedOrder {
        pool_signer().sign(order).unwrap()
    }

    /// Checks a put of piece [3; 32] of `size` bytes at `now`.
    fn put(v: &mut OrderVerifier, s: &SignedOrder, size: u64, now: u64) -> Result<(), OrderError> {
        v.check(
            s,
            OrderAction::Put,
            &PieceHash::from_bytes([3; 32]),
            size,
            now,
        )
    }

    #[test]
    fn orders_checked_as_a_set_answer_as_each_alone() {
        let other_pool = OrderSigner::new(key(9));
        let good = signed(order(1));
        let mut forged = signed(order(2));
        forged.signature[0] ^= 1;
        let foreign = other_pool
            .sign(Order {
                pool: other_pool.pool_id(),
                ..order(3)
            })
            .unwrap();
        let mut altered = signed(order(4));
        altered.order.max_size = 1;
        let also_good = signed(order(5));
        let orders = [good, forged, foreign, altered, also_good];
        let pool = pool_signer().pool_id();
        let vouched = Vouched::check_many(&orders, pool);
        let mut set = verifier();
        let mut alone = verifier();
        for (signed, vouched) in orders.iter().zip(vouched) {
            let piece = PieceHash::from_bytes([3; 32]);
            let from_set = vouched.and_then(|v| set.admit(v, OrderAction::Put, &piece, 1, NOW));
            assert_eq!(from_set, put(&mut alone, signed, 1, NOW));
        }
        assert_eq!(set.remembered_serials(), 2);
        // A vouch for another pool does not get past this verifier.
        let vouched = Vouched::check(&orders[2], other_pool.pool_id()).unwrap();
        assert!(matches!(
            set.admit(
                vouched,
                OrderAction::Put,
                &PieceHash::from_bytes([3; 32]),
                1,
                NOW
            ),
            Err(OrderError::WrongPool { .. })
        ));
    }

    #[test]
    fn accepts_a_good_order_once() {
        let mut v = verifier();
        let s = signed(order(1));
        assert_eq!(put(&mut v, &s, 1000, NOW), Ok(()));
        assert_eq!(v.remembered_serials(), 1);
        assert_eq!(
            put(&mut v, &s, 1000, NOW + 1),
            Err(OrderError::Replayed(OrderSerial(1)))
        );
        // The serial, not the bytes, is what is remembered.
        let mut again = order(1);
        again.max_size = 5;
        assert_eq!(
            put(&mut v, &signed(again), 5, NOW),
            Err(OrderError::Replayed(OrderSerial(1)))
        );
    }

    #[test]
    fn refuses_a_forgery() {
        let mut v = verifier();
        let forger = OrderSigner::new(key(66));
        let mut forged = forger
            .sign(Order {
                pool: forger.pool_id(),
                ..order(1)
            })
            .unwrap();
        forged.order.pool = v.pool_id();
        assert_eq!(put(&mut v, &forged, 1, NOW), Err(OrderError::BadSignature));
        // A genuine signature over a different order does not carry over.
        let mut altered = signed(order(1));
        altered.order.max_size = u64::MAX;
        assert_eq!(put(&mut v, &altered, 1, NOW), Err(OrderError::BadSignature));
    }

    #[test]
    fn refuses_another_pool() {
        let mut v = verifier();
        let other = OrderSigner::new(key(66));
        let s = other
            .sign(Order {
                pool: other.pool_id(),
                ..order(1)
            })
            .unwrap();
        assert_eq!(
            put(&mut v, &s, 1, NOW),
            Err(OrderError::WrongPool {
                trusted: v.pool_id(),
                found: other.pool_id()
            })
        );
    }

    #[test]
    fn refuses_expired_orders_including_exactly_at_expiry() {
        let mut v = verifier();
        let s = signed(order(1));
        let expired = |now| {
            Err(OrderError::Expired {
                expired_at: NOW + 60,
                now,
            })
        };
        assert_eq!(put(&mut v, &s, 1, NOW + 60), expired(NOW + 60));
        assert_eq!(put(&mut v, &s, 1, NOW + 61), expired(NOW + 61));
        assert_eq!(put(&mut verifier(), &s, 1, NOW + 59), Ok(()));
    }

    #[test]
    fn refuses_orders_valid_for_too_long() {
        let s = signed(Order {
            expires_at: NOW + MAX_ORDER_LIFETIME + 1,
            ..order(1)
        });
        assert_eq!(
            put(&mut verifier(), &s, 1, NOW),
            Err(OrderError::LifetimeTooLong {
                expires_at: NOW + MAX_ORDER_LIFETIME + 1,
                now: NOW,
                max_lifetime: MAX_ORDER_LIFETIME
            })
        );
        assert_eq!(put(&mut verifier(), &s, 1, NOW + 1), Ok(()));
        let s = signed(Order {
            expires_at: u64::MAX,
            ..order(1)
        });
        assert!(matches!(
            put(&mut verifier(), &s, 1, 0),
            Err(OrderError::LifetimeTooLong { .. })
        ));
    }

    #[test]
    fn refuses_another_peer_action_piece_or_size() {
        let mut v = verifier();
        let s = signed(Order {
            peer: peer(9),
            ..order(1)
        });
        assert_eq!(
            put(&mut v, &s, 1, NOW),
            Err(OrderError::NotForThisPeer {
                addressed_to: peer(9),
                this_peer: peer(2)
            })
        );
        let s = signed(order(2));
        assert_eq!(
            v.check(
                &s,
                OrderAction::Get,
                &PieceHash::from_bytes([3; 32]),
                1,
                NOW
            ),
            Err(OrderError::WrongAction {
                expected: OrderAction::Get,
                found: OrderAction::Put
            })
        );
        let other = PieceHash::from_bytes([4; 32]);
        assert_eq!(
            v.check(&s, OrderAction::Put, &other, 1, NOW),
            Err(OrderError::WrongPiece {
                ordered: PieceHash::from_bytes([3; 32]),
                requested: other
            })
        );
        assert_eq!(
            put(&mut v, &s, 1001, NOW),
            Err(OrderError::TooLarge {
                size: 1001,
                max: 1000
            })
        );
        // None of those refusals used up serial 2.
        assert_eq!(v.remembered_serials(), 0);
        assert_eq!(put(&mut v, &s, 1000, NOW), Ok(()));
    }

    #[test]
    fn a_full_cache_says_busy_until_serials_expire() {
        let mut v = OrderVerifier::new(pool_signer().pool_id(), peer(2), 2);
        let soon = |serial, expires_at| {
            signed(Order {
                expires_at,
                ..order(serial)
            })
        };
        assert_eq!(put(&mut v, &soon(1, NOW + 10), 1, NOW), Ok(()));
        assert_eq!(put(&mut v, &soon(2, NOW + 20), 1, NOW), Ok(()));
        let third = soon(3, NOW + 30);
        assert_eq!(
            put(&mut v, &third, 1, NOW),
            Err(OrderError::ReplayCacheFull)
        );
        // A replay is still called a replay when the cache is full.
        assert_eq!(
            put(&mut v, &soon(1, NOW + 10), 1, NOW),
            Err(OrderError::Replayed(OrderSerial(1)))
        );
        // Once serial 1 expires it is forgotten, and there is room again.
        assert_eq!(put(&mut v, &third, 1, NOW + 10), Ok(()));
        assert_eq!(v.remembered_serials(), 2);
        assert_eq!(put(&mut v, &soon(4, NOW + 40), 1, NOW + 25), Ok(()));
        assert_eq!(v.remembered_serials(), 2);
    }

    #[test]
    fn a_clock_stepped_back_does_not_reopen_forgotten_serials() {
        let mut v = verifier();
        let s = signed(order(1));
        assert_eq!(put(&mut v, &s, 1, NOW), Ok(()));
        // Time passes; the order expires and its serial is forgotten.
        assert!(put(&mut v, &signed(order(2)), 1, NOW + 100).is_err());
        assert_eq!(v.remembered_serials(), 0);
        // The clock steps back to before the expiry: the order stays dead.
        assert!(matches!(
            put(&mut v, &s, 1, NOW),
            Err(OrderError::Expired { now, .. }) if now == NOW + 100
        ));
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let s = signed(order(1));
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), SIGNED_ORDER_LEN);
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            if let Some(byte) = flipped.get_mut(bit / 8) {
                *byte ^= 1 << (bit % 8);
            }
            let Ok(decoded) = SignedOrder::from_bytes(&flipped) else {
                continue;
            };
            // Ask for exactly what the altered order says, so only the signature and
            // the identities stand between it and acceptance.
            let o = &decoded.order;
            let result = verifier().check(&decoded, o.action, &o.piece, o.max_size, NOW);
            assert!(result.is_err(), "bit {bit} flipped was accepted");
        }
    }

    /// Any signing key seed.
    fn any_seed() -> impl Strategy<Value = [u8; 32]> {
        any::<[u8; 32]>()
    }

    proptest! {
        #[test]
        fn sign_encode_decode_verify(
            order in any_order(),
            peer_seed in any_seed(),
            lifetime in 1..=MAX_ORDER_LIFETIME,
            now in 0u64..=u64::MAX - MAX_ORDER_LIFETIME,
            size_below in any::<u64>(),
            as_text in any::<bool>(),
        ) {
            let this_peer = PeerId::from_verifying_key(&key_from(peer_seed).verifying_key());
            let order = Order { pool: pool_signer().pool_id(), peer: this_peer, expires_at: now + lifetime, ..order };
            let s = pool_signer().sign(order.clone()).unwrap();
            let received = if as_text {
                SignedOrder::from_header_value(&s.to_header_value()).unwrap()
            } else {
                SignedOrder::from_bytes(&s.to_bytes()).unwrap()
            };
            prop_assert_eq!(&received, &s);
            let size = size_below % order.max_size.saturating_add(1);
            let mut v = OrderVerifier::new(pool_signer().pool_id(), this_peer, 10);
            prop_assert_eq!(v.check(&received, order.action, &order.piece, size, now), Ok(()));
            prop_assert_eq!(
                v.check(&received, order.action, &order.piece, size, now),
                Err(OrderError::Replayed(order.serial))
            );
        }
    }
}
