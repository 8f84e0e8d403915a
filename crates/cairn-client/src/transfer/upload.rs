//! Putting one file: read → seal → erasure-code → hash on a blocking thread, a segment or
//! two ahead of the network; each segment's pieces go to all its placed peers at once, a
//! failed or lagging piece moves to a spare peer, the first receipts are kept and the slow
//! rest cancelled; the object is committed only when every segment is. An upload of many
//! segments keeps a journal in the home and goes on from one an interrupted upload of the
//! same path left (`resume.rs`).

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use cairn_core::{
    ContentHash, EncodedSegment, FileKey, ObjectCodec, ObjectId, ObjectMetadata, PieceHash,
    Redundancy, RedundancyPolicy, SegmentIndex, SegmentLayout, SegmentRecord, Timestamp,
};
use cairn_proto::api::{
    BelowTarget, CommitSegment, CommitUpload, CommittedPiece, FragmentInfo, LastSegment,
    PlaceSegment, SegmentPlaced, SpareTarget,
};
use cairn_proto::limits::MAX_METADATA;
use cairn_proto::{PeerAddr, SignedOrder};
use futures_util::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use tokio::io::AsyncRead;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_util::io::SyncIoBridge;

use super::Transfers;
use super::resume::{Begun, Journal, Resumable};
use crate::entry;
use crate::error::{ClientError, ClientResult};
use crate::intents::Intent;
use crate::peer::TransferError;
use crate::progress::Progress;
use cairn_core::ledger::LedgerOp;
use data_encoding::BASE64URL_NOPAD;

/// Segments being uploaded at once, beyond the one being encoded.
const SEGMENTS_IN_FLIGHT: usize = 2;

/// Source files open at once for reading, across every upload of the process: a tree
/// keeps hundreds of small files in flight, and each holds its file only until read.
const OPEN_SOURCES: usize = 64;

fn open_sources() -> &'static Arc<Semaphore> {
    static OPEN: OnceLock<Arc<Semaphore>> = OnceLock::new();
    OPEN.get_or_init(|| Arc::new(Semaphore::new(OPEN_SOURCES)))
}

/// What the producer thread hands the uploader.
type Produced = ClientResult<(u32, EncodedSegment)>;

/// Where an upload's plaintext comes from: a reader of exactly `len` bytes, read on a
/// blocking thread a segment at a time (so memory does not grow with `len`).
pub(crate) struct Source {
    /// The bytes.
    reader: Box<dyn Read + Send>,
    /// What errors call it (the local file, or the remote path of a stream).
    name: PathBuf,
    /// How many bytes it holds; a source that ends early or runs on is refused.
    len: u64,
    /// The modification time recorded in the object's metadata.
    modified: Timestamp,
    /// Held until the source is read through (a tree's small files fly by the hundred).
    _opened: Option<OwnedSemaphorePermit>,
}

impl Source {
    /// The local file `local`, opened once a slot among [`OPEN_SOURCES`] is free.
    pub(crate) async fn file(local: &Path) -> ClientResult<Self> {
        let opened = Arc::clone(open_sources())
            .acquire_owned()
            .await
            .map_err(|e| ClientError::Local {
                path: local.to_owned(),
                reason: format!("cannot wait to open it: {e}"),
            })?;
        let file = std::fs::File::open(local).map_err(ClientError::io(local))?;
        let info = file.metadata().map_err(ClientError::io(local))?;
        if !info.is_file() {
            return Err(ClientError::Local {
                path: local.to_owned(),
                reason: "not a regular file".into(),
            });
        }
        let modified = info
            .modified()
            .map_or_else(|_| Timestamp::default(), timestamp);
        Ok(Self {
            reader: Box::new(file),
            name: local.to_owned(),
            len: info.len(),
            modified,
            _opened: Some(opened),
        })
    }

    /// `len` bytes from `reader`, named `name` in errors, modified now. The reader is
    /// driven from a blocking thread through the runtime (see `SyncIoBridge`).
    pub(crate) fn stream(
        name: PathBuf,
        len: u64,
        reader: impl AsyncRead + Send + Unpin + 'static,
    ) -> Self {
        Self {
            reader: Box::new(SyncIoBridge::new(reader)),
            name,
            len,
            modified: timestamp(std::time::SystemTime::now()),
            _opened: None,
        }
    }
}

impl Transfers {
    /// Uploads the local file `local` to the encrypted path `path`, replacing what is there.
    pub(crate) async fn upload_file(
        &self,
        local: &Path,
        path: &str,
        progress: &Progress,
    ) -> ClientResult<Committed> {
        match self
            .upload(Source::file(local).await?, path, progress)
            .await
        {
            // The interrupted upload cannot go on (the file changed, or the pool collected
            // it); its journal is gone, so this starts afresh.
            Err(e) if restarts(&e) => {
                tracing::info!("{}: starting its upload over: {e}", local.display());
                self.upload(Source::file(local).await?, path, progress)
                    .await
            }
            result => result,
        }
    }

    /// Uploads `source` to the encrypted path `path`, replacing what is there.
    pub(crate) async fn upload(
        &self,
        source: Source,
        path: &str,
        progress: &Progress,
    ) -> ClientResult<Committed> {
        let layout = SegmentLayout::new(source.len, self.options.segment_size)?;
        let modified = source.modified;
        // An upload of many segments is journaled, and goes on from what an interrupted
        // one of the same path and size left.
        let (journal, resume) = match layout.count() > 1 {
            true => (self.journals.open(path).await).map_or((None, None), |(j, r)| (Some(j), r)),
            false => (None, None),
        };
        let (resume, stale) = match resume {
            Some(r) if r.fits(layout, self.options.redundancy) => (Some(r), None),
            other => (None, other),
        };
        // An interrupted upload of another size or shape at this path will not go on: let
        // the pool collect it now (best effort; it also expires).
        if let Some(stale) = stale
            && let Err(e) = self.pool.abort(&stale.upload).await
        {
            tracing::debug!(upload = %stale.upload, "could not abandon a stale upload: {e}");
        }
        let mut below_target = None;
        let (object, file_key, redundancy, begun) = match &resume {
            Some(r) => (
                r.object,
                r.file_key.clone(),
                r.redundancy,
                Some(r.upload.clone()),
            ),
            None => {
                // The object's one id: its segments and record are sealed to it, and the
                // pool keeps the upload and the object under it. The thread's generator is
                // not `Send`: taken only here, never across an await.
                let object = ObjectId::random(&mut rand::rng());
                let file_key = FileKey::generate(&mut rand::rng());
                // Under a concrete redundancy the first segment is placed with `begin`
                // itself; `auto` is resolved by the pool first.
                match self.options.redundancy {
                    RedundancyPolicy::Fixed(r) => (object, file_key, r, None),
                    policy => {
                        let begun = (self.pool)
                            .begin(path, &policy.to_string(), None, Some(object))
                            .await?;
                        let redundancy = concrete(&begun.redundancy)?;
                        below_target = begun.below_target;
                        if let Some(journal) = &journal {
                            journal
                                .begun(Begun {
                                    path,
                                    upload: &begun.upload,
                                    object,
                                    file_key: &file_key,
                                    layout,
                                    redundancy,
                                })
                                .await;
                        }
                        (object, file_key, redundancy, Some(begun.upload))
                    }
                }
            }
        };
        if let Some(r) = &resume {
            tracing::info!(
                upload = %r.upload,
                segments = r.committed.len(),
                "going on with an interrupted upload"
            );
        }
        let (upload, _) = watch::channel(begun);
        let plan = UploadPlan {
            path,
            object,
            file_key,
            layout,
            redundancy,
            modified,
            journal: journal.as_ref(),
            resume: resume.as_ref(),
        };
        let result = progress
            .until_cancelled(self.upload_segments(source, plan, &upload, progress))
            .await
            .map(|committed| Committed {
                below_target,
                ..committed
            });
        let begun = upload.borrow().clone();
        match &result {
            Ok(_) => {
                if let Some(journal) = &journal {
                    journal.finish();
                }
            }
            // Left for the next upload of the path to go on with; the pool collects it
            // if none comes before it expires. Nothing of it is listed meanwhile.
            Err(e) if journal.is_some() && begun.is_some() && goes_on(e) => {}
            // Abandoned: nothing of it is ever listed.
            Err(_) => {
                if let Some(journal) = &journal {
                    journal.finish();
                }
                // Best effort: the pool also collects it when the upload expires.
                if let Some(id) = begun
                    && let Err(e) = self.pool.abort(&id).await
                {
                    tracing::warn!(upload = %id, "could not abandon the upload: {e}");
                }
            }
        }
        result
    }

    async fn upload_segments(
        &self,
        source: Source,
        plan: UploadPlan<'_>,
        upload: &watch::Sender<Option<String>>,
        progress: &Progress,
    ) -> ClientResult<Committed> {
        let UploadPlan {
            path,
            object,
            file_key,
            layout,
            redundancy,
            modified,
            journal,
            resume,
        } = plan;
        // The pool refuses a record over its limit at commit: refuse before a byte moves.
        let record = entry::file_entry_len(layout.count(), redundancy);
        if record > MAX_METADATA {
            return Err(ClientError::TooLarge {
                size: layout.size(),
                redundancy,
                record,
                limit: MAX_METADATA,
            });
        }
        let codec = Arc::new(ObjectCodec::new(&file_key, object, layout, redundancy)?);
        let (tx, rx) = mpsc::channel::<Produced>(1);
        let local = source.name.clone();
        let producer = {
            let codec = codec.clone();
            tokio::task::spawn_blocking(move || produce(source, &codec, &tx))
        };
        // The first failure ends the stream, which drops the channel and stops the reader.
        // The last segment is committed with the object, in one call.
        let last = layout.count().checked_sub(1);
        let resumed = &AtomicU64::new(0);
        let local = &local;
        let file_key = &file_key;
        let segments: ClientResult<Vec<Stored>> = tokio_stream_from(rx)
            .map(|produced| async move {
                let (index, segment) = produced?;
                let len = layout.plaintext_len(SegmentIndex(index)) as u64;
                let commit = Some(index) != last;
                if let Some(sent) = resume.and_then(|r| r.sending.get(&index)) {
                    // A segment whose pieces may be out already must code the same: other
                    // bytes under its nonce would break the seal.
                    if *sent != segment.hashes {
                        return Err(ClientError::ResumeDiffers(local.clone()));
                    }
                    if let Some(&bytes) = resume.and_then(|r| r.committed.get(&index))
                        && commit
                    {
                        resumed.fetch_add(len, Ordering::Relaxed);
                        progress.advance(len);
                        return Ok(Stored {
                            record: SegmentRecord {
                                fragments: segment.hashes,
                            },
                            bytes,
                            uncommitted: None,
                        });
                    }
                }
                let begun = upload.borrow().clone();
                let stored = match begun {
                    None if index == 0 => {
                        let journaled = journal.map(|journal| JournalStart {
                            journal,
                            file_key,
                            layout,
                        });
                        self.begin_with_segment(
                            path, object, upload, redundancy, segment, commit, journaled,
                        )
                        .await?
                    }
                    _ => {
                        let id = begun_upload(upload).await?;
                        if let Some(journal) = journal {
                            journal.sending(index, &segment.hashes).await;
                        }
                        self.store_segment(&id, index, redundancy, segment, commit)
                            .await?
                    }
                };
                if commit && let Some(journal) = journal {
                    journal.committed(index, stored.bytes).await;
                }
                progress.advance(len);
                Ok(stored)
            })
            .buffered(SEGMENTS_IN_FLIGHT)
            .try_collect()
            .await;
        let produced = producer.await.map_err(|e| ClientError::Local {
            path: local.clone(),
            reason: format!("reading stopped unexpectedly: {e}"),
        });
        let mut records = Vec::new();
        let mut size = 0;
        let mut last_segment = None;
        for (index, stored) in segments?.into_iter().enumerate() {
            records.push(stored.record);
            size += stored.bytes;
            if let Some(pieces) = stored.uncommitted {
                last_segment = Some(LastSegment {
                    index: index as u32,
                    pieces,
                });
            }
        }
        let content_hash = produced??;
        let metadata = ObjectMetadata {
            layout,
            modified,
            content_hash,
            file_key: file_key.clone(),
            redundancy,
            segments: records,
        };
        let sealed = entry::seal_file(&self.metadata_key, object, &metadata, &mut rand::rng())?;
        let id = begun_upload(upload).await?;
        let commit = CommitUpload {
            metadata: sealed,
            size,
            segment_count: layout.count(),
            last_segment,
        };
        let mut committed = Committed {
            object,
            path: path.to_owned(),
            size,
            metadata: commit.metadata.clone(),
            intent: None,
            resumed: resumed.load(Ordering::Relaxed),
            below_target: None,
        };
        // Journaled first: a process killed once the pool took it still gets it into the
        // ledger (see `intents.rs`).
        let (_, intent) = (self.intents)
            .around(&[committed.op()?], self.pool.commit(&id, &commit))
            .await?;
        committed.intent = Some(intent);
        Ok(committed)
    }

    /// Stores pieces already made (a ledger entry's) as the one segment of object `object`
    /// at `path`, each fragment `redundancy.r()` times, committed with `metadata`.
    pub(crate) async fn store_made(
        &self,
        path: &str,
        object: ObjectId,
        redundancy: Redundancy,
        fragments: Vec<Vec<u8>>,
        metadata: String,
    ) -> ClientResult<()> {
        let hashes = fragments.iter().map(|f| PieceHash::of(f)).collect();
        let segment = EncodedSegment { fragments, hashes };
        let (upload, _) = watch::channel(None);
        let result = async {
            let stored = self
                .begin_with_segment(path, object, &upload, redundancy, segment, false, None)
                .await?;
            let id = begun_upload(&upload).await?;
            let commit = CommitUpload {
                metadata,
                size: stored.bytes,
                segment_count: 1,
                last_segment: stored
                    .uncommitted
                    .map(|pieces| LastSegment { index: 0, pieces }),
            };
            self.pool.commit(&id, &commit).await.map(drop)
        }
        .await;
        let begun = upload.borrow().clone();
        if result.is_err()
            && let Some(id) = begun
            && let Err(e) = self.pool.abort(&id).await
        {
            tracing::warn!(upload = %id, "could not abandon the upload: {e}");
        }
        result
    }

    /// Begins the upload with segment 0 placed in the same call, then stores it (journaled
    /// first, when `journaled`).
    #[allow(clippy::too_many_arguments)]
    async fn begin_with_segment(
        &self,
        path: &str,
        object: ObjectId,
        upload: &watch::Sender<Option<String>>,
        redundancy: Redundancy,
        segment: EncodedSegment,
        commit: bool,
        journaled: Option<JournalStart<'_>>,
    ) -> ClientResult<Stored> {
        let begun = self
            .pool()
            .begin(
                path,
                &redundancy.to_string(),
                Some(place_body(&segment)),
                Some(object),
            )
            .await?;
        // Journaled before any other segment can be (they wait for the id) and before
        // a piece goes out.
        if let Some(start) = journaled {
            start
                .journal
                .begun(Begun {
                    path,
                    upload: &begun.upload,
                    object,
                    file_key: start.file_key,
                    layout: start.layout,
                    redundancy,
                })
                .await;
            start.journal.sending(0, &segment.hashes).await;
        }
        upload.send_replace(Some(begun.upload.clone()));
        let placed = begun.placed.ok_or_else(|| ClientError::BadAnswer {
            what: "begin upload",
            reason: "the first segment's placement is missing".into(),
        })?;
        if concrete(&begun.redundancy)? != redundancy {
            return Err(ClientError::BadAnswer {
                what: "begin upload",
                reason: format!("asked for {redundancy}, got {}", begun.redundancy),
            });
        }
        self.store_placed(&begun.upload, 0, redundancy, segment, placed, commit)
            .await
    }

    /// Places one segment and stores its pieces; commits it if `commit`, else hands its
    /// receipts back for the object's commit.
    async fn store_segment(
        &self,
        upload: &str,
        index: u32,
        redundancy: Redundancy,
        segment: EncodedSegment,
        commit: bool,
    ) -> ClientResult<Stored> {
        let placed = self
            .pool()
            .place(upload, index, &place_body(&segment))
            .await?;
        self.store_placed(upload, index, redundancy, segment, placed, commit)
            .await
    }

    /// Stores the pieces of a placed segment; commits it if `commit`, else hands its
    /// receipts back for the object's commit.
    async fn store_placed(
        &self,
        upload: &str,
        index: u32,
        redundancy: Redundancy,
        segment: EncodedSegment,
        placed: SegmentPlaced,
        commit: bool,
    ) -> ClientResult<Stored> {
        check_placement(&placed, redundancy)?;
        let piece_size = segment.fragments.first().map_or(0, Vec::len) as u64;
        let hashes = segment.hashes;
        let fragments: Vec<Bytes> = segment.fragments.into_iter().map(Bytes::from).collect();
        let spares = Mutex::new(VecDeque::from(placed.spares));
        let results: Vec<Result<CommittedPiece, TransferError>> = placed
            .targets
            .iter()
            .map(|target| {
                let f = usize::from(target.fragment);
                self.store_piece(
                    target.fragment,
                    hashes[f],
                    fragments[f].clone(),
                    Attempt {
                        peer: target.peer,
                        address: target.address.clone(),
                        order: target.order.clone(),
                    },
                    &spares,
                )
            })
            .collect::<FuturesUnordered<_>>()
            .collect()
            .await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        let mut pieces = Vec::with_capacity(results.len());
        let mut last = None;
        for result in results {
            match result {
                Ok(piece) => pieces.push(piece),
                Err(e) => last = Some(e),
            }
        }
        if let Some(last) = last {
            return Err(ClientError::UploadFailed {
                segment: index,
                failed,
                last: last.to_string(),
            });
        }
        let bytes = piece_size * pieces.len() as u64;
        let uncommitted = if commit {
            self.pool
                .commit_segment(upload, index, &CommitSegment { pieces })
                .await?;
            None
        } else {
            Some(pieces)
        };
        Ok(Stored {
            record: SegmentRecord { fragments: hashes },
            bytes,
            uncommitted,
        })
    }

    /// Stores one copy of a fragment: on its placed peer, moving to a spare when that peer
    /// fails, and racing a spare when it lags; the first receipt wins.
    async fn store_piece(
        &self,
        fragment: u16,
        hash: PieceHash,
        bytes: Bytes,
        first: Attempt,
        spares: &Mutex<VecDeque<SpareTarget>>,
    ) -> Result<CommittedPiece, TransferError> {
        let take_spare = || -> Option<Attempt> {
            let spare = spares.lock().ok()?.pop_front()?;
            let order = spare.orders.get(usize::from(fragment))?.clone();
            Some(Attempt {
                peer: spare.peer,
                address: spare.address,
                order,
            })
        };
        let put = |attempt: Attempt| {
            let bytes = bytes.clone();
            async move {
                self.peers
                    .put(attempt.peer, &attempt.address, &attempt.order, hash, bytes)
                    .await
            }
        };
        let mut attempts = FuturesUnordered::new();
        attempts.push(put(first));
        let hedge = tokio::time::sleep(self.options.hedge_after);
        tokio::pin!(hedge);
        let mut hedged = false;
        loop {
            tokio::select! {
                Some(result) = attempts.next() => match result {
                    Ok(receipt) => return Ok(CommittedPiece { fragment, receipt }),
                    Err(error) => {
                        tracing::debug!(%hash, "piece upload failed: {error}");
                        match take_spare() {
                            Some(spare) => attempts.push(put(spare)),
                            None if attempts.is_empty() => return Err(error),
                            None => {}
                        }
                    }
                },
                () = &mut hedge, if !hedged => {
                    hedged = true;
                    if let Some(spare) = take_spare() {
                        tracing::debug!(%hash, peer = %spare.peer, "piece upload lags; racing a spare");
                        attempts.push(put(spare));
                    }
                }
            }
        }
    }
}

/// What is being uploaded where.
struct UploadPlan<'a> {
    /// The encrypted remote path.
    path: &'a str,
    /// The object's id, the pool's and the seal's.
    object: ObjectId,
    /// Seals its segments: fresh, or the interrupted upload's it goes on with.
    file_key: FileKey,
    layout: SegmentLayout,
    redundancy: Redundancy,
    modified: Timestamp,
    /// Its journal, for an upload of many segments in a home.
    journal: Option<&'a Journal>,
    /// What an interrupted upload of it left.
    resume: Option<&'a Resumable>,
}

/// What segment 0's `begin` journals of a fresh upload.
struct JournalStart<'a> {
    journal: &'a Journal,
    file_key: &'a FileKey,
    layout: SegmentLayout,
}

/// Whether an upload that failed so is left for the next upload of its path to go on
/// with: a network or peer failure, or a stream cut short (a WebDAV PUT or a page's upload
/// whose connection dropped) — not a refusal or a cancel. (Data that differs next time is
/// found by the journal's hashes.)
fn goes_on(error: &ClientError) -> bool {
    match error {
        ClientError::UploadFailed { .. }
        | ClientError::PoolUnreachable { .. }
        | ClientError::SourceChanged(_)
        | ClientError::Local { .. } => true,
        ClientError::Refused { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

/// Whether a failed upload of a file is tried once more from the start: the interrupted
/// upload it went on with could not go on.
fn restarts(error: &ClientError) -> bool {
    match error {
        ClientError::ResumeDiffers(_) => true,
        ClientError::Refused { code, .. } => code == cairn_proto::codes::UPLOAD_NOT_FOUND,
        _ => false,
    }
}

/// The placement request for an encoded segment.
fn place_body(segment: &EncodedSegment) -> PlaceSegment {
    PlaceSegment {
        piece_size: segment.fragments.first().map_or(0, Vec::len) as u64,
        fragments: (segment.hashes.iter().enumerate())
            .map(|(i, hash)| FragmentInfo {
                fragment: i as u16,
                hash: *hash,
            })
            .collect(),
    }
}

/// The redundancy the pool chose, which must be concrete.
fn concrete(chosen: &str) -> ClientResult<Redundancy> {
    match RedundancyPolicy::from_str(chosen) {
        Ok(RedundancyPolicy::Fixed(r)) => Ok(r),
        _ => Err(ClientError::BadAnswer {
            what: "begin upload",
            reason: format!("{chosen:?} is not a concrete redundancy"),
        }),
    }
}

/// The upload's id, once segment 0's `begin` has answered.
async fn begun_upload(upload: &watch::Sender<Option<String>>) -> ClientResult<String> {
    let mut begun = upload.subscribe();
    let id = begun
        .wait_for(Option::is_some)
        .await
        .map_err(|_| ClientError::Local {
            path: "upload".into(),
            reason: "the upload stopped".into(),
        })?;
    Ok(id.clone().unwrap_or_default())
}

/// An object committed: what the account's ledger records of it.
#[derive(Debug)]
pub(crate) struct Committed {
    /// Its id.
    pub(crate) object: ObjectId,
    /// Its encrypted path.
    pub(crate) path: String,
    /// Bytes it stores.
    pub(crate) size: u64,
    /// Its sealed entry, in the pool's text form.
    pub(crate) metadata: String,
    /// Its commit as journaled, settled once the ledger has it.
    pub(crate) intent: Option<Intent>,
    /// Plaintext bytes an interrupted upload had stored, not sent again.
    pub(crate) resumed: u64,
    /// Set when `auto` met a network too small for the pool's target.
    pub(crate) below_target: Option<BelowTarget>,
}

impl Committed {
    /// The ledger's record of it.
    pub(crate) fn op(&self) -> ClientResult<LedgerOp> {
        let metadata = BASE64URL_NOPAD
            .decode(self.metadata.as_bytes())
            .map_err(|e| ClientError::BadAnswer {
                what: "a record to copy to the ledger",
                reason: e.to_string(),
            })?;
        Ok(LedgerOp::Put {
            object: self.object,
            path: self.path.clone(),
            size: self.size,
            metadata,
        })
    }
}

/// A segment whose pieces are stored.
struct Stored {
    /// What the object's metadata records of it.
    record: SegmentRecord,
    /// Bytes its pieces hold.
    bytes: u64,
    /// Its receipts, if it is still to be committed (with the object).
    uncommitted: Option<Vec<CommittedPiece>>,
}

/// One peer to try for one piece.
struct Attempt {
    peer: cairn_core::PeerId,
    address: PeerAddr,
    order: SignedOrder,
}

/// The pool must give `r` targets per fragment, every one on a different peer.
fn check_placement(placed: &SegmentPlaced, redundancy: Redundancy) -> ClientResult<()> {
    let fragments = usize::from(redundancy.fragments());
    let mut copies = vec![0u16; fragments];
    let mut peers = std::collections::HashSet::new();
    let wrong = |reason: String| ClientError::BadAnswer {
        what: "place segment",
        reason,
    };
    for target in &placed.targets {
        let Some(count) = copies.get_mut(usize::from(target.fragment)) else {
            return Err(wrong(format!(
                "fragment {} does not exist",
                target.fragment
            )));
        };
        *count += 1;
        if !peers.insert(target.peer) {
            return Err(wrong(format!("peer {} got two pieces", target.peer)));
        }
    }
    if copies.iter().any(|c| *c != redundancy.r()) {
        return Err(wrong(format!(
            "the targets do not give every fragment {} copies",
            redundancy.r()
        )));
    }
    if placed
        .spares
        .iter()
        .any(|s| s.orders.len() != fragments || !peers.insert(s.peer))
    {
        return Err(wrong("a spare repeats a peer or lacks orders".into()));
    }
    Ok(())
}

/// Reads, seals, codes and hashes every segment on a blocking thread; returns the
/// whole plaintext's hash.
fn produce(
    source: Source,
    codec: &ObjectCodec,
    tx: &mpsc::Sender<Produced>,
) -> ClientResult<ContentHash> {
    let layout = *codec.layout();
    // A buffer no larger than the file (and one byte to see that it ends).
    let capacity =
        usize::try_from(layout.size().saturating_add(1)).map_or(1 << 20, |n| n.min(1 << 20));
    let local = source.name.as_path();
    let mut reader = std::io::BufReader::with_capacity(capacity, source.reader);
    let mut hasher = blake3::Hasher::new();
    for index in 0..layout.count() {
        let len = layout.plaintext_len(SegmentIndex(index));
        let mut buf = Vec::with_capacity(len + cairn_core::seal::SEAL_OVERHEAD);
        let read = (&mut reader)
            .take(len as u64)
            .read_to_end(&mut buf)
            .map_err(ClientError::io(local))?;
        if read != len {
            let _ = tx.blocking_send(Err(ClientError::SourceChanged(local.to_owned())));
            return Err(ClientError::SourceChanged(local.to_owned()));
        }
        hasher.update(&buf);
        let encoded = codec.encode(SegmentIndex(index), buf);
        let produced = encoded
            .map(|segment| (index, segment))
            .map_err(ClientError::from);
        if tx.blocking_send(produced).is_err() {
            // The uploader stopped (it failed); it reports why.
            return Err(ClientError::Local {
                path: local.to_owned(),
                reason: "the upload stopped".into(),
            });
        }
    }
    let mut probe = [0u8; 1];
    if reader.read(&mut probe).map_err(ClientError::io(local))? != 0 {
        return Err(ClientError::SourceChanged(local.to_owned()));
    }
    Ok(ContentHash::from_bytes(*hasher.finalize().as_bytes()))
}

/// The receiving half of a channel as a stream.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A file time as a metadata timestamp.
pub(crate) fn timestamp(time: std::time::SystemTime) -> Timestamp {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => Timestamp {
            secs: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            nanos: after.subsec_nanos(),
        },
        Err(before) => {
            let d = before.duration();
            let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() == 0 {
                Timestamp { secs, nanos: 0 }
            } else {
                Timestamp {
                    secs: secs - 1,
                    nanos: 1_000_000_000 - d.subsec_nanos(),
                }
            }
        }
    }
}
