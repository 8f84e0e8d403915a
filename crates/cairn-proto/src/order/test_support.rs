//! Keys, identities and orders shared by the order tests.

use super::*;
use cairn_core::{AccountId, PeerId, PieceHash};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

/// A signing key from a seed.
pub(crate) fn key_from(seed: [u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&seed)
}

/// The signing key with every seed byte `n`.
pub(crate) fn key(n: u8) -> SigningKey {
    key_from([n; 32])
}

/// The pool of the known-answer vector: key `[1; 32]`.
pub(crate) fn pool_signer() -> OrderSigner {
    OrderSigner::new(key(1))
}

/// The peer whose key is `[n; 32]`.
pub(crate) fn peer(n: u8) -> PeerId {
    PeerId::from_verifying_key(&key(n).verifying_key())
}

/// The account whose key is `[n; 32]`.
pub(crate) fn account(n: u8) -> AccountId {
    AccountId::from_verifying_key(&key(n).verifying_key())
}

/// Any order from the test pool, with arbitrary fields.
pub(crate) fn any_order() -> impl Strategy<Value = Order> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        proptest::sample::select(OrderAction::ALL.to_vec()),
        any::<u64>(),
        any::<bool>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(peer_seed, piece, action, max_size, by_peer, holder_seed, serial, expires_at)| {
                let holder_key = key_from(holder_seed).verifying_key();
                Order {
                    pool: pool_signer().pool_id(),
                    peer: PeerId::from_verifying_key(&key_from(peer_seed).verifying_key()),
                    piece: PieceHash::from_bytes(piece),
                    action,
                    max_size,
                    holder: if by_peer {
                        Holder::Peer(PeerId::from_verifying_key(&holder_key))
                    } else {
                        Holder::Account(AccountId::from_verifying_key(&holder_key))
                    },
                    serial: OrderSerial(serial),
                    expires_at,
                }
            },
        )
}
