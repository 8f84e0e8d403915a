//! The boundary under piece traffic: everything a client, a repairing peer or the pool asks
//! of a peer's data path, as one object-safe trait. The pipelines hold an
//! `Arc<dyn PeerTransport>` and never see HTTP, so a relayed or hole-punched transport can
//! be added beside [`PeerClient`] (direct HTTP(S)) without touching them.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{PeerId, PieceHash};
use cairn_proto::peer_api::PeerInfo;
use cairn_proto::{PeerAddr, Receipt, SignedOrder};
use futures_util::future::BoxFuture;
use tokio::io::AsyncRead;

use crate::{PeerClient, TransferError};

/// A transfer under way: its answer, or why it failed (the caller tries another peer).
pub type Pending<'a, T> = BoxFuture<'a, Result<T, TransferError>>;

/// The bytes of an audit slice as they arrive (a Bao slice, checked by the auditor).
pub type AuditSlice = Pin<Box<dyn AsyncRead + Send>>;

/// A small piece to write in a batch: its put order, its hash and its bytes.
pub type PieceWrite = (SignedOrder, PieceHash, Bytes);

/// A small piece to read in a batch: its get order, its hash and its size.
pub type PieceRead = (SignedOrder, PieceHash, u64);

/// What a peer's data path offers, whatever carries it.
pub trait PeerTransport: Send + Sync {
    /// Stores `bytes` as piece `hash` on `peer` under a put order; answers its receipt,
    /// checked (for this piece and size, signed by `peer`).
    fn put<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        bytes: Bytes,
    ) -> Pending<'a, Receipt>;

    /// Reads piece `hash` of `size` bytes from `peer` under a get order, checked against its
    /// hash.
    fn get<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        size: u64,
    ) -> Pending<'a, Bytes>;

    /// Reads bytes `start..start + len` of piece `hash` from `peer` under a get order. Only
    /// the length is checked: a part of a piece cannot be checked against its hash.
    fn get_range<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        start: u64,
        len: u64,
    ) -> Pending<'a, Bytes>;

    /// Reads many small pieces from `peer` in one exchange; every answer is checked
    /// against its piece's size and hash and stands alone.
    fn read_many<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        wanted: &'a [PieceRead],
    ) -> Pending<'a, Vec<Result<Bytes, TransferError>>>;

    /// Writes many small pieces to `peer` in one exchange; every receipt is checked and
    /// stands alone.
    fn write_many<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        pieces: &'a [PieceWrite],
    ) -> Pending<'a, Vec<Result<Receipt, TransferError>>>;

    /// Asks `peer` for the audit slice of bytes `start..start + len` of piece `hash` under
    /// an audit order, within `within`; the slice's bytes stream to the auditor, which
    /// checks them.
    #[allow(clippy::too_many_arguments)]
    fn audit<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        start: u64,
        len: u64,
        within: Duration,
    ) -> Pending<'a, AuditSlice>;

    /// Asks `peer` how it is, within `within`; the answer is checked to come from `peer`.
    fn status<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        within: Duration,
    ) -> Pending<'a, PeerInfo>;
}

impl PeerTransport for PeerClient {
    fn put<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        bytes: Bytes,
    ) -> Pending<'a, Receipt> {
        Box::pin(PeerClient::put(self, peer, address, order, hash, bytes))
    }

    fn get<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        size: u64,
    ) -> Pending<'a, Bytes> {
        Box::pin(PeerClient::get(self, peer, address, order, hash, size))
    }

    fn get_range<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        start: u64,
        len: u64,
    ) -> Pending<'a, Bytes> {
        Box::pin(PeerClient::get_range(
            self, peer, address, order, hash, start, len,
        ))
    }

    fn read_many<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        wanted: &'a [PieceRead],
    ) -> Pending<'a, Vec<Result<Bytes, TransferError>>> {
        Box::pin(PeerClient::read_many(self, peer, address, wanted))
    }

    fn write_many<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        pieces: &'a [PieceWrite],
    ) -> Pending<'a, Vec<Result<Receipt, TransferError>>> {
        Box::pin(PeerClient::write_many(self, peer, address, pieces))
    }

    fn audit<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        order: &'a SignedOrder,
        hash: PieceHash,
        start: u64,
        len: u64,
        within: Duration,
    ) -> Pending<'a, AuditSlice> {
        Box::pin(PeerClient::audit(
            self, peer, address, order, hash, start, len, within,
        ))
    }

    fn status<'a>(
        &'a self,
        peer: PeerId,
        address: &'a PeerAddr,
        within: Duration,
    ) -> Pending<'a, PeerInfo> {
        Box::pin(PeerClient::status(self, peer, address, within))
    }
}
