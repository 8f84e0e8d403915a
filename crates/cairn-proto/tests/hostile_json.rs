//! Every JSON wire type, request bodies the pool accepts and answers clients and peers
//! decode, fed random bytes and random JSON documents: decoding returns an error or a
//! value, never panics, and whatever decodes re-encodes into JSON that decodes again.
//! (Equality is not asserted: `serde_json` reads floats to within an ulp, not exactly.)
//!
//! The documents are built from the types' own field names and from valid ids, orders and
//! state names, so they reach past the tokenizer into each type's fields.

use cairn_core::{AccountId, PeerId, PieceHash};
use cairn_proto::api::{
    AccountHealth, AccountOpened, BeginUpload, CommitSegment, CommitUpload, CommittedPiece,
    CorruptReport, FragmentInfo, GetTarget, Heartbeat, HeartbeatAck, NetworkStatus, ObjectEntry,
    ObjectHealth, ObjectList, ObjectSources, PeerRegistered, PeerStatus, PieceHealth, PieceState,
    PlaceSegment, PoolInfo, PutTarget, RegisterPeer, Rename, Renamed, RepairJob, RepairReport,
    RepairTarget, SegmentHealth, SegmentPlaced, SegmentSources, SpareTarget, UploadBegun,
    UploadCommitted,
};
use cairn_proto::peer_api::PeerInfo;
use cairn_proto::{
    ErrorBody, Holder, Order, OrderAction, OrderSerial, OrderSigner, PeerState, Receipt,
    SignedOrder,
};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Decodes `bytes` as `T`; if it decodes, its re-encoding decodes too.
fn check_bytes<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize,
{
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        let again = serde_json::to_vec(&value).expect("a decoded value encodes");
        prop_assert!(serde_json::from_slice::<T>(&again).is_ok());
    }
    Ok(())
}

/// The same for a JSON document.
fn check_value<T>(value: &Value) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize,
{
    check_bytes::<T>(value.to_string().as_bytes())
}

/// Runs `$check::<T>($input)` for every wire type.
macro_rules! every_type {
    ($check:ident, $input:expr) => {{
        let input = $input;
        // Request bodies the pool decodes.
        $check::<RegisterPeer>(input)?;
        $check::<Heartbeat>(input)?;
        $check::<RepairReport>(input)?;
        $check::<CorruptReport>(input)?;
        $check::<BeginUpload>(input)?;
        $check::<PlaceSegment>(input)?;
        $check::<CommitSegment>(input)?;
        $check::<CommitUpload>(input)?;
        $check::<Rename>(input)?;
        $check::<Option<Value>>(input)?;
        // Answers clients and peers decode from a pool or a peer they may not trust.
        $check::<AccountOpened>(input)?;
        $check::<PoolInfo>(input)?;
        $check::<PeerRegistered>(input)?;
        $check::<HeartbeatAck>(input)?;
        $check::<RepairJob>(input)?;
        $check::<RepairTarget>(input)?;
        $check::<UploadBegun>(input)?;
        $check::<FragmentInfo>(input)?;
        $check::<PutTarget>(input)?;
        $check::<SpareTarget>(input)?;
        $check::<SegmentPlaced>(input)?;
        $check::<CommittedPiece>(input)?;
        $check::<UploadCommitted>(input)?;
        $check::<ObjectEntry>(input)?;
        $check::<ObjectList>(input)?;
        $check::<GetTarget>(input)?;
        $check::<SegmentSources>(input)?;
        $check::<ObjectSources>(input)?;
        $check::<Renamed>(input)?;
        $check::<PeerStatus>(input)?;
        $check::<NetworkStatus>(input)?;
        $check::<PieceState>(input)?;
        $check::<PieceHealth>(input)?;
        $check::<SegmentHealth>(input)?;
        $check::<ObjectHealth>(input)?;
        $check::<AccountHealth>(input)?;
        $check::<PeerInfo>(input)?;
        $check::<PeerState>(input)?;
        $check::<Receipt>(input)?;
        $check::<SignedOrder>(input)?;
        $check::<ErrorBody>(input)?;
    }};
}

/// Every field name of the wire types, so random objects hit real fields.
const FIELDS: &[&str] = &[
    "account",
    "address",
    "audit_score",
    "audits_failed",
    "audits_passed",
    "availability",
    "bytes",
    "capacity",
    "code",
    "committed_at_ms",
    "delete",
    "deleted",
    "durability_target",
    "error",
    "expires_at_ms",
    "fragment",
    "fragments",
    "from",
    "hash",
    "heartbeat_interval_ms",
    "index",
    "job",
    "last_heartbeat_ms",
    "load",
    "message",
    "metadata",
    "migrations_in_flight",
    "next",
    "objects",
    "open_uploads",
    "order",
    "orders",
    "path",
    "peer",
    "peers",
    "piece",
    "piece_count",
    "piece_size",
    "pieces",
    "pool",
    "receipt",
    "redundancy",
    "repair_queue",
    "repairs",
    "repairs_in_flight",
    "rtt_ms",
    "segment_count",
    "segments",
    "serial",
    "signature",
    "size",
    "sources",
    "spares",
    "state",
    "targets",
    "to",
    "unknown_pieces",
    "upload",
    "used",
    "version",
    "zone",
];

/// Valid texts for the typed strings (ids, orders, receipts, states), and near misses.
fn texts() -> Vec<String> {
    let peer_key = SigningKey::from_bytes(&[1; 32]);
    let pool = OrderSigner::new(SigningKey::from_bytes(&[2; 32]));
    let peer = PeerId::from_verifying_key(&peer_key.verifying_key());
    let piece = PieceHash::of(b"piece");
    let order = pool
        .sign(Order {
            pool: pool.pool_id(),
            peer,
            piece,
            action: OrderAction::Put,
            max_size: 1000,
            holder: Holder::Account(AccountId::from_verifying_key(&peer_key.verifying_key())),
            serial: OrderSerial(7),
            expires_at: 1_000_000,
        })
        .expect("a valid order signs")
        .to_header_value();
    let receipt = serde_json::to_value(Receipt::sign(&peer_key, piece, 1000, OrderSerial(7)))
        .expect("a receipt encodes");
    let signature = receipt["signature"].as_str().unwrap_or_default().to_owned();
    let mut texts = vec![
        peer.to_string(),
        pool.pool_id().to_string(),
        piece.to_string(),
        order.clone(),
        signature.clone(),
        format!("{}0", piece),
        piece.to_string()[1..].to_owned(),
        order[1..].to_owned(),
        signature.to_uppercase(),
        "auto".into(),
        "ec:2+1".into(),
        "rep:2x3".into(),
        String::new(),
        "../../etc/passwd".into(),
    ];
    for state in PeerState::ALL {
        texts.push(state.as_str().to_owned());
    }
    texts.extend(
        ["healthy", "suspect", "offline", "lost", "corrupt"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    texts
}

/// Random JSON documents, a few levels deep, over the wire types' names and texts.
fn json() -> impl Strategy<Value = Value> {
    let texts = texts();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..2000).prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        proptest::sample::select(texts).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(FIELDS), inner), 0..12).prop_map(
                |fields| {
                    Value::Object(
                        fields
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>(),
                    )
                }
            ),
        ]
    })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        every_type!(check_bytes, &bytes[..]);
    }

    #[test]
    fn random_documents_never_panic_and_re_encode(value in json()) {
        every_type!(check_value, &value);
    }

    #[test]
    fn cut_and_mangled_documents_never_panic(value in json(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = value.to_string().into_bytes();
        let at = cut.index(bytes.len() + 1);
        bytes.truncate(at);
        bytes.push(byte);
        every_type!(check_bytes, &bytes[..]);
    }
}

/// The random documents do reach typed fields: a document built the same way decodes as
/// a request type, so the property above is not vacuously about parse errors.
#[test]
fn the_documents_can_decode() {
    let piece = PieceHash::of(b"piece").to_string();
    let document =
        serde_json::json!({ "used": 1, "piece_count": 2, "load": 3, "deleted": [piece] });
    assert!(serde_json::from_value::<Heartbeat>(document).is_ok());
    let texts = texts();
    let order = &texts[3];
    assert!(serde_json::from_value::<SignedOrder>(Value::from(order.as_str())).is_ok());
}
