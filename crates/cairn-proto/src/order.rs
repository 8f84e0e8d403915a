//! Orders: short-lived statements signed by the pool — *peer P may put / get / delete / be
//! audited for piece H of at most S bytes for holder A until time T, serial N* — which
//! peers verify offline with the pool's public key.
//!
//! Canonical encoding, version 1 (big-endian, fixed width, 155 bytes):
//! `version u8 | pool [32] | peer [32] | piece [32] | action u8 | max_size u64 |
//!  holder tag u8 | holder [32] | serial u64 | expires_at u64`.
//! The pool signs `"cairn order v1\0" | encoding` with Ed25519; a signed order is the
//! encoding followed by the 64-byte signature (219 bytes), and travels in an HTTP header
//! as unpadded base64url (292 characters).

mod error;
mod verifier;

use std::fmt;

use cairn_core::{AccountId, PeerId, PieceHash, PoolId};
use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use error::OrderError;
pub use verifier::{DEFAULT_REPLAY_CAPACITY, MAX_ORDER_LIFETIME, OrderVerifier, Vouched};

/// The format version written first in every order.
pub const ORDER_VERSION: u8 = 1;

/// Length of an encoded order, in bytes.
pub const ORDER_LEN: usize = 1 + 32 + 32 + 32 + 1 + 8 + 1 + 32 + 8 + 8;

/// Length of an encoded signed order (order then signature), in bytes.
pub const SIGNED_ORDER_LEN: usize = ORDER_LEN + 64;

/// Length of a signed order's header text (unpadded base64url), in characters.
pub const SIGNED_ORDER_TEXT_LEN: usize = (SIGNED_ORDER_LEN * 4).div_ceil(3);

/// The HTTP header that carries a signed order on the peer data path.
pub const ORDER_HEADER: &str = "cairn-order";

/// Domain separation: what the pool signs is this prefix followed by the encoded order, so
/// an order signature can never be mistaken for a signature over anything else.
const SIGNING_CONTEXT: &[u8; 15] = b"cairn order v1\0";

/// What an order allows. Codes are append-only: never reorder or reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum OrderAction {
    /// Accept and store a piece.
    Put = 1,
    /// Serve a piece, or a range of it.
    Get = 2,
    /// Delete a piece.
    Delete = 3,
    /// Answer an audit challenge on a piece.
    Audit = 4,
}

impl OrderAction {
    /// Every action, in code order.
    pub const ALL: [Self; 4] = [Self::Put, Self::Get, Self::Delete, Self::Audit];

    /// The one-byte wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The action with this wire code, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Put),
            2 => Some(Self::Get),
            3 => Some(Self::Delete),
            4 => Some(Self::Audit),
            _ => None,
        }
    }

    /// The lowercase name, as shown and as written in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Delete => "delete",
            Self::Audit => "audit",
        }
    }
}

impl fmt::Display for OrderAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On whose behalf the order is: whose piece it is, or who acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A client's account, for its own uploads and downloads. Wire tag 1.
    Account(AccountId),
    /// A peer, for repair or migration jobs the pool assigned it. Wire tag 2.
    Peer(PeerId),
}

impl Holder {
    /// The one-byte wire tag. Tags are append-only.
    pub const fn tag(&self) -> u8 {
        match self {
            Self::Account(_) => 1,
            Self::Peer(_) => 2,
        }
    }

    /// The holder's 32-byte identity.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        match self {
            Self::Account(id) => id.as_bytes(),
            Self::Peer(id) => id.as_bytes(),
        }
    }

    /// Reads a holder from its tag and identity.
    fn decode(tag: u8, bytes: [u8; 32]) -> Result<Self, OrderError> {
        let holder = match tag {
            1 => AccountId::from_bytes(bytes).map(Self::Account),
            2 => PeerId::from_bytes(bytes).map(Self::Peer),
            _ => {
                return Err(OrderError::Malformed(format!(
                    "its holder kind {tag} is unknown (a newer pool may have issued it)"
                )));
            }
        };
        holder.map_err(|e| OrderError::Malformed(format!("its holder is invalid: {e}")))
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account(id) => write!(f, "account {id}"),
            Self::Peer(id) => write!(f, "peer {id}"),
        }
    }
}

/// The pool's number for an order; a peer accepts each serial once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderSerial(pub u64);

impl fmt::Display for OrderSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the pool allows: `peer` may perform `action` on `piece`, at most `max_size` bytes,
/// for `holder`, until `expires_at`, once (by `serial`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Order {
    /// The pool that issues the order.
    pub pool: PoolId,
    /// The peer the order is addressed to.
    pub peer: PeerId,
    /// The piece the order is about.
    pub piece: PieceHash,
    /// What the order allows.
    pub action: OrderAction,
    /// The most bytes the request may carry or ask for.
    pub max_size: u64,
    /// On whose behalf the order is.
    pub holder: Holder,
    /// The order's number; each is accepted once.
    pub serial: OrderSerial,
    /// When the order stops being valid, in Unix seconds (valid while `now < expires_at`).
    pub expires_at: u64,
}

impl Order {
    /// The canonical encoding ([`ORDER_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNED_ORDER_LEN);
        out.push(ORDER_VERSION);
        out.extend_from_slice(self.pool.as_bytes());
        out.extend_from_slice(self.peer.as_bytes());
        out.extend_from_slice(self.piece.as_bytes());
        out.push(self.action.code());
        out.extend_from_slice(&self.max_size.to_be_bytes());
        out.push(self.holder.tag());
        out.extend_from_slice(self.holder.as_bytes());
        out.extend_from_slice(&self.serial.0.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out
    }

    /// What the pool signs: the domain-separation prefix, then the encoding.
    fn signed_message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + ORDER_LEN);
        message.extend_from_slice(SIGNING_CONTEXT);
        message.extend_from_slice(&self.to_bytes());
        message
    }

    /// Reads the fields after the version byte.
    fn decode(r: &mut Reader<'_>) -> Result<Self, OrderError> {
        let pool = PoolId::from_bytes(r.array()?)
            .map_err(|e| OrderError::Malformed(format!("its pool is invalid: {e}")))?;
        let peer = PeerId::from_bytes(r.array()?)
            .map_err(|e| OrderError::Malformed(format!("its peer is invalid: {e}")))?;
        let piece = PieceHash::from_bytes(r.array()?);
        let action = r.u8()?;
        let action = OrderAction::from_code(action).ok_or_else(|| {
            OrderError::Malformed(format!(
                "its action {action} is unknown (a newer pool may have issued it)"
            ))
        })?;
        let max_size = r.u64()?;
        let holder = Holder::decode(r.u8()?, r.array()?)?;
        Ok(Self {
            pool,
            peer,
            piece,
            action,
            max_size,
            holder,
            serial: OrderSerial(r.u64()?),
            expires_at: r.u64()?,
        })
    }
}

/// An order with the pool's signature. Decoding checks the format only; the signature and
/// the rest are checked by [`OrderVerifier::check`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedOrder {
    /// The order.
    pub order: Order,
    /// The pool's Ed25519 signature over `"cairn order v1\0" | order bytes`.
    pub signature: [u8; 64],
}

impl SignedOrder {
    /// The order's encoding followed by the signature ([`SIGNED_ORDER_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.order.to_bytes();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses a signed order; refuses unknown versions, actions and holder kinds, invalid
    /// identities, and any missing or extra byte.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OrderError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != ORDER_VERSION {
            return Err(OrderError::UnknownVersion(version));
        }
        if bytes.len() != SIGNED_ORDER_LEN {
            return Err(OrderError::Malformed(format!(
                "it is {} bytes long, not {SIGNED_ORDER_LEN}",
                bytes.len()
            )));
        }
        let order = Order::decode(&mut r)?;
        let signature = r.array()?;
        r.finish()?;
        Ok(Self { order, signature })
    }

    /// The text form for an HTTP header: unpadded base64url of [`SignedOrder::to_bytes`].
    pub fn to_header_value(&self) -> String {
        BASE64URL_NOPAD.encode(&self.to_bytes())
    }

    /// Parses the text form; the text must be exactly the canonical encoding.
    pub fn from_header_value(text: &str) -> Result<Self, OrderError> {
        // Check the length before decoding so hostile input costs nothing.
        if text.len() != SIGNED_ORDER_TEXT_LEN {
            return Err(OrderError::Malformed(format!(
                "its text is {} characters long, not {SIGNED_ORDER_TEXT_LEN}",
                text.len()
            )));
        }
        let bytes = BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| OrderError::Malformed("its text is not unpadded base64url".to_owned()))?;
        Self::from_bytes(&bytes)
    }
}

/// Serialized as its header text.
impl Serialize for SignedOrder {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_header_value())
    }
}

impl<'de> Deserialize<'de> for SignedOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_header_value(&text).map_err(serde::de::Error::custom)
    }
}

/// The pool's side: signs orders with the pool's key.
pub struct OrderSigner {
    key: SigningKey,
    pool: PoolId,
}

impl OrderSigner {
    /// A signer for the pool whose key this is.
    pub fn new(key: SigningKey) -> Self {
        let pool = PoolId::from_verifying_key(&key.verifying_key());
        Self { key, pool }
    }

    /// The pool this signer signs for.
    pub fn pool_id(&self) -> PoolId {
        self.pool
    }

    /// Signs an order; refuses one that names another pool.
    pub fn sign(&self, order: Order) -> Result<SignedOrder, OrderError> {
        if order.pool != self.pool {
            return Err(OrderError::SignerMismatch {
                order_pool: order.pool,
                signer: self.pool,
            });
        }
        let signature = self.key.sign(&order.signed_message()).to_bytes();
        Ok(SignedOrder { order, signature })
    }
}

/// Shows only the pool id, never the key.
impl fmt::Debug for OrderSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderSigner")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// Reads fixed-width fields from untrusted bytes; never panics.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], OrderError> {
        let (head, tail) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| OrderError::Malformed("it is truncated".to_owned()))?;
        self.0 = tail;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, OrderError> {
        self.array().map(u8::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, OrderError> {
        self.array().map(u64::from_be_bytes)
    }

    fn finish(self) -> Result<(), OrderError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(OrderError::Malformed(format!("it has {n} trailing bytes"))),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use data_encoding::HEXLOWER;
    use proptest::prelude::*;

    /// The order of the known-answer vector.
    fn vector_order() -> Order {
        Order {
            pool: pool_signer().pool_id(),
            peer: peer(2),
            piece: PieceHash::from_bytes([3; 32]),
            action: OrderAction::Put,
            max_size: 1 << 20,
            holder: Holder::Account(account(4)),
            serial: OrderSerial(42),
            expires_at: 1_800_000_000,
        }
    }

    #[test]
    fn known_answer() {
        let signed = pool_signer().sign(vector_order()).unwrap();
        let hex = HEXLOWER.encode(&signed.to_bytes());
        assert_eq!(hex, KNOWN_ANSWER);
        assert_eq!(signed.to_bytes().len(), SIGNED_ORDER_LEN);
        assert_eq!(signed.to_header_value().len(), SIGNED_ORDER_TEXT_LEN);
        let decoded = SignedOrder::from_bytes(&HEXLOWER.decode(KNOWN_ANSWER.as_bytes()).unwrap());
        assert_eq!(decoded.unwrap(), signed);
    }

    /// Pinned encoding of `vector_order()` signed with key `[1; 32]`, cross-checked against
    /// Python's `cryptography` (OpenSSL) Ed25519, which built it from the format alone.
    const KNOWN_ANSWER: &str = concat!(
        "01",                                                               // version
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c", // pool
        "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394", // peer
        "0303030303030303030303030303030303030303030303030303030303030303", // piece
        "01",                                                               // action
        "0000000000100000",                                                 // max_size
        "01",                                                               // holder tag
        "ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c", // holder
        "000000000000002a",                                                 // serial
        "000000006b49d200",                                                 // expires_at
        "1d341d71b1183d3676c0ea8fabae2ba53b1be085e7064efa523d94ac15e44b2e", // signature
        "eff8b11f2146cd8e310d61332835f32964d9f4997814d2b64d90aa5355d2ba01",
    );

    #[test]
    fn lengths() {
        assert_eq!(ORDER_LEN, 155);
        assert_eq!(SIGNED_ORDER_LEN, 219);
        assert_eq!(SIGNED_ORDER_TEXT_LEN, 292);
        assert_eq!(vector_order().to_bytes().len(), ORDER_LEN);
    }

    #[test]
    fn signer_refuses_another_pools_order() {
        let other = OrderSigner::new(key(7));
        assert_eq!(
            other.sign(vector_order()),
            Err(OrderError::SignerMismatch {
                order_pool: pool_signer().pool_id(),
                signer: other.pool_id()
            })
        );
        let debug = format!("{:?}", pool_signer());
        assert!(
            debug.contains(&pool_signer().pool_id().to_string()),
            "{debug}"
        );
        assert!(!debug.contains(&HEXLOWER.encode(&[1; 32])), "{debug}");
    }

    #[test]
    fn decoding_refuses_each_defect() {
        let good = pool_signer().sign(vector_order()).unwrap().to_bytes();
        let with = |i: usize, b: u8| {
            let mut bytes = good.clone();
            bytes[i] = b;
            SignedOrder::from_bytes(&bytes)
        };
        assert_eq!(with(0, 2), Err(OrderError::UnknownVersion(2)));
        assert_eq!(
            SignedOrder::from_bytes(&[0]),
            Err(OrderError::UnknownVersion(0))
        );
        assert!(matches!(
            SignedOrder::from_bytes(&[]),
            Err(OrderError::Malformed(_))
        ));
        assert!(matches!(
            SignedOrder::from_bytes(&good[..218]),
            Err(OrderError::Malformed(_))
        ));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            SignedOrder::from_bytes(&long),
            Err(OrderError::Malformed(_))
        ));
        // Action byte: after version and three ids.
        assert!(matches!(with(97, 0), Err(OrderError::Malformed(m)) if m.contains("action")));
        assert!(matches!(with(97, 5), Err(OrderError::Malformed(m)) if m.contains("action")));
        // Holder tag: after the action and the size.
        assert!(matches!(with(106, 0), Err(OrderError::Malformed(m)) if m.contains("holder")));
        assert!(matches!(with(106, 3), Err(OrderError::Malformed(m)) if m.contains("holder")));
        // Holder tag 2 reads the same key as a peer.
        let as_peer = with(106, 2).unwrap();
        assert_eq!(as_peer.order.holder, Holder::Peer(peer(4)));
        // A pool id that is not an Ed25519 public key.
        let mut bad_point = good.clone();
        bad_point[1..33].copy_from_slice(&NOT_A_POINT);
        assert!(matches!(
            SignedOrder::from_bytes(&bad_point),
            Err(OrderError::Malformed(m)) if m.contains("pool")
        ));
    }

    /// 32 bytes that are not a valid compressed Edwards point (y = 2 has no x).
    const NOT_A_POINT: [u8; 32] = {
        let mut bytes = [0; 32];
        bytes[0] = 2;
        bytes
    };

    #[test]
    fn header_text_and_serde() {
        let signed = pool_signer().sign(vector_order()).unwrap();
        let text = signed.to_header_value();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(SignedOrder::from_header_value(&text).unwrap(), signed);
        let json = serde_json::to_string(&signed).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<SignedOrder>(&json).unwrap(), signed);
        // Padding, whitespace and standard base64 are not the canonical text.
        assert!(SignedOrder::from_header_value(&format!("{text}=")).is_err());
        assert!(SignedOrder::from_header_value(&format!(" {text}")).is_err());
        let standard = data_encoding::BASE64_NOPAD.encode(&signed.to_bytes());
        assert_ne!(standard, text, "the vector exercises the url-safe alphabet");
        assert!(SignedOrder::from_header_value(&standard).is_err());
        assert!(serde_json::from_str::<SignedOrder>("42").is_err());
    }

    #[test]
    fn actions_read_and_print() {
        for action in OrderAction::ALL {
            assert_eq!(OrderAction::from_code(action.code()), Some(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{action}\""));
        }
        assert_eq!(OrderAction::Delete.to_string(), "delete");
        assert_eq!(OrderAction::from_code(0), None);
        assert_eq!(
            Holder::Peer(peer(2)).to_string(),
            format!("peer {}", peer(2))
        );
    }

    proptest! {
        #[test]
        fn encoding_round_trips(order in any_order(), signature in any::<[u8; 32]>()) {
            let signed = SignedOrder { order, signature: [signature, signature].concat().try_into().unwrap() };
            prop_assert_eq!(SignedOrder::from_bytes(&signed.to_bytes()).unwrap(), signed.clone());
            prop_assert_eq!(SignedOrder::from_header_value(&signed.to_header_value()).unwrap(), signed);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert!(serde_json::from_slice::<SignedOrder>(&bytes).is_err());
            // Whatever decodes must be the one canonical encoding of what it decoded to.
            if let Ok(signed) = SignedOrder::from_bytes(&bytes) {
                prop_assert_eq!(signed.to_bytes(), bytes);
            }
        }

        #[test]
        fn mangled_encodings_never_panic(
            order in any_order(),
            cut in 0usize..SIGNED_ORDER_LEN,
            extra in proptest::collection::vec(any::<u8>(), 1..8),
        ) {
            let bytes = pool_signer().sign(order).unwrap().to_bytes();
            prop_assert!(SignedOrder::from_bytes(&bytes[..cut]).is_err());
            prop_assert!(SignedOrder::from_bytes(&[&bytes[..], &extra[..]].concat()).is_err());
        }

        #[test]
        fn random_text_is_refused(text in ".{0,400}", b64 in "[A-Za-z0-9_-]{292}") {
            prop_assert!(SignedOrder::from_header_value(&text).is_err());
            prop_assert!(serde_json::from_value::<SignedOrder>(serde_json::Value::String(text)).is_err());
            // Right length and alphabet, but (almost surely) a wrong version or invalid ids.
            if let Ok(signed) = SignedOrder::from_header_value(&b64) {
                prop_assert_eq!(signed.to_header_value(), b64);
            }
        }
    }
}
