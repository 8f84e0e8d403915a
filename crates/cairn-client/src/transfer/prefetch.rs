//! Reading a folder of small files: the first choice of pieces for a batch of one-segment
//! files, fetched with one request per peer (`POST /v1/reads`) instead of one per piece.
//! Whatever a file still lacks afterwards it reads on its own, as any file does.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use cairn_core::{PeerId, PieceHash};
use cairn_proto::peer_api::{MAX_READ_BYTES, MAX_READS};
use cairn_proto::{PeerAddr, SignedOrder};
use futures_util::future::join_all;

use super::Transfers;
use super::download::{Readable, candidates, check_redundancy};
use crate::peer::TransferError;

/// Pieces larger than this are read one by one.
const SMALL_PIECE: u64 = 256 * 1024;
/// Piece bytes one batch of files holds in memory at most.
const BATCH_BYTES: u64 = 16 << 20;

/// What a batch read left for one file's first segment.
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    /// Verified pieces by fragment (empty when the file was not part of a batch read).
    pub(crate) pieces: Vec<Option<Bytes>>,
    /// The (peer, fragment) pairs already asked, whose orders are spent.
    pub(crate) tried: HashSet<(PeerId, u16)>,
}

/// One piece to ask a peer for, and which file and fragment it is.
struct Wanted {
    file: usize,
    peer: PeerId,
    fragment: u16,
    order: SignedOrder,
    hash: PieceHash,
    size: u64,
}

impl Transfers {
    /// Reads the first `k` choices of pieces of every small one-segment file in `files`,
    /// a request per peer (split to the peer's limits), and leaves them in each file's
    /// [`Prefetched`]. A peer that fails or lags past `hedge_after` costs nothing but the
    /// time: its files read the pieces they lack on their own (asking an unanswering peer
    /// again, never an order a peer answered).
    pub(crate) async fn prefetch(&self, files: &mut [Readable]) {
        let mut by_peer: HashMap<PeerId, (PeerAddr, Vec<Wanted>)> = HashMap::new();
        let mut planned = 0u64;
        for (at, file) in files.iter_mut().enumerate() {
            let redundancy = file.metadata.redundancy;
            let Some(sources) = file.sources.segments.first() else {
                continue;
            };
            let k = u64::from(redundancy.k());
            let small = sources.index == 0
                && file.metadata.layout.count() == 1
                && sources.piece_size <= SMALL_PIECE
                && check_redundancy(&file.sources, redundancy).is_ok();
            if !small || planned + k * sources.piece_size > BATCH_BYTES {
                continue;
            }
            let hashes = file
                .metadata
                .segments
                .first()
                .map(|s| s.fragments.clone())
                .unwrap_or_default();
            file.prefetched.pieces = vec![None; usize::from(redundancy.fragments())];
            let mut chosen = HashSet::new();
            for target in candidates(sources, &hashes, redundancy) {
                if chosen.len() as u64 == k {
                    break;
                }
                if !chosen.insert(target.fragment) {
                    continue;
                }
                planned += sources.piece_size;
                file.prefetched.tried.insert((target.peer, target.fragment));
                let (_, wanted) = by_peer
                    .entry(target.peer)
                    .or_insert_with(|| (target.address.clone(), Vec::new()));
                wanted.push(Wanted {
                    file: at,
                    peer: target.peer,
                    fragment: target.fragment,
                    order: target.order,
                    hash: target.hash,
                    size: sources.piece_size,
                });
            }
        }
        let mut requests = Vec::new();
        for (peer, (address, wanted)) in by_peer {
            for chunk in chunks(wanted) {
                requests.push(self.read_batch(peer, address.clone(), chunk));
            }
        }
        for (chunk, answers) in join_all(requests).await {
            for (wanted, answer) in chunk.into_iter().zip(answers) {
                match answer {
                    Ok(bytes) => {
                        let file = &mut files[wanted.file];
                        if let Some(slot) =
                            file.prefetched.pieces.get_mut(usize::from(wanted.fragment))
                        {
                            *slot = Some(bytes);
                        }
                    }
                    Err(error) => {
                        tracing::debug!(piece = %wanted.hash, "batch read failed: {error}");
                        match error {
                            TransferError::Corrupt { peer, hash } => {
                                self.report_corrupt(peer, hash);
                            }
                            // Unanswered (down, or lagging past `hedge_after`): the order
                            // may be unspent, so the file may ask again on its own.
                            TransferError::Unreachable { .. } => {
                                files[wanted.file]
                                    .prefetched
                                    .tried
                                    .remove(&(wanted.peer, wanted.fragment));
                            }
                            TransferError::Refused { .. } | TransferError::Wrong { .. } => {}
                        }
                    }
                }
            }
        }
    }

    /// One request to one peer; every piece fails alike if the request does.
    async fn read_batch(
        &self,
        peer: PeerId,
        address: PeerAddr,
        chunk: Vec<Wanted>,
    ) -> (Vec<Wanted>, Vec<Result<Bytes, TransferError>>) {
        let asked: Vec<(SignedOrder, PieceHash, u64)> = chunk
            .iter()
            .map(|w| (w.order.clone(), w.hash, w.size))
            .collect();
        let read = self.peers.read_many(peer, &address, &asked);
        let answers = match tokio::time::timeout(self.options.hedge_after, read).await {
            Ok(Ok(answers)) => answers,
            // The request as a whole failed (a peer without the route, a transport error):
            // its files may ask these pieces again on their own.
            Ok(Err(error)) => {
                let unanswered = TransferError::Unreachable {
                    peer,
                    address: address.to_string(),
                    reason: error.to_string(),
                };
                vec![Err(unanswered); chunk.len()]
            }
            Err(_) => {
                let lag = TransferError::Unreachable {
                    peer,
                    address: address.to_string(),
                    reason: "the batch read lagged; reading its files one by one".into(),
                };
                vec![Err(lag); chunk.len()]
            }
        };
        (chunk, answers)
    }
}

/// Splits one peer's wanted pieces into requests within its limits.
fn chunks(wanted: Vec<Wanted>) -> Vec<Vec<Wanted>> {
    let mut out: Vec<Vec<Wanted>> = Vec::new();
    let mut bytes = 0u64;
    for w in wanted {
        let full = out
            .last()
            .is_none_or(|last| last.len() == MAX_READS || bytes + w.size > MAX_READ_BYTES);
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += w.size;
        if let Some(last) = out.last_mut() {
            last.push(w);
        }
    }
    out
}
