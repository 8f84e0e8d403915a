//! The peer's HTTP API, version 1: the data path (raw piece bytes under signed orders) and a
//! small status answer.
//!
//! `PUT` [`piece_path`] with the piece as the body and a put order in
//! [`ORDER_HEADER`](crate::order::ORDER_HEADER) answers `201` with a [`Receipt`](crate::Receipt)
//! as JSON. `GET` with a get order answers the bytes (`Range: bytes=a-b` gives `206`).
//! `DELETE` with a delete order answers `204`. Every refusal is an
//! [`ErrorBody`](crate::ErrorBody).

use cairn_core::{PeerId, PieceHash, PoolId};
use serde::{Deserialize, Serialize};

/// `GET`: the peer's identity and usage.
pub const PEER_STATUS: &str = "/v1/status";

/// `GET` with an audit order and `?start=&len=`: a BLAKE3-verified slice (Bao encoding) of
/// the piece's bytes `start..start+len`, which the pool checks against the piece's hash.
pub fn audit_path(piece: &PieceHash) -> String {
    format!("/v1/pieces/{piece}/audit")
}

/// Audited ranges are whole BLAKE3 chunks of this many bytes (the last may be shorter).
pub const AUDIT_CHUNK: u64 = 1024;

/// The path of one piece.
pub fn piece_path(piece: &PieceHash) -> String {
    format!("/v1/pieces/{piece}")
}

/// Answer to [`PEER_STATUS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer.
    pub peer: PeerId,
    /// The pool whose orders it accepts.
    pub pool: PoolId,
    /// Bytes offered.
    pub capacity: u64,
    /// Bytes its pieces use.
    pub used: u64,
    /// Pieces held.
    pub piece_count: u64,
}
