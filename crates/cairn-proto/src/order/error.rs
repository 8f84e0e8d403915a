//! Why an order could not be decoded, signed or accepted, with the stable wire code for each
//! reason.

use cairn_core::{PeerId, PieceHash, PoolId};

use super::{OrderAction, OrderSerial};
use crate::codes;
use crate::error::ErrorCode;

/// Why an order could not be decoded, signed or accepted.
///
/// Each message is one sentence an operator or user can act on; [`OrderError::code`] is the
/// stable code sent on the wire beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The bytes or text are not an order: wrong length, bad encoding, unknown tag.
    #[error("the order is malformed: {0}")]
    Malformed(String),
    /// A newer pool issued the order in a format this Cairn does not know.
    #[error("the order has format version {0}, which this Cairn does not know; upgrade Cairn")]
    UnknownVersion(u8),
    /// The pool was asked to sign an order that names another pool.
    #[error(
        "cannot sign an order for pool {order_pool} with the key of pool {signer}; this is a bug in the pool"
    )]
    SignerMismatch {
        /// The pool the order names.
        order_pool: PoolId,
        /// The pool whose key was to sign it.
        signer: PoolId,
    },
    /// The order names a pool this peer does not belong to.
    #[error(
        "the order is from pool {found}, but this peer belongs to pool {trusted}; ask the right pool for an order"
    )]
    WrongPool {
        /// The pool this peer trusts.
        trusted: PoolId,
        /// The pool the order names.
        found: PoolId,
    },
    /// The signature is not the trusted pool's signature over this order.
    #[error("the order's signature is not valid: it was forged or altered, so it was refused")]
    BadSignature,
    /// The order's validity ended.
    #[error(
        "the order expired at {expired_at} (Unix seconds) and it is now {now}; ask the pool for a fresh order, and check the clocks if this repeats"
    )]
    Expired {
        /// When the order stopped being valid, in Unix seconds.
        expired_at: u64,
        /// The time of the check, in Unix seconds.
        now: u64,
    },
    /// The order claims to stay valid for longer than any order may.
    #[error(
        "the order expires at {expires_at} (Unix seconds), more than {max_lifetime} seconds after now ({now}); the pool's or this peer's clock is wrong"
    )]
    LifetimeTooLong {
        /// When the order says it stops being valid, in Unix seconds.
        expires_at: u64,
        /// The time of the check, in Unix seconds.
        now: u64,
        /// The longest lifetime accepted, in seconds.
        max_lifetime: u64,
    },
    /// The order is addressed to another peer.
    #[error(
        "the order is for peer {addressed_to}, not this peer ({this_peer}); ask the pool for an order for this peer"
    )]
    NotForThisPeer {
        /// The peer the order names.
        addressed_to: PeerId,
        /// The peer that checked it.
        this_peer: PeerId,
    },
    /// The order allows a different action than the one requested.
    #[error(
        "the order allows `{found}`, but the request is a `{expected}`; ask the pool for a `{expected}` order"
    )]
    WrongAction {
        /// The action the request performs.
        expected: OrderAction,
        /// The action the order allows.
        found: OrderAction,
    },
    /// The order is for a different piece than the one requested.
    #[error(
        "the order is for piece {ordered}, but the request is for piece {requested}; ask the pool for an order for this piece"
    )]
    WrongPiece {
        /// The piece the order names.
        ordered: PieceHash,
        /// The piece the request names.
        requested: PieceHash,
    },
    /// The request is larger than the order allows.
    #[error(
        "the request is {size} bytes, but the order allows at most {max}; ask the pool for an order of the right size"
    )]
    TooLarge {
        /// The size of the request, in bytes.
        size: u64,
        /// The most the order allows, in bytes.
        max: u64,
    },
    /// The order was already used.
    #[error(
        "order serial {0} was already used; each order is good for one request, so ask the pool for a new one"
    )]
    Replayed(OrderSerial),
    /// The peer remembers as many unexpired orders as it may and cannot take another yet.
    #[error(
        "this peer is busy: it has accepted too many orders that have not yet expired; try again later or use another peer"
    )]
    ReplayCacheFull,
}

impl OrderError {
    /// The stable wire code for this error, e.g. `"order_expired"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => codes::ORDER_MALFORMED,
            Self::UnknownVersion(_) => codes::ORDER_UNKNOWN_VERSION,
            Self::SignerMismatch { .. } => codes::ORDER_SIGNER_MISMATCH,
            Self::WrongPool { .. } => codes::ORDER_WRONG_POOL,
            Self::BadSignature => codes::ORDER_BAD_SIGNATURE,
            Self::Expired { .. } => codes::ORDER_EXPIRED,
            Self::LifetimeTooLong { .. } => codes::ORDER_LIFETIME_TOO_LONG,
            Self::NotForThisPeer { .. } => codes::ORDER_WRONG_PEER,
            Self::WrongAction { .. } => codes::ORDER_WRONG_ACTION,
            Self::WrongPiece { .. } => codes::ORDER_WRONG_PIECE,
            Self::TooLarge { .. } => codes::ORDER_TOO_LARGE,
            Self::Replayed(_) => codes::ORDER_REPLAYED,
            Self::ReplayCacheFull => codes::PEER_BUSY,
        }
    }
}

impl ErrorCode for OrderError {
    fn code(&self) -> &'static str {
        OrderError::code(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorBody;
    use ed25519_dalek::SigningKey;

    fn every_error() -> Vec<OrderError> {
        let pool = PoolId::from_verifying_key(&SigningKey::from_bytes(&[1; 32]).verifying_key());
        let other = PoolId::from_verifying_key(&SigningKey::from_bytes(&[9; 32]).verifying_key());
        let peer = PeerId::from_verifying_key(&SigningKey::from_bytes(&[2; 32]).verifying_key());
        let peer2 = PeerId::from_verifying_key(&SigningKey::from_bytes(&[8; 32]).verifying_key());
        vec![
            OrderError::Malformed("it is 3 bytes long, not 219".into()),
            OrderError::UnknownVersion(2),
            OrderError::SignerMismatch {
                order_pool: other,
                signer: pool,
            },
            OrderError::WrongPool {
                trusted: pool,
                found: other,
            },
            OrderError::BadSignature,
            OrderError::Expired {
                expired_at: 10,
                now: 11,
            },
            OrderError::LifetimeTooLong {
                expires_at: 1_000_000,
                now: 0,
                max_lifetime: 86_400,
            },
            OrderError::NotForThisPeer {
                addressed_to: peer2,
                this_peer: peer,
            },
            OrderError::WrongAction {
                expected: OrderAction::Get,
                found: OrderAction::Put,
            },
            OrderError::WrongPiece {
                ordered: PieceHash::from_bytes([1; 32]),
                requested: PieceHash::from_bytes([2; 32]),
            },
            OrderError::TooLarge { size: 11, max: 10 },
            OrderError::Replayed(OrderSerial(7)),
            OrderError::ReplayCacheFull,
        ]
    }

    #[test]
    fn codes_are_distinct_snake_case() {
        let errors = every_error();
        let mut codes: Vec<&str> = errors.iter().map(OrderError::code).collect();
        for code in &codes {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len(), "every reason has its own code");
    }

    #[test]
    fn messages_are_single_sentences() {
        for error in every_error() {
            let message = error.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(!message.ends_with('.'), "{message}");
            assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
        }
    }

    #[test]
    fn pinned_codes_and_body() {
        let error = OrderError::Expired {
            expired_at: 100,
            now: 100,
        };
        assert_eq!(error.code(), "order_expired");
        assert_eq!(OrderError::ReplayCacheFull.code(), "peer_busy");
        let body = ErrorBody::from_error(&error);
        assert_eq!(body.code, "order_expired");
        assert_eq!(
            body.message,
            "the order expired at 100 (Unix seconds) and it is now 100; ask the pool for a fresh order, and check the clocks if this repeats"
        );
    }
}
