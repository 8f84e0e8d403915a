//! Moving piece bytes to and from peers under the pool's signed orders: a client storing
//! and reading its pieces, a peer running a repair job.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod coalesce;
#[cfg(test)]
mod tests;
mod transport;

pub use transport::{AuditSlice, PeerTransport, Pending, PieceRead, PieceWrite};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{PeerId, PieceHash};
use cairn_net::Clients;
use cairn_proto::order::ORDER_HEADER;
use cairn_proto::peer_api::{
    PEER_STATUS, PeerInfo, READS, ReadMany, WRITES, audit_path, piece_path, push_write,
    split_frames,
};
use cairn_proto::{ErrorBody, PeerAddr, Receipt, SignedOrder};
use futures_util::TryStreamExt;

/// How long one piece transfer may take (a 64 MiB piece on a slow link fits easily).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long connecting to a peer may take before another is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why one piece transfer failed (the caller tries another peer).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransferError {
    /// The peer could not be reached or the transfer broke off.
    #[error("peer {peer} at {address} did not answer: {reason}")]
    Unreachable {
        /// The peer.
        peer: PeerId,
        /// Its address.
        address: String,
        /// The transport's error.
        reason: String,
    },
    /// The peer refused.
    #[error("peer {peer} refused: {message} ({code})")]
    Refused {
        /// The peer.
        peer: PeerId,
        /// The status it answered with (HTTP's numbering).
        status: u16,
        /// Stable error code.
        code: String,
        /// The peer's explanation.
        message: String,
    },
    /// The peer sent bytes that do not match the piece's hash: its copy is damaged (or it
    /// lies). Worth reporting to the pool, which audits the piece.
    #[error("peer {peer} sent piece {hash} damaged: its bytes do not match the hash")]
    Corrupt {
        /// The peer.
        peer: PeerId,
        /// The piece.
        hash: PieceHash,
    },
    /// The peer answered with the wrong bytes or a receipt for something else.
    #[error("peer {peer} answered wrongly: {reason}")]
    Wrong {
        /// The peer.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
}

/// How every connection to a peer is set up.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .http1_only()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TRANSFER_TIMEOUT)
        .pool_max_idle_per_host(16)
}

/// An HTTP client for peers' data paths; cheap to clone, keeps connections alive. A peer
/// at an `https://` address is dialled pinned to its own identity.
#[derive(Clone)]
pub struct PeerClient {
    clients: Arc<Clients>,
    queues: Arc<coalesce::Queues>,
}

impl PeerClient {
    /// A client with `TCP_NODELAY` and pooled HTTP/1.1 connections.
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            clients: Arc::new(Clients::new(builder)?),
            queues: Arc::default(),
        })
    }

    /// The connection to `peer` at `address`.
    fn http(&self, peer: PeerId, address: &PeerAddr) -> Result<reqwest::Client, TransferError> {
        self.clients
            .for_address(*peer.as_bytes(), address.as_str())
            .map_err(|e| unreachable(peer, address, &e))
    }

    /// Stores `bytes` as piece `hash` on `peer` under a put order; returns the checked
    /// receipt. Small pieces bound for the same peer travel together (see `coalesce.rs`).
    pub async fn put(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        order: &SignedOrder,
        hash: PieceHash,
        bytes: Bytes,
    ) -> Result<Receipt, TransferError> {
        if bytes.len() <= coalesce::SMALL_WRITE {
            return self.put_queued(peer, address, order, hash, bytes).await;
        }
        self.put_one(peer, address, order, hash, bytes).await
    }

    /// One `PUT` of one piece.
    async fn put_one(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        order: &SignedOrder,
        hash: PieceHash,
        bytes: Bytes,
    ) -> Result<Receipt, TransferError> {
        let size = bytes.len() as u64;
        let url = address.url(&piece_path(&hash));
        let response = self
            .http(peer, address)?
            .put(url)
            .header(ORDER_HEADER, order.to_header_value())
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(bytes)
            .send()
            .await
            .map_err(|e| unreachable(peer, address, &e))?;
        let body = checked(peer, address, response).await?;
        checked_receipt(peer, hash, size, &body)
    }

    /// One `POST /v1/writes` of many small pieces, each `(order, hash, bytes)`; every
    /// answer stands alone.
    pub async fn write_many(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        pieces: &[(SignedOrder, PieceHash, Bytes)],
    ) -> Result<Vec<Result<Receipt, TransferError>>, TransferError> {
        let mut body = Vec::with_capacity(pieces.iter().map(|(_, _, b)| b.len() + 256).sum());
        for (order, _, bytes) in pieces {
            push_write(&mut body, order, bytes);
        }
        let url = address.url(WRITES);
        let request = (self.http(peer, address)?.post(url))
            .header(reqwest::header::CONTENT_LENGTH, body.len())
            .body(body);
        let frames = framed(peer, address, request, pieces.len()).await?;
        let mut answers: Vec<Result<Receipt, TransferError>> = frames
            .into_iter()
            .zip(pieces)
            .map(|((status, body), (_, hash, bytes))| {
                if status == 201 {
                    parsed_receipt(peer, *hash, bytes.len() as u64, &body)
                } else {
                    Err(refusal(peer, status, &body))
                }
            })
            .collect();
        // The receipts' signatures are checked as one set.
        let signed: Vec<&Receipt> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        let checked = Receipt::verify_many(signed);
        let mut checked = checked.into_iter();
        for answer in &mut answers {
            if answer.is_ok()
                && let Some(Err(e)) = checked.next()
            {
                *answer = Err(TransferError::Wrong {
                    peer,
                    reason: e.to_string(),
                });
            }
        }
        Ok(answers)
    }

    /// Reads piece `hash` from `peer` under a get order and checks its hash.
    pub async fn get(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        order: &SignedOrder,
        hash: PieceHash,
        size: u64,
    ) -> Result<Bytes, TransferError> {
        let url = address.url(&piece_path(&hash));
        let response = self
            .http(peer, address)?
            .get(url)
            .header(ORDER_HEADER, order.to_header_value())
            .send()
            .await
            .map_err(|e| unreachable(peer, address, &e))?;
        // A refusal's length is its error message's; only a piece's own answer is checked.
        if response.status().is_success()
            && response.content_length().is_some_and(|len| len != size)
        {
            return Err(TransferError::Wrong {
                peer,
                reason: format!("it offered a piece of the wrong size (expected {size} bytes)"),
            });
        }
        let body = checked(peer, address, response).await?;
        if body.len() as u64 != size || !hash.matches(&body) {
            return Err(TransferError::Corrupt { peer, hash });
        }
        Ok(body)
    }

    /// Reads many small pieces from `peer` in one request (at most
    /// [`MAX_READS`](cairn_proto::peer_api::MAX_READS)), each `(order, hash, size)`; every
    /// answer is checked against its piece's size and hash and stands alone.
    pub async fn read_many(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        wanted: &[(SignedOrder, PieceHash, u64)],
    ) -> Result<Vec<Result<Bytes, TransferError>>, TransferError> {
        let url = address.url(READS);
        let body = ReadMany {
            orders: wanted.iter().map(|(order, _, _)| order.clone()).collect(),
        };
        let request = self.http(peer, address)?.post(url).json(&body);
        let frames = framed(peer, address, request, wanted.len()).await?;
        Ok(frames
            .into_iter()
            .zip(wanted)
            .map(|((status, bytes), &(_, hash, size))| {
                if status != 200 {
                    return Err(refusal(peer, status, &bytes));
                }
                if bytes.len() as u64 != size || !hash.matches(&bytes) {
                    return Err(TransferError::Corrupt { peer, hash });
                }
                Ok(bytes)
            })
            .collect())
    }
}

impl PeerClient {
    /// Reads bytes `start..start + len` of piece `hash` from `peer` (an HTTP range); only
    /// the length is checked.
    pub async fn get_range(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        order: &SignedOrder,
        hash: PieceHash,
        start: u64,
        len: u64,
    ) -> Result<Bytes, TransferError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let url = address.url(&piece_path(&hash));
        let last = start.saturating_add(len - 1);
        let response = self
            .http(peer, address)?
            .get(url)
            .header(ORDER_HEADER, order.to_header_value())
            .header(reqwest::header::RANGE, format!("bytes={start}-{last}"))
            .send()
            .await
            .map_err(|e| unreachable(peer, address, &e))?;
        let body = checked(peer, address, response).await?;
        if body.len() as u64 != len {
            return Err(TransferError::Wrong {
                peer,
                reason: format!("it answered {} bytes for a range of {len}", body.len()),
            });
        }
        Ok(body)
    }

    /// Asks `peer` for the audit slice of bytes `start..start + len` of piece `hash`; the
    /// slice streams as it arrives.
    #[allow(clippy::too_many_arguments)]
    pub async fn audit(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        order: &SignedOrder,
        hash: PieceHash,
        start: u64,
        len: u64,
        within: Duration,
    ) -> Result<AuditSlice, TransferError> {
        let url = format!(
            "{}{}?start={start}&len={len}",
            address.as_str(),
            audit_path(&hash)
        );
        let response = self
            .http(peer, address)?
            .get(url)
            .header(ORDER_HEADER, order.to_header_value())
            .timeout(within)
            .send()
            .await
            .map_err(|e| unreachable(peer, address, &e))?;
        if !response.status().is_success() {
            return Err(checked(peer, address, response)
                .await
                .err()
                .unwrap_or_else(|| TransferError::Wrong {
                    peer,
                    reason: "it answered an audit with a failure status and no refusal".into(),
                }));
        }
        let stream = response.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
    }

    /// Asks `peer` for its status; checks that the answer comes from `peer`.
    pub async fn status(
        &self,
        peer: PeerId,
        address: &PeerAddr,
        within: Duration,
    ) -> Result<PeerInfo, TransferError> {
        let url = address.url(PEER_STATUS);
        let response = self
            .http(peer, address)?
            .get(url)
            .timeout(within)
            .send()
            .await
            .map_err(|e| unreachable(peer, address, &e))?;
        let body = checked(peer, address, response).await?;
        let info: PeerInfo = serde_json::from_slice(&body).map_err(|e| TransferError::Wrong {
            peer,
            reason: format!("its status is not valid JSON: {e}"),
        })?;
        if info.peer != peer {
            return Err(TransferError::Wrong {
                peer,
                reason: format!("the address answers as peer {}", info.peer),
            });
        }
        Ok(info)
    }
}

fn unreachable(peer: PeerId, address: &PeerAddr, error: &reqwest::Error) -> TransferError {
    TransferError::Unreachable {
        peer,
        address: address.to_string(),
        reason: error.to_string(),
    }
}

/// A receipt's JSON from `peer`, checked: for `hash` of `size` bytes, signed by `peer`.
fn checked_receipt(
    peer: PeerId,
    hash: PieceHash,
    size: u64,
    body: &[u8],
) -> Result<Receipt, TransferError> {
    let receipt = parsed_receipt(peer, hash, size, body)?;
    receipt.verify().map_err(|e| TransferError::Wrong {
        peer,
        reason: e.to_string(),
    })?;
    Ok(receipt)
}

/// A receipt's JSON from `peer`, for `hash` of `size` bytes by `peer` (its signature not
/// yet checked).
fn parsed_receipt(
    peer: PeerId,
    hash: PieceHash,
    size: u64,
    body: &[u8],
) -> Result<Receipt, TransferError> {
    let receipt: Receipt = serde_json::from_slice(body).map_err(|e| TransferError::Wrong {
        peer,
        reason: format!("its receipt is not valid JSON: {e}"),
    })?;
    if receipt.peer != peer || receipt.piece != hash || receipt.size != size {
        return Err(TransferError::Wrong {
            peer,
            reason: "its receipt is for another piece".into(),
        });
    }
    Ok(receipt)
}

/// A peer's refusal of one piece in a batch, from its status and `ErrorBody`.
fn refusal(peer: PeerId, status: u16, body: &[u8]) -> TransferError {
    let error = ErrorBody::from_json(body)
        .unwrap_or_else(|_| ErrorBody::new("unparsed", format!("HTTP {status}")));
    TransferError::Refused {
        peer,
        status,
        code: error.code,
        message: error.message,
    }
}

/// Sends a batch request to `peer` and splits its answer into `count` frames.
async fn framed(
    peer: PeerId,
    address: &PeerAddr,
    request: reqwest::RequestBuilder,
    count: usize,
) -> Result<Vec<(u16, Bytes)>, TransferError> {
    let response = (request.send().await).map_err(|e| unreachable(peer, address, &e))?;
    let answer = checked(peer, address, response).await?;
    split_frames(&answer, count).map_err(|e| TransferError::Wrong {
        peer,
        reason: e.to_string(),
    })
}

/// The body of a successful answer, or the peer's refusal.
async fn checked(
    peer: PeerId,
    address: &PeerAddr,
    response: reqwest::Response,
) -> Result<Bytes, TransferError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| unreachable(peer, address, &e))?;
    if status.is_success() {
        return Ok(body);
    }
    let error = ErrorBody::from_json(&body)
        .unwrap_or_else(|_| ErrorBody::new("unparsed", format!("HTTP {status}")));
    Err(TransferError::Refused {
        peer,
        status: status.as_u16(),
        code: error.code,
        message: error.message,
    })
}
