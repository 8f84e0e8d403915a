//! Identifier newtypes with a stable, copy-pasteable text form (lowercase hex).

use std::fmt;
use std::str::FromStr;

use data_encoding::{HEXLOWER, HEXLOWER_PERMISSIVE};
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::CryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a piece of text is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// The text has the wrong number of characters for this kind of identifier.
    #[error("a {kind} is {expected} hexadecimal characters, but `{text}` has {found}")]
    Length {
        /// The identifier kind, e.g. "piece hash".
        kind: &'static str,
        /// Expected number of characters.
        expected: usize,
        /// Number of characters found.
        found: usize,
        /// The offending text, shortened for display.
        text: String,
    },
    /// The text contains characters that are not hexadecimal digits.
    #[error("a {kind} is written in hexadecimal (0-9, a-f), but `{text}` is not")]
    NotHex {
        /// The identifier kind.
        kind: &'static str,
        /// The offending text, shortened for display.
        text: String,
    },
    /// The bytes are not a valid Ed25519 public key.
    #[error("`{text}` is not a valid {kind}: it is not an Ed25519 public key")]
    NotAPublicKey {
        /// The identifier kind.
        kind: &'static str,
        /// The offending text, shortened for display.
        text: String,
    },
}

/// Shortens untrusted text before it is echoed back in an error.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Decodes exactly `N` bytes of hex (either case).
fn decode_hex<const N: usize>(kind: &'static str, text: &str) -> Result<[u8; N], IdParseError> {
    if text.len() != N * 2 {
        return Err(IdParseError::Length {
            kind,
            expected: N * 2,
            found: text.chars().count(),
            text: excerpt(text),
        });
    }
    let mut out = [0u8; N];
    match HEXLOWER_PERMISSIVE.decode_mut(text.as_bytes(), &mut out) {
        Ok(_) => Ok(out),
        Err(_) => Err(IdParseError::NotHex {
            kind,
            text: excerpt(text),
        }),
    }
}

/// Implements the shared surface of a byte-array identifier: text form, serde as text,
/// and conversions to and from bytes.
macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Number of bytes in this identifier.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&HEXLOWER.encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// The name of a piece: BLAKE3 of its bytes. Peers store and serve pieces by this name,
    /// and everyone who receives a piece checks its bytes against it.
    PieceHash,
    32,
    "piece hash"
);

impl PieceHash {
    /// Hashes piece bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps a hash computed elsewhere (for example by a streaming hasher).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Whether `bytes` are the piece this hash names (constant-time comparison).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        blake3::hash(bytes) == blake3::Hash::from_bytes(self.0)
    }
}

impl FromStr for PieceHash {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex::<32>("piece hash", s).map(Self)
    }
}

hex_id!(
    /// BLAKE3 of an object's whole plaintext; kept only inside the sealed metadata.
    ContentHash,
    32,
    "content hash"
);

impl ContentHash {
    /// Wraps a hash computed elsewhere (for example by a streaming hasher).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl FromStr for ContentHash {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex::<32>("content hash", s).map(Self)
    }
}

/// A 16-byte identifier a client picks at random: [`hex_id!`] with a random constructor,
/// known bytes, and parsing from hex.
macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        hex_id!($(#[$doc])* $name, 16, $kind);

        impl $name {
            /// A fresh random identifier.
            pub fn random(rng: &mut impl CryptoRng) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// Wraps known bytes (tests, decoding).
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                decode_hex::<16>($kind, s).map(Self)
            }
        }
    };
}

random_id!(
    /// A stored object (one file), chosen at random by the client when the upload begins.
    ObjectId,
    "object id"
);

random_id!(
    /// A share link's name at the pool, chosen at random by the owner's client. The pool
    /// sees it; the key that opens the share travels only in the link.
    ShareId,
    "share id"
);

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not match the message and key")]
pub struct BadSignature;

/// Implements an identity that is an Ed25519 public key.
macro_rules! key_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        hex_id!($(#[$doc])* $name, 32, $kind);

        impl $name {
            /// The identity of a verifying key.
            pub fn from_verifying_key(key: &VerifyingKey) -> Self {
                Self(key.to_bytes())
            }

            /// Parses raw bytes, checking that they are an Ed25519 public key.
            pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdParseError> {
                match crate::pubkey::decompress(&bytes) {
                    Ok(_) => Ok(Self(bytes)),
                    Err(_) => Err(IdParseError::NotAPublicKey {
                        kind: $kind,
                        text: HEXLOWER.encode(&bytes),
                    }),
                }
            }

            /// The public key itself.
            pub fn verifying_key(&self) -> VerifyingKey {
                // The bytes were checked when the id was made; fall back to a key that
                // verifies nothing if that ever changes rather than panicking.
                crate::pubkey::decompress(&self.0).unwrap_or_default()
            }

            /// Checks an Ed25519 signature by this identity (strict verification: no
            /// malleable or small-order signatures).
            pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), BadSignature> {
                let key = crate::pubkey::decompress(&self.0).map_err(|_| BadSignature)?;
                let signature = Signature::from_bytes(signature);
                key.verify_strict(message, &signature).map_err(|_| BadSignature)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let bytes = decode_hex::<32>($kind, s)?;
                Self::from_bytes(bytes).map_err(|_| IdParseError::NotAPublicKey {
                    kind: $kind,
                    text: excerpt(s),
                })
            }
        }
    };
}

key_id!(
    /// A peer's identity: its Ed25519 public key. Orders name the peer they are for.
    PeerId,
    "peer id"
);

key_id!(
    /// A user's account: the Ed25519 public key derived from their master secret.
    AccountId,
    "account id"
);

key_id!(
    /// A pool's identity: the Ed25519 public key it signs orders with.
    PoolId,
    "pool id"
);

/// Position of a segment within its object, counting from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SegmentIndex(pub u32);

impl fmt::Display for SegmentIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Position of a fragment within its segment: `0..k` are data, `k..k+m` parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FragmentIndex(pub u16);

impl fmt::Display for FragmentIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn piece_hash_known_answer() {
        // BLAKE3("") from the reference test vectors.
        assert_eq!(
            PieceHash::of(b"").to_string(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert!(PieceHash::of(b"abc").matches(b"abc"));
        assert!(!PieceHash::of(b"abc").matches(b"abd"));
    }

    #[test]
    fn parse_accepts_either_case_and_prints_lowercase() {
        let text = "AF1349B9F5F9A1A6A0404DEA36DCC9499BCB25C9ADC112B7CC9A93CAE41F3262";
        let hash: PieceHash = text.parse().unwrap();
        assert_eq!(hash.to_string(), text.to_lowercase());
    }

    #[test]
    fn parse_errors_are_specific() {
        assert!(matches!(
            "abc".parse::<PieceHash>(),
            Err(IdParseError::Length {
                expected: 64,
                found: 3,
                ..
            })
        ));
        assert!(matches!(
            "zz".repeat(16).parse::<ObjectId>(),
            Err(IdParseError::NotHex { .. })
        ));
        // The first small y-coordinate that is not on the curve.
        let bytes = (0u8..=255)
            .map(|b| {
                let mut bytes = [0u8; 32];
                bytes[0] = b;
                bytes
            })
            .find(|b| VerifyingKey::from_bytes(b).is_err())
            .unwrap();
        let bad = HEXLOWER.encode(&bytes);
        assert!(matches!(
            bad.parse::<PeerId>(),
            Err(IdParseError::NotAPublicKey { .. })
        ));
        let message = "x"
            .repeat(1000)
            .parse::<AccountId>()
            .unwrap_err()
            .to_string();
        assert!(message.len() < 200, "long input is shortened: {message}");
    }

    #[test]
    fn serde_uses_the_text_form() {
        let id = ObjectId::from_bytes([7; 16]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"07070707070707070707070707070707\"");
        assert_eq!(serde_json::from_str::<ObjectId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ObjectId>("\"07\"").is_err());
    }

    #[test]
    fn key_ids_verify_signatures() {
        use ed25519_dalek::{Signer, SigningKey};
        let key = SigningKey::from_bytes(&[3; 32]);
        let id = PeerId::from_verifying_key(&key.verifying_key());
        let signature = key.sign(b"hello").to_bytes();
        assert!(id.verify(b"hello", &signature).is_ok());
        assert_eq!(id.verify(b"hellO", &signature), Err(BadSignature));
        let reparsed: PeerId = id.to_string().parse().unwrap();
        assert_eq!(reparsed, id);
    }

    proptest! {
        #[test]
        fn text_round_trip(bytes in any::<[u8; 32]>(), object in any::<[u8; 16]>()) {
            let hash = PieceHash::from_bytes(bytes);
            prop_assert_eq!(hash.to_string().parse::<PieceHash>().unwrap(), hash);
            let object = ObjectId::from_bytes(object);
            prop_assert_eq!(object.to_string().parse::<ObjectId>().unwrap(), object);
            if let Ok(peer) = PeerId::from_bytes(bytes) {
                prop_assert_eq!(peer.to_string().parse::<PeerId>().unwrap(), peer);
            }
        }

        #[test]
        fn parsing_garbage_never_panics(text in ".{0,100}") {
            let _ = text.parse::<PieceHash>();
            let _ = text.parse::<PeerId>();
            let _ = text.parse::<AccountId>();
            let _ = text.parse::<ObjectId>();
        }
    }
}
