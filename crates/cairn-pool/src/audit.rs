//! Audits: the pool asks a peer for a BLAKE3-verified slice (Bao encoding) of a piece and
//! checks it against the piece's name, which is its BLAKE3 root. A peer cannot answer
//! without holding the bytes: the slice carries the tree's parent hashes from the root down
//! to the chunks asked for.
//!
//! A verified slice counts as a pass; a missing piece or a slice that does not verify is a
//! failure, marks that piece damaged (so downloads avoid it and repair rebuilds it
//! elsewhere) and, after [`PoolConfig::disqualify_after`](crate::PoolConfig) failures in a
//! row, disqualifies the peer. Silence is not a failure: health timers deal with peers that
//! do not answer, and an audit that says nothing about the piece (the peer refused the order,
//! was not ready) is not counted either.
//!
//! The loop samples a few chunks of one random piece per online peer each round; a client's
//! report of a damaged piece triggers an audit of the whole piece, so a single bad byte is
//! found, while a lying client can only make the pool look, never drop a good piece.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{PeerId, PieceHash};
use cairn_proto::peer_api::AUDIT_CHUNK;
use cairn_proto::{Holder, OrderAction, PeerAddr, PeerState};
use cairn_transfer::TransferError;
use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::io::SyncIoBridge;

use crate::app::App;
use crate::counters::Counters;
use crate::store::{MetadataStore, PeerRecord, StoreError};

/// Most chunks a routine audit asks for.
pub const SAMPLE_CHUNKS: u64 = 4;
/// How long a routine audit may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a whole-piece audit may take (a large piece over a slow link).
const WHOLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an audit order stays valid.
const ORDER_TTL: Duration = Duration::from_secs(120);
/// Routine audits in flight at once.
const ROUND_CONCURRENCY: usize = 16;
/// Whole-piece audits (from clients' reports) in flight at once; further reports are
/// counted but not audited at once (the routine audits still reach the piece).
static REPORT_AUDITS: Semaphore = Semaphore::const_new(8);

/// How much of a piece to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditScope {
    /// A few random chunks of a piece of `size` bytes (routine audits).
    Sample {
        /// The piece's size as recorded.
        size: u64,
    },
    /// Every byte (after a client reported the piece damaged); the size need not be known.
    Whole,
}

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    /// The peer answered with a slice that verifies against the piece's hash.
    Passed,
    /// The peer no longer has the piece, or its bytes do not match the hash.
    Failed(String),
    /// The peer could not be reached or the answer broke off; not counted.
    Unreachable(String),
    /// The peer refused in a way that says nothing about the piece (an order it could not
    /// check, not ready yet); not counted.
    Inconclusive(String),
}

/// A random range of whole chunks (at most [`SAMPLE_CHUNKS`]) within a piece of `size`
/// bytes, as `(start, len)`; `len` is cut at the piece's end. `(0, 0)` for an empty piece.
pub fn choose_range(size: u64, rng: &mut impl Rng) -> (u64, u64) {
    let chunks = size.div_ceil(AUDIT_CHUNK);
    if chunks == 0 {
        return (0, 0);
    }
    let count = rng.random_range(1..=chunks.min(SAMPLE_CHUNKS));
    let first = rng.random_range(0..=chunks - count);
    let start = first * AUDIT_CHUNK;
    (start, (count * AUDIT_CHUNK).min(size - start))
}

/// What reading a slice found.
#[derive(Debug)]
enum SliceCheck {
    /// Every byte asked for verified against the hash, and nothing followed.
    Verified,
    /// The slice is wrong: bad hashes or bytes, cut short, or followed by extra bytes.
    Damaged(String),
    /// Reading the answer failed (the transfer broke off or timed out).
    Broken(String),
}

/// Decodes a Bao slice of bytes `start..start+len` of the piece named `hash` from `slice`,
/// discarding the content as it is verified (memory stays constant whatever the size).
fn check_slice<R: Read>(hash: &PieceHash, start: u64, len: u64, mut slice: R) -> SliceCheck {
    let root = bao::Hash::from(*hash.as_bytes());
    let mut decoder = bao::decode::SliceDecoder::new(&mut slice, &root, start, len);
    let mut buf = vec![0u8; 64 * 1024];
    let mut decoded = 0u64;
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => decoded += n as u64,
            Err(e) => {
                return match e.kind() {
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                        SliceCheck::Damaged(format!("the slice does not verify: {e}"))
                    }
                    _ => SliceCheck::Broken(e.to_string()),
                };
            }
        }
    }
    drop(decoder);
    if decoded == 0 {
        return SliceCheck::Damaged("the slice holds no bytes of the piece".into());
    }
    let mut rest = [0u8; 1];
    match slice.read(&mut rest) {
        Ok(0) => SliceCheck::Verified,
        Ok(_) => SliceCheck::Damaged("extra bytes follow the slice".into()),
        Err(e) => SliceCheck::Broken(e.to_string()),
    }
}

/// Whether `slice` is a Bao slice of bytes `start..start+len` (cut at the piece's end) of
/// the piece named `hash`, with nothing after it.
pub fn verify_slice(hash: &PieceHash, start: u64, len: u64, slice: &[u8]) -> bool {
    matches!(check_slice(hash, start, len, slice), SliceCheck::Verified)
}

/// Challenges `peer` for piece `hash` and judges its answer; records nothing.
pub async fn challenge<S>(
    app: &App<S>,
    peer: &PeerRecord,
    hash: PieceHash,
    scope: AuditScope,
) -> AuditOutcome {
    let (start, len, max_size, timeout) = match scope {
        AuditScope::Sample { size } => {
            let (start, len) = choose_range(size, &mut rand::rng());
            (start, len, size, SAMPLE_TIMEOUT)
        }
        AuditScope::Whole => (
            0,
            cairn_proto::limits::MAX_PIECE_SIZE,
            cairn_proto::limits::MAX_PIECE_SIZE,
            WHOLE_TIMEOUT,
        ),
    };
    if len == 0 {
        return AuditOutcome::Inconclusive("an empty piece has nothing to audit".into());
    }
    let expiry = App::<S>::expiry(app.now_ms(), ORDER_TTL);
    let order = match app.order(
        peer.id,
        hash,
        OrderAction::Audit,
        max_size,
        Holder::Peer(peer.id),
        expiry,
    ) {
        Ok(order) => order,
        Err(e) => return AuditOutcome::Inconclusive(e.to_string()),
    };
    let Ok(address) = PeerAddr::parse(&peer.address) else {
        return AuditOutcome::Unreachable(format!("its address {:?} is not one", peer.address));
    };
    let body = match (app.peers)
        .audit(peer.id, &address, &order, hash, start, len, timeout)
        .await
    {
        Ok(body) => body,
        Err(TransferError::Refused {
            status,
            code,
            message,
            ..
        }) => {
            let why = format!("{message} ({code})");
            return match status {
                // The piece is gone, shorter than recorded, or unreadable on the peer's disk.
                404 | 416 | 500 => AuditOutcome::Failed(why),
                _ => AuditOutcome::Inconclusive(why),
            };
        }
        Err(e) => return AuditOutcome::Unreachable(e.to_string()),
    };
    let reader = SyncIoBridge::new(body);
    let checked = tokio::task::spawn_blocking(move || check_slice(&hash, start, len, reader)).await;
    match checked {
        Ok(SliceCheck::Verified) => AuditOutcome::Passed,
        Ok(SliceCheck::Damaged(why)) => AuditOutcome::Failed(why),
        Ok(SliceCheck::Broken(why)) => AuditOutcome::Unreachable(why),
        Err(e) => AuditOutcome::Inconclusive(format!("the check stopped: {e}")),
    }
}

/// Counts a pass or failure of `peer` on piece `hash`: a failure marks the piece damaged
/// and, after enough failures in a row, disqualifies the peer. A failure on a piece the pool
/// no longer counts on that peer (its object deleted meanwhile, or already known damaged)
/// is not held against it. Other outcomes change nothing.
pub async fn record<S: MetadataStore>(
    app: &App<S>,
    peer: PeerId,
    hash: PieceHash,
    outcome: &AuditOutcome,
) -> Result<(), StoreError> {
    match outcome {
        AuditOutcome::Passed => {
            app.store.record_audit(peer, true).await?;
            Counters::add(&app.counters.audits_passed, 1);
        }
        AuditOutcome::Failed(why) => {
            let marked = app.store.mark_corrupt(peer, hash).await?;
            if marked == 0 {
                tracing::info!(%peer, piece = %hash, "audit failed on a piece no longer counted there: {why}");
                return Ok(());
            }
            Counters::add(&app.counters.pieces_marked_corrupt, marked);
            Counters::add(&app.counters.audits_failed, 1);
            let tally = app.store.record_audit(peer, false).await?;
            tracing::warn!(%peer, piece = %hash, in_a_row = tally.failed_in_a_row, "audit failed: {why}");
            if tally.failed_in_a_row >= app.config.disqualify_after {
                let state = app.store.peer(peer).await?.map(|p| p.state);
                if state != Some(PeerState::Disqualified) {
                    app.store
                        .set_peer_state(peer, PeerState::Disqualified, app.now_ms())
                        .await?;
                    Counters::add(&app.counters.peers_disqualified, 1);
                    tracing::warn!(
                        %peer,
                        failures = tally.failed_in_a_row,
                        "peer disqualified after failed audits; its pieces will be repaired elsewhere"
                    );
                }
            }
        }
        AuditOutcome::Unreachable(why) => {
            tracing::debug!(%peer, piece = %hash, "audit not answered: {why}");
        }
        AuditOutcome::Inconclusive(why) => {
            tracing::info!(%peer, piece = %hash, "audit inconclusive: {why}");
        }
    }
    Ok(())
}

/// Audits piece `hash` on `peer` and records the outcome.
pub async fn audit_piece<S: MetadataStore>(
    app: &App<S>,
    peer: &PeerRecord,
    hash: PieceHash,
    scope: AuditScope,
) -> AuditOutcome {
    let outcome = challenge(app, peer, hash, scope).await;
    if let Err(e) = record(app, peer.id, hash, &outcome).await {
        tracing::error!(peer = %peer.id, piece = %hash, "could not record an audit: {e}");
    }
    outcome
}

/// One routine round: a sample of one random piece on every online peer, a few at a time.
pub async fn audit_round<S: MetadataStore>(app: &App<S>) -> Result<(), StoreError> {
    let peers = app.store.peers().await?;
    futures_util::stream::iter(peers.into_iter().filter(|p| p.state == PeerState::Online))
        .for_each_concurrent(ROUND_CONCURRENCY, |peer| async move {
            match app.store.random_piece(peer.id).await {
                Ok(Some((hash, size))) => {
                    audit_piece(app, &peer, hash, AuditScope::Sample { size }).await;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(peer = %peer.id, "could not pick a piece to audit: {e}"),
            }
        })
        .await;
    Ok(())
}

/// Audits all of piece `hash` on `peer` in the background, unless too many such audits run
/// already; returns whether one was started. The task ends within the audit's timeout.
pub fn spawn_whole_audit<S: MetadataStore>(
    app: Arc<App<S>>,
    peer: PeerRecord,
    hash: PieceHash,
) -> bool {
    let Ok(permit) = REPORT_AUDITS.try_acquire() else {
        return false;
    };
    tokio::spawn(async move {
        let _permit = permit;
        audit_piece(&app, &peer, hash, AuditScope::Whole).await;
    });
    true
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::store::{ObjectStore, RegistryStore, RepairStore, SqliteStore};

    fn piece(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 1000) as u8).collect()
    }

    /// The slice a faithful peer sends for `start..start+len` of `bytes`.
    fn slice_of(bytes: &[u8], start: u64, len: u64) -> Vec<u8> {
        let (outboard, _) = bao::encode::outboard(bytes);
        let mut extractor = bao::encode::SliceExtractor::new_outboard(
            std::io::Cursor::new(bytes),
            std::io::Cursor::new(outboard),
            start,
            len,
        );
        let mut out = Vec::new();
        extractor.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_good_slice_passes() {
        let bytes = piece(20_000);
        let hash = PieceHash::of(&bytes);
        for (start, len) in [(0, 1024), (4096, 4096), (19_456, 544), (0, 20_000)] {
            let slice = slice_of(&bytes, start, len);
            assert!(verify_slice(&hash, start, len, &slice), "{start}+{len}");
        }
        // A whole-piece audit asks for more than there is; the answer is cut at the end.
        let slice = slice_of(&bytes, 0, 20_000);
        assert!(verify_slice(
            &hash,
            0,
            cairn_proto::limits::MAX_PIECE_SIZE,
            &slice
        ));
    }

    #[test]
    fn a_flipped_byte_of_hashes_or_data_fails() {
        let bytes = piece(20_000);
        let hash = PieceHash::of(&bytes);
        let slice = slice_of(&bytes, 4096, 4096);
        // Past the 8-byte length header, which Bao authenticates only with the final chunk
        // (a slice that does not reach it proves the range's bytes, not the exact length).
        for at in [8, 40, 100, slice.len() / 2, slice.len() - 1] {
            let mut bad = slice.clone();
            bad[at] ^= 0x40;
            assert!(!verify_slice(&hash, 4096, 4096, &bad), "byte {at}");
        }
    }

    #[test]
    fn a_slice_of_another_range_fails() {
        let bytes = piece(20_000);
        let hash = PieceHash::of(&bytes);
        let slice = slice_of(&bytes, 4096, 4096);
        assert!(!verify_slice(&hash, 8192, 4096, &slice));
        assert!(!verify_slice(&hash, 0, 4096, &slice));
    }

    #[test]
    fn a_truncated_or_padded_slice_fails() {
        let bytes = piece(20_000);
        let hash = PieceHash::of(&bytes);
        let slice = slice_of(&bytes, 4096, 4096);
        assert!(!verify_slice(&hash, 4096, 4096, &slice[..slice.len() - 1]));
        assert!(!verify_slice(&hash, 4096, 4096, &[]));
        let mut padded = slice.clone();
        padded.push(0);
        assert!(!verify_slice(&hash, 4096, 4096, &padded));
    }

    #[test]
    fn a_slice_of_another_piece_fails() {
        let bytes = piece(20_000);
        let mut other = bytes.clone();
        other[10] ^= 1;
        let hash = PieceHash::of(&bytes);
        assert!(!verify_slice(&hash, 0, 4096, &slice_of(&other, 0, 4096)));
        // The damage need not lie in the range asked for: the root differs.
        assert!(!verify_slice(
            &hash,
            8192,
            4096,
            &slice_of(&other, 8192, 4096)
        ));
    }

    /// A pool over a temporary SQLite store with peer 1 holding pieces `a`, `b` and `c`
    /// (fragments of one committed object).
    async fn pool_with_pieces(disqualify_after: u32) -> (App<SqliteStore>, tempfile::TempDir) {
        use cairn_core::{AccountId, Redundancy};
        use ed25519_dalek::SigningKey;

        use crate::store::{
            CommitObject, NewUpload, ObjectId, PeerRegistration, PiecePlacement, SegmentCommit,
        };

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("pool.sqlite")).unwrap();
        let mut config = crate::PoolConfig::new(dir.path().to_owned(), ([127, 0, 0, 1], 0).into());
        config.disqualify_after = disqualify_after;
        store
            .register_peer(
                PeerRegistration {
                    id: peer(),
                    address: "http://127.0.0.1:1".into(),
                    zone: None,
                    capacity: 1 << 30,
                    used: 0,
                    piece_count: 3,
                },
                cairn_proto::clock::now_ms(),
            )
            .await
            .unwrap();
        let account =
            AccountId::from_verifying_key(&SigningKey::from_bytes(&[9; 32]).verifying_key());
        let id = ObjectId::random(&mut rand::rng());
        store
            .begin_upload(NewUpload {
                id,
                account,
                path: "YWFh".into(),
                redundancy: Redundancy::ec(2, 1).unwrap(),
                created_at: 1,
                expires_at: u64::MAX / 2,
            })
            .await
            .unwrap();
        let pieces = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(f, name)| PiecePlacement {
                segment: 0,
                fragment: f as u16,
                hash: hash(name),
                size: 100,
                peer: peer(),
            })
            .collect();
        store
            .commit_segment(
                account,
                id,
                SegmentCommit {
                    index: 0,
                    piece_size: 100,
                    pieces,
                },
            )
            .await
            .unwrap();
        store
            .commit_object(
                account,
                id,
                CommitObject {
                    metadata: b"sealed".to_vec(),
                    size: 200,
                    segment_count: 1,
                },
                2,
            )
            .await
            .unwrap();
        let app = App {
            store,
            signer: cairn_proto::OrderSigner::new(SigningKey::from_bytes(&[1; 32])),
            requests: std::sync::Mutex::new(cairn_proto::RequestVerifier::default()),
            config,
            http: reqwest::Client::new(),
            peers: Arc::new(cairn_transfer::PeerClient::new().expect("an HTTP client")),
            counters: Counters::default(),
            repairs: crate::repair::Repairs::default(),
            rebalance: crate::rebalance::Rebalancer::default(),
            rates: Default::default(),
            quotas: Default::default(),
            clock: cairn_proto::clock::system(),
            index_mark: Default::default(),
            reserved: Default::default(),
        };
        (app, dir)
    }

    fn peer() -> PeerId {
        PeerId::from_verifying_key(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key())
    }

    fn hash(name: &str) -> PieceHash {
        PieceHash::of(name.as_bytes())
    }

    async fn state(app: &App<SqliteStore>) -> PeerState {
        app.store.peer(peer()).await.unwrap().unwrap().state
    }

    #[tokio::test]
    async fn failures_mark_pieces_and_disqualify_after_enough_in_a_row() {
        use std::sync::atomic::Ordering::Relaxed;

        let (app, _dir) = pool_with_pieces(2).await;
        let failed = AuditOutcome::Failed("bad slice".into());
        record(&app, peer(), hash("a"), &failed).await.unwrap();
        // A pass in between resets the run.
        record(&app, peer(), hash("b"), &AuditOutcome::Passed)
            .await
            .unwrap();
        record(&app, peer(), hash("b"), &failed).await.unwrap();
        assert_eq!(state(&app).await, PeerState::Online);
        // Silence and refusals that say nothing about the piece are not counted.
        for outcome in [
            AuditOutcome::Unreachable("refused".into()),
            AuditOutcome::Inconclusive("order expired".into()),
        ] {
            record(&app, peer(), hash("c"), &outcome).await.unwrap();
        }
        // The same damaged piece again is not held against the peer twice.
        record(&app, peer(), hash("a"), &failed).await.unwrap();
        assert_eq!(state(&app).await, PeerState::Online);
        let record_now = app.store.peer(peer()).await.unwrap().unwrap();
        assert_eq!((record_now.audits_passed, record_now.audits_failed), (1, 2));

        record(&app, peer(), hash("c"), &failed).await.unwrap();
        assert_eq!(state(&app).await, PeerState::Disqualified);
        let counters = &app.counters;
        assert_eq!(counters.audits_failed.load(Relaxed), 3);
        assert_eq!(counters.audits_passed.load(Relaxed), 1);
        assert_eq!(counters.pieces_marked_corrupt.load(Relaxed), 3);
        assert_eq!(counters.peers_disqualified.load(Relaxed), 1);
        // Every piece is now known damaged: none is left to sample.
        assert_eq!(app.store.random_piece(peer()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_peer_that_cannot_be_reached_is_not_counted() {
        let (app, _dir) = pool_with_pieces(1).await;
        let record_then = app.store.peer(peer()).await.unwrap().unwrap();
        let outcome = audit_piece(
            &app,
            &record_then,
            hash("a"),
            AuditScope::Sample { size: 100 },
        )
        .await;
        assert!(
            matches!(outcome, AuditOutcome::Unreachable(_)),
            "{outcome:?}"
        );
        let record_now = app.store.peer(peer()).await.unwrap().unwrap();
        assert_eq!((record_now.audits_passed, record_now.audits_failed), (0, 0));
        assert_eq!(record_now.state, PeerState::Online);
    }

    #[test]
    fn ranges_are_whole_chunks_within_the_piece() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert_eq!(choose_range(0, &mut rng), (0, 0));
        for size in [1, 1023, 1024, 1025, 5000, 16_384, 1 << 20] {
            for _ in 0..200 {
                let (start, len) = choose_range(size, &mut rng);
                assert_eq!(start % AUDIT_CHUNK, 0);
                assert!(start < size && len > 0 && start + len <= size, "{size}");
                assert!(len <= SAMPLE_CHUNKS * AUDIT_CHUNK);
            }
        }
    }
}
