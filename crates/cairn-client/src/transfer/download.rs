//! Getting a file back: per segment, fetch the fastest `k` distinct fragments (online peers
//! first, another copy or fragment when one fails or lags), verify each against the hash in
//! the sealed metadata, decode and open on a blocking thread; a segment or two ahead of the
//! writer. A range fetches only the segments it touches.
//!
//! A large file is written under a partial name of its own version (`.NAME.cairn-partial-
//! vOBJECT`), with each segment's BLAKE3 appended to a `.sums` file beside it as it lands. A
//! get that stops half way (a dropped connection, a killed process) leaves both; the next
//! get of the same version keeps the segments whose bytes still hash as written, fetches the
//! rest, and checks the whole file's content hash as ever.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use cairn_core::{
    ObjectCodec, ObjectId, ObjectMetadata, PeerId, PieceHash, Redundancy, RedundancyPolicy,
    RemotePath, SegmentIndex, SegmentLayout,
};
use cairn_proto::PeerState;
use cairn_proto::api::{GetTarget, ObjectSources, SegmentSources};
use futures_util::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use rand::seq::SliceRandom;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::Transfers;
use super::landing::Lander;
use super::prefetch::Prefetched;
use crate::error::{ClientError, ClientResult};
use crate::peer::TransferError;
use crate::progress::Progress;

/// Segments fetched at once ahead of the writer.
const SEGMENTS_IN_FLIGHT: usize = 2;

/// A file ready to read: its record from the pool and its opened metadata.
pub(crate) struct Readable {
    pub(crate) path: RemotePath,
    pub(crate) object: ObjectId,
    pub(crate) metadata: ObjectMetadata,
    pub(crate) sources: ObjectSources,
    /// Pieces of its first segment already read in a batch (see `prefetch.rs`).
    pub(crate) prefetched: Prefetched,
}

impl Readable {
    /// The codec that opens its segments, once its record is found to agree with its
    /// sealed metadata.
    fn codec(&self) -> ClientResult<Arc<ObjectCodec>> {
        let metadata = &self.metadata;
        check_redundancy(&self.sources, metadata.redundancy)?;
        Ok(Arc::new(ObjectCodec::new(
            &metadata.file_key,
            self.object,
            metadata.layout,
            metadata.redundancy,
        )?))
    }
}

impl Transfers {
    /// Writes bytes `range` of `file` to `out`, in order; returns how many were written.
    /// The whole file's content hash is checked when the range covers it. Stops when the
    /// caller cancels (see [`Progress::with_cancel`]).
    pub(crate) async fn download<W: AsyncWrite + Unpin>(
        &self,
        file: &Readable,
        range: Range<u64>,
        out: &mut W,
        progress: &Progress,
    ) -> ClientResult<u64> {
        progress
            .until_cancelled(self.download_range(file, range, out, progress))
            .await
    }

    async fn download_range<W: AsyncWrite + Unpin>(
        &self,
        file: &Readable,
        range: Range<u64>,
        out: &mut W,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let layout = file.metadata.layout;
        let end = range.end.min(layout.size());
        let start = range.start.min(end);
        let whole = start == 0 && end == layout.size();
        let codec = file.codec()?;
        let segments = if whole {
            // An empty file still has one (empty) segment whose seal must open.
            0..layout.count()
        } else {
            layout.segments_for(start..end)
        };
        progress.set_total(end - start);
        let mut hasher = blake3::Hasher::new();
        let mut written = 0u64;
        let mut plaintexts = stream::iter(segments)
            .map(|index| {
                let codec = codec.clone();
                async move {
                    self.fetch_segment(file, &codec, index)
                        .await
                        .map(|p| (index, p))
                }
            })
            .buffered(SEGMENTS_IN_FLIGHT);
        while let Some((index, plaintext)) = plaintexts.try_next().await? {
            let offset = layout.offset(SegmentIndex(index));
            let from = usize::try_from(start.saturating_sub(offset)).unwrap_or(usize::MAX);
            let to = usize::try_from(end - offset)
                .unwrap_or(usize::MAX)
                .min(plaintext.len());
            let slice = plaintext.get(from.min(to)..to).unwrap_or_default();
            if whole {
                hasher.update(slice);
            }
            out.write_all(slice).await.map_err(|e| ClientError::Local {
                path: "output".into(),
                reason: e.to_string(),
            })?;
            written += slice.len() as u64;
            progress.advance(slice.len() as u64);
        }
        if whole && *hasher.finalize().as_bytes() != *file.metadata.content_hash.as_bytes() {
            return Err(ClientError::ContentMismatch(file.path.clone()));
        }
        out.flush().await.map_err(|e| ClientError::Local {
            path: "output".into(),
            reason: e.to_string(),
        })?;
        Ok(written)
    }

    /// Tells the pool, in the background, that `peer` sent piece `hash` damaged; the
    /// download goes on without waiting, and a report that fails is only logged.
    pub(crate) fn report_corrupt(&self, peer: PeerId, hash: PieceHash) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = pool.report_corrupt(peer, hash).await {
                tracing::debug!(%peer, piece = %hash, "could not report a damaged piece: {e}");
            }
        });
    }

    /// Fetches `k` verified fragments of segment `index` and opens it.
    async fn fetch_segment(
        &self,
        file: &Readable,
        codec: &Arc<ObjectCodec>,
        index: u32,
    ) -> ClientResult<Vec<u8>> {
        let redundancy = file.metadata.redundancy;
        let hashes = file
            .metadata
            .segments
            .get(index as usize)
            .map(|s| s.fragments.clone())
            .unwrap_or_default();
        let sources = file
            .sources
            .segments
            .iter()
            .find(|s| s.index == index)
            .ok_or_else(|| ClientError::BadAnswer {
                what: "object",
                reason: format!("segment {index} is missing"),
            })?;
        let mut queue = candidates(sources, &hashes, redundancy);
        let k = usize::from(redundancy.k());
        let total = usize::from(redundancy.fragments());
        let mut have: Vec<Option<Bytes>> = vec![None; total];
        // What a batch read already brought (its orders are spent: not asked again).
        if index == 0 && file.prefetched.pieces.len() == total {
            have.clone_from(&file.prefetched.pieces);
            queue.retain(|t| !file.prefetched.tried.contains(&(t.peer, t.fragment)));
        }
        let mut found = have.iter().filter(|p| p.is_some()).count();
        let mut in_flight: HashSet<u16> = HashSet::new();
        let mut last: Option<TransferError> = None;
        let mut fetches = FuturesUnordered::new();
        let fetch = |target: GetTarget| {
            let size = sources.piece_size;
            async move {
                let result = self
                    .peers
                    .get(
                        target.peer,
                        &target.address,
                        &target.order,
                        target.hash,
                        size,
                    )
                    .await;
                (target.fragment, result)
            }
        };
        // Launches the next candidate for a fragment neither held nor being fetched.
        let launch = |queue: &mut Vec<GetTarget>,
                      in_flight: &mut HashSet<u16>,
                      have: &[Option<Bytes>]|
         -> Option<GetTarget> {
            let at = queue.iter().position(|t| {
                !in_flight.contains(&t.fragment) && have[usize::from(t.fragment)].is_none()
            })?;
            let target = queue.remove(at);
            in_flight.insert(target.fragment);
            Some(target)
        };
        for _ in found..k {
            if let Some(target) = launch(&mut queue, &mut in_flight, &have) {
                fetches.push(fetch(target));
            }
        }
        let hedge = tokio::time::sleep(self.options.hedge_after);
        tokio::pin!(hedge);
        let mut hedged = false;
        while found < k && !fetches.is_empty() {
            tokio::select! {
                Some((fragment, result)) = fetches.next() => {
                    in_flight.remove(&fragment);
                    match result {
                        Ok(bytes) => {
                            let slot = &mut have[usize::from(fragment)];
                            if slot.is_none() {
                                *slot = Some(bytes);
                                found += 1;
                            }
                        }
                        Err(error) => {
                            tracing::debug!(segment = index, fragment, "piece read failed: {error}");
                            if let TransferError::Corrupt { peer, hash } = &error {
                                self.report_corrupt(*peer, *hash);
                            }
                            last = Some(error);
                            if let Some(target) = launch(&mut queue, &mut in_flight, &have) {
                                fetches.push(fetch(target));
                            }
                        }
                    }
                }
                () = &mut hedge, if !hedged => {
                    hedged = true;
                    if let Some(target) = launch(&mut queue, &mut in_flight, &have) {
                        tracing::debug!(segment = index, "piece reads lag; racing another");
                        fetches.push(fetch(target));
                    }
                }
                else => break,
            }
        }
        if found < k {
            return Err(ClientError::Unreadable {
                path: file.path.clone(),
                segment: index,
                found,
                needed: k,
                last: last.map_or_else(|| "no peer holds its pieces".into(), |e| e.to_string()),
            });
        }
        drop(fetches);
        let codec = codec.clone();
        tokio::task::spawn_blocking(move || {
            let fragments: Vec<Option<&[u8]>> = have.iter().map(|b| b.as_deref()).collect();
            codec.decode(SegmentIndex(index), &fragments, &hashes)
        })
        .await
        .map_err(|e| ClientError::BadAnswer {
            what: "decode",
            reason: e.to_string(),
        })?
        .map_err(ClientError::from)
    }
}

/// The object's record must agree with its sealed metadata.
pub(crate) fn check_redundancy(
    sources: &ObjectSources,
    redundancy: Redundancy,
) -> ClientResult<()> {
    match RedundancyPolicy::from_str(&sources.redundancy) {
        Ok(RedundancyPolicy::Fixed(r)) if r == redundancy => Ok(()),
        _ => Err(ClientError::BadAnswer {
            what: "object",
            reason: format!(
                "its redundancy {} is not the {redundancy} it was stored with",
                sources.redundancy
            ),
        }),
    }
}

/// The pieces worth trying, best first: only those whose hash is the one the sealed
/// metadata records for their fragment; online peers first, then peers that may still
/// answer; data fragments before parity (cheaper to decode); ties shuffled to spread load.
pub(crate) fn candidates(
    sources: &SegmentSources,
    hashes: &[cairn_core::PieceHash],
    redundancy: Redundancy,
) -> Vec<GetTarget> {
    let mut pieces: Vec<GetTarget> = sources
        .pieces
        .iter()
        .filter(|p| hashes.get(usize::from(p.fragment)) == Some(&p.hash))
        .cloned()
        .collect();
    pieces.shuffle(&mut rand::rng());
    let rank = |state: PeerState| match state {
        PeerState::Online => 0,
        PeerState::Suspect | PeerState::Draining => 1,
        PeerState::Offline => 2,
        _ => 3,
    };
    let k = redundancy.k();
    pieces.sort_by_key(|p| (rank(p.state), p.fragment >= k));
    pieces
}

impl Transfers {
    /// Downloads `file` whole to `target`: it appears whole or not at all (small files land
    /// with `lander` when given, a group per sync).
    pub(crate) async fn download_to_file(
        &self,
        file: &Readable,
        target: &Path,
        lander: Option<&Lander>,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial = dir.join(format!(".{name}.cairn-partial-{}", rand::random::<u32>()));
        if file.metadata.layout.size() <= SMALL_FILE {
            // Fetched whole, then written, synced and renamed in one trip to a blocking
            // thread (each `tokio::fs` call is a trip of its own).
            let mut bytes = Vec::new();
            let written = self
                .download(file, 0..u64::MAX, &mut bytes, progress)
                .await?;
            if let Some(lander) = lander {
                lander.land(partial, target.to_owned(), bytes).await?;
                return Ok(written);
            }
            let path = target.to_owned();
            return tokio::task::spawn_blocking(move || {
                let result = write_whole(&partial, &path, &bytes);
                if result.is_err() {
                    let _ = std::fs::remove_file(&partial);
                }
                result.map(|()| written)
            })
            .await
            .map_err(|e| ClientError::Local {
                path: target.to_owned(),
                reason: format!("writing stopped unexpectedly: {e}"),
            })?;
        }
        // The partial file of this version, which a get that stopped may have left.
        let object = file.object.to_string();
        let stem = format!(".{name}.cairn-partial-");
        let partial = dir.join(format!("{stem}v{}", &object[..16]));
        let sums = dir.join(format!("{stem}v{}.sums", &object[..16]));
        let layout = file.metadata.layout;
        let kept = {
            let (dir, partial, sums) = (dir.clone(), partial.clone(), sums.clone());
            tokio::task::spawn_blocking(move || {
                forget_other_versions(&dir, &stem, &partial, &sums);
                keep_verified(&partial, &sums, layout)
            })
            .await
            .map_err(|e| ClientError::Local {
                path: target.to_owned(),
                reason: format!("checking a partial download stopped: {e}"),
            })??
        };
        let result = progress
            .until_cancelled(self.download_rest(file, kept, &partial, &sums, progress))
            .await;
        let result = match result {
            Ok(written) => tokio::fs::rename(&partial, target)
                .await
                .map_err(ClientError::io(target))
                .map(|()| written),
            Err(e) => Err(e),
        };
        match &result {
            // Kept for the next get, which continues from it.
            Err(e) if resumable(e) => {}
            _ => {
                let _ = tokio::fs::remove_file(&partial).await;
                let _ = tokio::fs::remove_file(&sums).await;
            }
        }
        result
    }

    /// Fetches `file`'s segments after those `kept` already holds into `partial`, appending
    /// each one's hash to `sums`; checks the whole file's content hash and syncs it.
    async fn download_rest(
        &self,
        file: &Readable,
        kept: Kept,
        partial: &Path,
        sums: &Path,
        progress: &Progress,
    ) -> ClientResult<u64> {
        let layout = file.metadata.layout;
        let codec = file.codec()?;
        let append = |path: &Path| {
            let path = path.to_owned();
            async move {
                tokio::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .await
                    .map_err(ClientError::io(&path))
            }
        };
        let (mut out, mut sums_out) = (append(partial).await?, append(sums).await?);
        progress.set_total(layout.size());
        progress.advance(kept.bytes);
        let mut hasher = kept.hasher;
        let mut plaintexts = stream::iter(kept.segments..layout.count())
            .map(|index| {
                let codec = codec.clone();
                async move { self.fetch_segment(file, &codec, index).await }
            })
            .buffered(SEGMENTS_IN_FLIGHT);
        while let Some(plaintext) = plaintexts.try_next().await? {
            hasher.update(&plaintext);
            out.write_all(&plaintext)
                .await
                .map_err(ClientError::io(partial))?;
            sums_out
                .write_all(blake3::hash(&plaintext).as_bytes())
                .await
                .map_err(ClientError::io(sums))?;
            progress.advance(plaintext.len() as u64);
        }
        if *hasher.finalize().as_bytes() != *file.metadata.content_hash.as_bytes() {
            return Err(ClientError::ContentMismatch(file.path.clone()));
        }
        out.sync_all().await.map_err(ClientError::io(partial))?;
        Ok(layout.size())
    }
}

/// Whether a failed get's partial file is worth keeping for the next: not when the caller
/// cancelled it or the bytes proved wrong.
fn resumable(error: &ClientError) -> bool {
    !matches!(
        error,
        ClientError::Cancelled | ClientError::ContentMismatch(_) | ClientError::Segment(_)
    )
}

/// What a partial file holds that is still good: its first `segments` whole segments,
/// `bytes` long, hashed into `hasher`.
struct Kept {
    segments: u32,
    bytes: u64,
    hasher: blake3::Hasher,
}

/// Keeps the leading segments of `partial` whose bytes hash as `sums` records (each
/// segment's BLAKE3, in order) and cuts both files after them; nothing if there is none.
fn keep_verified(partial: &Path, sums: &Path, layout: SegmentLayout) -> ClientResult<Kept> {
    use std::io::Read;
    let mut kept = Kept {
        segments: 0,
        bytes: 0,
        hasher: blake3::Hasher::new(),
    };
    let (Ok(recorded), Ok(data)) = (std::fs::read(sums), std::fs::File::open(partial)) else {
        let _ = std::fs::remove_file(partial);
        let _ = std::fs::remove_file(sums);
        return Ok(kept);
    };
    let mut data = std::io::BufReader::with_capacity(1 << 20, data);
    let mut buf = Vec::new();
    for sum in recorded.chunks_exact(32).take(layout.count() as usize) {
        let len = layout.plaintext_len(SegmentIndex(kept.segments));
        buf.clear();
        let read = (&mut data)
            .take(len as u64)
            .read_to_end(&mut buf)
            .map_err(ClientError::io(partial))?;
        if read != len || blake3::hash(&buf).as_bytes() != sum {
            break;
        }
        kept.hasher.update(&buf);
        kept.segments += 1;
        kept.bytes += len as u64;
    }
    let cut = |path: &Path, len: u64| -> ClientResult<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(len))
            .map_err(ClientError::io(path))
    };
    cut(partial, kept.bytes)?;
    cut(sums, u64::from(kept.segments) * 32)?;
    Ok(kept)
}

/// Removes partial files an earlier get of another version of the same file left in `dir`.
fn forget_other_versions(dir: &Path, stem: &str, partial: &Path, sums: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path == partial || path == sums;
        if !ours && entry.file_name().to_string_lossy().starts_with(stem) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Files up to this size are fetched into memory and written in one go.
const SMALL_FILE: u64 = 1 << 20;

/// Writes `bytes` to `partial`, syncs it and renames it to `target`.
fn write_whole(partial: &Path, target: &Path, bytes: &[u8]) -> ClientResult<()> {
    use std::io::Write;
    let mut out = std::fs::File::create(partial).map_err(ClientError::io(partial))?;
    out.write_all(bytes).map_err(ClientError::io(partial))?;
    out.sync_all().map_err(ClientError::io(partial))?;
    drop(out);
    std::fs::rename(partial, target).map_err(ClientError::io(target))
}
