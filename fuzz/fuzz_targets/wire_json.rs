//! Every JSON wire type: the request bodies the pool decodes and the answers clients and
//! peers decode from servers they may not trust.

#![no_main]

use cairn_proto::api::*;
use cairn_proto::peer_api::PeerInfo;
use cairn_proto::{ErrorBody, PeerState, Receipt, SignedOrder};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn check<T: DeserializeOwned + Serialize>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let again = serde_json::to_vec(&value).expect("a decoded value encodes");
        assert!(serde_json::from_slice::<T>(&again).is_ok());
    }
}

fuzz_target!(|data: &[u8]| {
    check::<RegisterPeer>(data);
    check::<Heartbeat>(data);
    check::<RepairReport>(data);
    check::<CorruptReport>(data);
    check::<BeginUpload>(data);
    check::<PlaceSegment>(data);
    check::<CommitSegment>(data);
    check::<CommitUpload>(data);
    check::<Rename>(data);
    check::<FindLedger>(data);
    check::<ImportObjects>(data);
    check::<Option<serde_json::Value>>(data);
    check::<AccountOpened>(data);
    check::<PoolInfo>(data);
    check::<PeerRegistered>(data);
    check::<HeartbeatAck>(data);
    check::<UploadBegun>(data);
    check::<SegmentPlaced>(data);
    check::<UploadCommitted>(data);
    check::<ObjectList>(data);
    check::<ObjectSources>(data);
    check::<Renamed>(data);
    check::<LedgerFound>(data);
    check::<ObjectsImported>(data);
    check::<NetworkStatus>(data);
    check::<ObjectHealth>(data);
    check::<AccountHealth>(data);
    check::<PeerInfo>(data);
    check::<PeerState>(data);
    check::<Receipt>(data);
    check::<SignedOrder>(data);
    check::<ErrorBody>(data);
    if let Ok(body) = ErrorBody::from_json(data) {
        // What a user sees of a hostile server's error is bounded and printable.
        assert!(!body.to_string().chars().any(char::is_control));
    }
});
