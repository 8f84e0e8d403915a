//! Receipts: a peer's signed statement that it stored a piece under an order, which the
//! client hands to the pool when it commits a segment, so the pool records only pieces a
//! peer vouched for.
//!
//! Signed bytes: `"cairn receipt v1\0" | peer [32] | piece [32] | size u64 | serial u64`
//! (big-endian).

use cairn_core::batch::{SignedBy, verify_many};
use cairn_core::{PeerId, PieceHash};
use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::order::OrderSerial;

/// Domain separation from every other signature in Cairn.
const SIGNING_CONTEXT: &[u8; 17] = b"cairn receipt v1\0";

/// A peer's signed word that it holds `piece` (`size` bytes), stored under order `serial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The peer that stored the piece.
    pub peer: PeerId,
    /// The piece's hash, which the peer checked.
    pub piece: PieceHash,
    /// The piece's size in bytes.
    pub size: u64,
    /// The serial of the put order it was stored under.
    pub serial: OrderSerial,
    /// The peer's Ed25519 signature.
    #[serde(with = "signature_text")]
    pub signature: [u8; 64],
}

/// A receipt whose signature does not match its peer and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the receipt for piece {piece} is not signed by peer {peer}")]
pub struct BadReceipt {
    /// The peer the receipt names.
    pub peer: PeerId,
    /// The piece the receipt names.
    pub piece: PieceHash,
}

fn message(peer: &PeerId, piece: &PieceHash, size: u64, serial: OrderSerial) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNING_CONTEXT.len() + 80);
    out.extend_from_slice(SIGNING_CONTEXT);
    out.extend_from_slice(peer.as_bytes());
    out.extend_from_slice(piece.as_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&serial.0.to_be_bytes());
    out
}

impl Receipt {
    /// The receipt the peer whose key this is gives for a stored piece.
    pub fn sign(key: &SigningKey, piece: PieceHash, size: u64, serial: OrderSerial) -> Self {
        let peer = PeerId::from_verifying_key(&key.verifying_key());
        let signature = key.sign(&message(&peer, &piece, size, serial)).to_bytes();
        Self {
            peer,
            piece,
            size,
            serial,
            signature,
        }
    }

    /// Checks that the named peer signed exactly this receipt.
    pub fn verify(&self) -> Result<(), BadReceipt> {
        let bad = BadReceipt {
            peer: self.peer,
            piece: self.piece,
        };
        let message = message(&self.peer, &self.piece, self.size, self.serial);
        self.peer
            .verifying_key()
            .verify_strict(&message, &Signature::from_bytes(&self.signature))
            .map_err(|_| bad)
    }

    /// [`Receipt::verify`] for many receipts at once: their signatures are checked as one
    /// set (about half the work of checking each; see [`cairn_core::batch`]), each receipt
    /// still answered on its own, in the order given.
    pub fn verify_many<'a>(
        receipts: impl IntoIterator<Item = &'a Receipt>,
    ) -> Vec<Result<(), BadReceipt>> {
        let receipts: Vec<&Receipt> = receipts.into_iter().collect();
        let messages: Vec<Vec<u8>> = receipts
            .iter()
            .map(|r| message(&r.peer, &r.piece, r.size, r.serial))
            .collect();
        let items: Vec<SignedBy<'_>> = receipts
            .iter()
            .zip(&messages)
            .map(|(r, message)| SignedBy {
                key: r.peer.as_bytes(),
                message,
                signature: &r.signature,
            })
            .collect();
        receipts
            .iter()
            .zip(verify_many(&items))
            .map(|(r, checked)| {
                checked.map_err(|_| BadReceipt {
                    peer: r.peer,
                    piece: r.piece,
                })
            })
            .collect()
    }
}

/// Serde for a 64-byte signature as unpadded base64url text.
mod signature_text {
    use super::*;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64URL_NOPAD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if text.len() != 86 {
            return Err(serde::de::Error::custom(
                "a signature is 86 base64url characters",
            ));
        }
        BASE64URL_NOPAD
            .decode(text.as_bytes())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom("a signature is 86 base64url characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        let key = SigningKey::from_bytes(&[3; 32]);
        Receipt::sign(&key, PieceHash::from_bytes([9; 32]), 1000, OrderSerial(77))
    }

    #[test]
    fn verifies_and_survives_json() {
        let r = receipt();
        r.verify().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        let back: Receipt = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        back.verify().unwrap();
    }

    #[test]
    fn every_field_is_bound() {
        let other_peer =
            PeerId::from_verifying_key(&SigningKey::from_bytes(&[4; 32]).verifying_key());
        let mut tampered = vec![receipt(); 5];
        tampered[0].peer = other_peer;
        tampered[1].piece = PieceHash::from_bytes([8; 32]);
        tampered[2].size += 1;
        tampered[3].serial = OrderSerial(78);
        tampered[4].signature[10] ^= 1;
        for r in tampered {
            assert!(r.verify().is_err(), "{r:?}");
        }
    }

    #[test]
    fn receipts_checked_as_a_set_answer_as_each_alone() {
        let key = |n: u8| SigningKey::from_bytes(&[n; 32]);
        let piece = |n: u8| PieceHash::from_bytes([n; 32]);
        let mut receipts: Vec<Receipt> = (0..8u8)
            .map(|i| Receipt::sign(&key(i % 3 + 5), piece(i), 100, OrderSerial(u64::from(i))))
            .collect();
        receipts[2].size = 99;
        receipts[5].signature[63] ^= 0x10;
        receipts[6].peer = receipts[1].peer;
        let alone: Vec<_> = receipts.iter().map(Receipt::verify).collect();
        assert_eq!(Receipt::verify_many(&receipts), alone);
        assert_eq!(alone.iter().filter(|r| r.is_err()).count(), 3);
    }

    #[test]
    fn malformed_json_is_refused() {
        let json = serde_json::to_string(&receipt()).unwrap();
        let short = json.replacen("\"signature\":\"", "\"signature\":\"A", 1);
        assert!(serde_json::from_str::<Receipt>(&short).is_err());
        assert!(serde_json::from_str::<Receipt>("{}").is_err());
    }
}
