//! The peer's HTTP API, version 1: the data path (raw piece bytes under signed orders) and a
//! small status answer.
//!
//! `PUT` [`piece_path`] with the piece as the body and a put order in
//! [`ORDER_HEADER`](crate::order::ORDER_HEADER) answers `201` with a [`Receipt`](crate::Receipt)
//! as JSON. `GET` with a get order answers the bytes (`Range: bytes=a-b` gives `206`).
//! `DELETE` with a delete order answers `204`. `POST` [`READS`] with many get orders
//! answers many small pieces at once (see [`ReadMany`]). Every refusal is an
//! [`ErrorBody`](crate::ErrorBody).

use bytes::Bytes;
use cairn_core::{PeerId, PieceHash, PoolId};
use serde::{Deserialize, Serialize};

use crate::order::SignedOrder;

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
    /// Piece bytes it took in (stored) since it started.
    #[serde(default)]
    pub received: u64,
    /// Piece bytes it sent out (read) since it started.
    #[serde(default)]
    pub served: u64,
}

/// `POST` with a [`ReadMany`] body: many small pieces in one answer (a folder of small
/// files is read a request per peer instead of a request per piece). The answer is
/// `application/octet-stream`, one frame per order in the order asked (see
/// [`push_frame`]): the piece's bytes under status 200, or the JSON
/// [`ErrorBody`](crate::ErrorBody) of that order's refusal under its HTTP status.
pub const READS: &str = "/v1/reads";

pub use crate::limits::{MAX_READ_BYTES, MAX_READS};

/// Body of [`READS`]: get orders, each naming its piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMany {
    /// At most [`MAX_READS`].
    pub orders: Vec<SignedOrder>,
}

/// Appends one frame of a [`READS`] answer: status (2 bytes), length (4 bytes), both
/// big-endian, then the bytes.
pub fn push_frame(out: &mut Vec<u8>, status: u16, bytes: &[u8]) {
    out.extend_from_slice(&status.to_be_bytes());
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..len as usize]);
}

/// Why a [`READS`] answer could not be split into frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer to a batch of reads is malformed: {0}")]
pub struct BadFrames(&'static str);

/// Splits a [`READS`] answer into exactly `count` frames of (status, bytes); the bytes
/// share `answer`'s memory.
pub fn split_frames(answer: &Bytes, count: usize) -> Result<Vec<(u16, Bytes)>, BadFrames> {
    let frames = split_any(answer)?;
    match frames.len().cmp(&count) {
        std::cmp::Ordering::Equal => Ok(frames),
        std::cmp::Ordering::Less => Err(BadFrames("fewer frames than orders")),
        std::cmp::Ordering::Greater => Err(BadFrames("more frames than orders")),
    }
}

/// `POST` with pieces and their put orders framed as [`push_write`] writes them (a
/// `Content-Length` is required): many small pieces stored in one request. The answer is
/// `application/octet-stream`, one frame per piece in the order sent (see
/// [`push_frame`]): the [`Receipt`](crate::Receipt) as JSON under status 201, or that
/// piece's [`ErrorBody`](crate::ErrorBody) under its HTTP status.
pub const WRITES: &str = "/v1/writes";

pub use crate::limits::{MAX_WRITE_BYTES, MAX_WRITES};

/// Appends one piece of a [`WRITES`] body: its signed order's bytes, then the piece, each
/// a frame (status 0).
pub fn push_write(out: &mut Vec<u8>, order: &SignedOrder, piece: &[u8]) {
    push_frame(out, 0, &order.to_bytes());
    push_frame(out, 0, piece);
}

/// Splits a [`WRITES`] body into (order, piece) pairs.
pub fn split_writes(body: &Bytes) -> Result<Vec<(SignedOrder, Bytes)>, BadFrames> {
    let frames = split_any(body)?;
    if frames.len() % 2 != 0 {
        return Err(BadFrames("an order without its piece"));
    }
    frames
        .chunks_exact(2)
        .map(|pair| {
            let order = SignedOrder::from_bytes(&pair[0].1)
                .map_err(|_| BadFrames("an order that does not parse"))?;
            Ok((order, pair[1].1.clone()))
        })
        .collect()
}

/// Every frame of `bytes`, however many.
fn split_any(bytes: &Bytes) -> Result<Vec<(u16, Bytes)>, BadFrames> {
    let mut frames = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let head = bytes
            .get(at..at + 6)
            .ok_or(BadFrames("a frame's header is cut off"))?;
        let status = u16::from_be_bytes([head[0], head[1]]);
        let len = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize;
        let start = at + 6;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .ok_or(BadFrames("a frame is longer than the message"))?;
        frames.push((status, bytes.slice(start..end)));
        at = end;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn frames_round_trip_and_every_cut_is_refused() {
        let mut out = Vec::new();
        push_frame(&mut out, 200, b"piece bytes");
        push_frame(
            &mut out,
            404,
            br#"{"code":"piece_not_found","message":"no"}"#,
        );
        push_frame(&mut out, 200, b"");
        let answer = Bytes::from(out);
        let frames = split_frames(&answer, 3).unwrap();
        assert_eq!(frames[0], (200, Bytes::from_static(b"piece bytes")));
        assert_eq!(frames[1].0, 404);
        assert_eq!(frames[2], (200, Bytes::new()));
        for cut in 1..answer.len() {
            assert!(
                split_frames(&answer.slice(..cut), 3).is_err(),
                "cut at {cut}"
            );
        }
        assert!(split_frames(&answer, 2).is_err());
        assert!(split_frames(&answer, 4).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_split_or_refuse_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..200), count in 0usize..5) {
            let answer = Bytes::from(bytes);
            if let Ok(frames) = split_frames(&answer, count) {
                prop_assert_eq!(frames.len(), count);
            }
        }
    }
}
