//! Giving the pool back what it forgot, from the account's ledger on the peers (see
//! `ledger.rs` and `cairn_core::ledger`): after the pool lost its disk, or was restored
//! from an older copy of it, the client finds its ledger pieces by locator among what the
//! peers hold, opens and replays them, and brings the pool's records in line — records it
//! lacks are imported onto the peers that hold their pieces, objects the ledger saw moved
//! are moved, objects it saw replaced or deleted are deleted. What the pool has that the
//! ledger never saw is left alone. Everything it needs comes from the recovery phrase.

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_core::ledger::{self, LedgerEntry, LedgerOp, LedgerRecord, PieceHead};
use cairn_core::{ErasureCodec, ObjectId, PieceHash, SegmentIndex};
use cairn_proto::api::{
    ImportObject, ImportSegment, LEDGER_FOLDER, LedgerSource, MAX_IMPORT, ObjectEntry,
};
use data_encoding::BASE64URL_NOPAD;
use futures_util::stream::{self, StreamExt};

use crate::drive::Drive;
use crate::entry::{self, Entry};
use crate::error::{ClientError, ClientResult};
use crate::ledger::entry_path;

/// Ledger pieces fetched at once.
const FETCHES_AT_ONCE: usize = 16;

/// What a recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Ledger entries read.
    pub entries: usize,
    /// Ledger entries found incomplete or unreadable (their other pieces are on peers not
    /// online now).
    pub unreadable: usize,
    /// Objects the ledger says the account has (files and folder markers).
    pub objects: usize,
    /// Records given back to the pool.
    pub given_back: usize,
    /// Objects the pool had at an old path, moved where the ledger says.
    pub moved: usize,
    /// Objects the pool still had that the ledger saw replaced or deleted.
    pub removed: usize,
    /// Objects the pool has at a path the ledger gives another: left as the pool has them.
    pub kept: usize,
    /// Pieces of given-back records no online peer holds yet (placed when one comes back).
    pub awaited: u64,
    /// Ledger pieces the peers reported holding that none of them served.
    pub unfetched: usize,
}

/// A ledger piece fetched: its head, where it was found, its bytes.
type Fetched = (PieceHead, LedgerSource, Vec<u8>);

/// A ledger entry read, with where its pieces are.
struct Read {
    entry: LedgerEntry,
    hashes: Vec<PieceHash>,
    piece_len: u64,
    copies: usize,
}

impl Drive {
    /// Brings the pool's records in line with the account's ledger (see the module
    /// documentation).
    pub async fn recover(&self) -> ClientResult<Recovered> {
        let mut report = Recovered::default();
        // The ledger entries the pool knows as objects (all of them, on a pool that forgot
        // nothing)...
        let mut known_entries: HashSet<String> = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = (self.pool())
                .list_page(&format!("{LEDGER_FOLDER}/"), after.as_deref(), None)
                .await?;
            known_entries.extend(page.objects.into_iter().map(|o| o.path));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // ...and those the peers said they hold (all of them, on a pool that forgot
        // everything): a recovery works from the whole ledger, never a part of it.
        let (reads, partial, unfetched) = self.read_ledger().await?;
        report.unfetched = unfetched;
        let found: HashSet<String> = reads.iter().map(|r| entry_path(r.entry.object)).collect();
        let mut entries: Vec<LedgerEntry> = reads.iter().map(|r| r.entry.clone()).collect();
        for path in known_entries.iter().filter(|p| !found.contains(*p)) {
            match self.ledger.read_entry(&self.transfers, path).await? {
                Some(entry) => entries.push(entry),
                None => report.unreadable += 1,
            }
        }
        // An entry found only in part counts as unreadable unless a snapshot covers it
        // (a folded entry whose pieces were not all deleted yet when the pool was lost).
        let covered: HashSet<ObjectId> = (entries.iter())
            .flat_map(|e| e.covers.iter().flatten().copied())
            .collect();
        let unreadable: Vec<&ObjectId> =
            partial.iter().filter(|id| !covered.contains(id)).collect();
        if !unreadable.is_empty() {
            tracing::warn!(
                entries = unreadable.len(),
                "ledger entries were found only in part (the peers holding the rest are not online)"
            );
        }
        report.unreadable += unreadable.len();
        // This device's memory of its last entry may name one a snapshot has folded:
        // the newest entry stands in for it.
        if let Some(newest) = entries.iter().max_by_key(|e| (e.written_ms, e.object)) {
            self.ledger.remember(newest.object);
        }
        report.entries = entries.len();
        // Changes this device made that are not in the ledger yet are the newest of all.
        let waiting = self.ledger.waiting();
        if !waiting.is_empty() {
            entries.push(LedgerEntry {
                object: ObjectId::random(&mut rand::rng()),
                written_ms: u64::MAX,
                covers: None,
                ops: waiting,
            });
        }
        let folded = ledger::fold(entries);
        report.objects = folded.records.len();

        // The pool's records as they are.
        let at_pool = self.objects_under("").await?;
        let mut pool_paths: HashMap<String, Option<ObjectId>> = HashMap::new();
        let mut pool_ids: HashMap<ObjectId, String> = HashMap::new();
        for ObjectEntry { path, metadata, .. } in at_pool {
            let id = entry::object_of(&metadata);
            if let Some(id) = id {
                pool_ids.insert(id, path.clone());
            }
            pool_paths.insert(path, id);
        }

        let mut imports = Vec::new();
        for (path, record) in &folded.records {
            let marker = is_marker(record);
            match pool_paths.get(path) {
                Some(id) if *id == Some(record.object) || (marker && id.is_none()) => {}
                Some(Some(old)) if folded.gone.contains(old) => {
                    self.pool().delete(path).await?;
                    report.removed += 1;
                    imports.push(self.import_of(path, record)?);
                }
                Some(_) => report.kept += 1,
                None => match pool_ids.get(&record.object) {
                    Some(old) if !folded.records.contains_key(old) => {
                        self.pool().rename(old, path).await?;
                        report.moved += 1;
                    }
                    _ => imports.push(self.import_of(path, record)?),
                },
            }
        }
        for (path, id) in &pool_paths {
            if let Some(id) = id
                && folded.gone.contains(id)
                && !folded.records.contains_key(path)
            {
                self.pool().delete(path).await?;
                report.removed += 1;
            }
        }
        // The ledger's own entries, so the pool keeps them repaired.
        for read in &reads {
            if !known_entries.contains(&entry_path(read.entry.object)) {
                imports.push(ledger_import(read));
            }
        }
        for chunk in imports.chunks(MAX_IMPORT) {
            let answer = self.pool().import(chunk.to_vec()).await?;
            for (object, outcome) in chunk.iter().zip(&answer.objects) {
                if outcome.state == "imported" && !object.path.starts_with(LEDGER_FOLDER) {
                    report.given_back += 1;
                }
                report.awaited += outcome.awaited;
            }
        }
        Ok(report)
    }

    /// Folds the account's ledger into one snapshot if it has grown past 64 entries (a
    /// ledger write also does this now and then); returns how many entries were folded.
    pub async fn fold_ledger(&self) -> ClientResult<Option<usize>> {
        self.ledger.compact(&self.transfers).await
    }

    /// Recovers if the pool has forgotten the last ledger entry this device wrote, or its
    /// index is not the one this device saw before (its disk was lost, or it was restored
    /// from an older copy; `None` if neither), then writes to the ledger any change an
    /// earlier process kept for later, or made at the pool and was killed before writing
    /// (`intents.rs`).
    pub async fn catch_up(&self) -> ClientResult<Option<Recovered>> {
        let last = self.ledger.last();
        let known = async {
            match last {
                Some(last) => self
                    .pool()
                    .record(&entry_path(last))
                    .await
                    .map(|r| r.is_some()),
                None => Ok(true),
            }
        };
        let (info, known) = tokio::join!(self.pool().info(), known);
        let remade = info?
            .index
            .is_some_and(|index| self.ledger.saw_index(&index.id));
        let forgot = remade || !known?;
        // Changes an earlier process journaled and did not see into the ledger: those the
        // pool took go to the ledger now. A pool that forgot cannot say which it took; the
        // journal is written only once a change's pieces are stored, so all of them go.
        let left = self.intents().left();
        let taken = if forgot {
            left
        } else {
            self.taken_by_pool(left).await?
        };
        // Journaled again as this process's own, before the old journals go.
        let intent = self.intents().intend(&taken).await;
        self.ledger.enqueue(taken, Some(intent));
        self.intents().forget_left();
        let recovered = if forgot {
            tracing::warn!(
                "the pool no longer knows this device's changes: giving it back its records from the ledger on the peers"
            );
            Some(self.recover().await?)
        } else {
            None
        };
        // Changes an earlier process could not copy to the peers go now (after the check,
        // so that writing them cannot hide a pool that forgot).
        if let Err(e) = self.ledger.record(&self.transfers, Vec::new(), None).await {
            tracing::warn!("{e}");
        }
        Ok(recovered)
    }

    /// Of changes an earlier process journaled, those the pool shows it made: the object
    /// put is there, what was moved or deleted is gone.
    async fn taken_by_pool(&self, left: Vec<LedgerOp>) -> ClientResult<Vec<LedgerOp>> {
        let asked: Vec<ClientResult<Option<LedgerOp>>> = stream::iter(left)
            .map(|op| async move {
                let made = match &op {
                    LedgerOp::Put { path, metadata, .. } => {
                        self.pool().record(path).await?.is_some_and(|record| {
                            BASE64URL_NOPAD.decode(record.metadata.as_bytes()).ok()
                                == Some(metadata.clone())
                        })
                    }
                    LedgerOp::Rename { from: gone, .. } | LedgerOp::Delete { path: gone } => {
                        if gone.ends_with('/') {
                            (self.pool().list_page(gone, None, Some(1)).await?)
                                .objects
                                .is_empty()
                        } else {
                            self.pool().record(gone).await?.is_none()
                        }
                    }
                };
                Ok(made.then_some(op))
            })
            // In order: the ledger takes them as they were made.
            .buffered(FETCHES_AT_ONCE)
            .collect()
            .await;
        asked.into_iter().filter_map(Result::transpose).collect()
    }

    /// Finds, fetches and opens every ledger piece the peers hold under this account's
    /// locator.
    /// Also answers the entries found only in part (their object ids), and how many pieces
    /// reported held were not served.
    async fn read_ledger(&self) -> ClientResult<(Vec<Read>, Vec<ObjectId>, usize)> {
        let locator = self.ledger.locator().to_string();
        let mut found: Vec<LedgerSource> = Vec::new();
        let mut after = None;
        loop {
            let page = self.pool().find_ledger(&locator, after).await?;
            after = page.pieces.last().map(|p| p.hash);
            found.extend(page.pieces);
            if !page.more || after.is_none() {
                break;
            }
        }
        let fetched: Vec<Option<(LedgerSource, Vec<u8>)>> = stream::iter(found)
            .map(|source| async move {
                let bytes = self.fetch(&source).await?;
                Some((source, bytes))
            })
            .buffer_unordered(FETCHES_AT_ONCE)
            .collect()
            .await;
        let mut by_entry: BTreeMap<[u8; 16], Vec<Fetched>> = BTreeMap::new();
        let mut missing = 0;
        for item in fetched {
            let Some((source, bytes)) = item else {
                missing += 1;
                continue;
            };
            match PieceHead::parse(&bytes) {
                Some(head) => by_entry
                    .entry(head.tag)
                    .or_default()
                    .push((head, source, bytes)),
                None => missing += 1,
            }
        }
        let mut reads = Vec::new();
        let mut failed = Vec::new();
        for (_, mut pieces) in by_entry {
            pieces.sort_by_key(|(head, ..)| head.index);
            pieces.dedup_by_key(|(head, ..)| head.index);
            let refs: Vec<&[u8]> = pieces.iter().map(|(_, _, b)| b.as_slice()).collect();
            match LedgerEntry::open(self.ledger.key(), &refs) {
                Ok(entry) => reads.push(Read {
                    entry,
                    hashes: pieces.iter().map(|(_, s, _)| s.hash).collect(),
                    piece_len: pieces.first().map_or(0, |(_, s, _)| s.size),
                    copies: pieces
                        .iter()
                        .map(|(_, s, _)| s.holders.len())
                        .min()
                        .unwrap_or(0),
                }),
                Err(e) => {
                    tracing::debug!("a ledger entry cannot be read: {e}");
                    let tag = pieces.first().map(|(head, ..)| head.tag);
                    failed.extend(tag.map(ObjectId::from_bytes));
                }
            }
        }
        if missing > 0 {
            tracing::warn!(
                missing,
                "ledger pieces could not be fetched (their peers are not online)"
            );
        }
        Ok((reads, failed, missing))
    }

    /// One ledger piece from the first holder that serves it.
    async fn fetch(&self, source: &LedgerSource) -> Option<Vec<u8>> {
        for holder in &source.holders {
            let got = self
                .transfers
                .peers()
                .get(
                    holder.peer,
                    &holder.address,
                    &holder.order,
                    source.hash,
                    source.size,
                )
                .await;
            match got {
                Ok(bytes) => return Some(bytes.to_vec()),
                Err(e) => tracing::debug!(peer = %holder.peer, "ledger piece not fetched: {e}"),
            }
        }
        None
    }

    /// The import of the object the ledger records at `path`.
    fn import_of(&self, path: &str, record: &LedgerRecord) -> ClientResult<ImportObject> {
        let text = BASE64URL_NOPAD.encode(&record.metadata);
        if is_marker(record) {
            return Ok(ImportObject {
                object: record.object,
                path: path.to_owned(),
                redundancy: entry::FOLDER_REDUNDANCY.to_owned(),
                size: 0,
                metadata: text,
                segments: Vec::new(),
            });
        }
        let Entry::File { object, metadata } = entry::open(self.transfers.metadata_key(), &text)?
        else {
            return Err(ClientError::BadAnswer {
                what: "a ledger record",
                reason: format!("the record at {path} is neither a file nor a folder"),
            });
        };
        if object != record.object {
            return Err(ClientError::BadAnswer {
                what: "a ledger record",
                reason: format!("the record at {path} names another object"),
            });
        }
        let redundancy = metadata.redundancy;
        let codec = ErasureCodec::new(usize::from(redundancy.k()), usize::from(redundancy.m()))
            .map_err(|e| ClientError::BadAnswer {
                what: "a ledger record",
                reason: e.to_string(),
            })?;
        let segments = metadata
            .segments
            .iter()
            .enumerate()
            .map(|(index, segment)| {
                let index = index as u32;
                ImportSegment {
                    index,
                    piece_size: codec
                        .fragment_len(metadata.layout.ciphertext_len(SegmentIndex(index)))
                        as u64,
                    fragments: segment.fragments.clone(),
                }
            })
            .collect();
        Ok(ImportObject {
            object,
            path: path.to_owned(),
            redundancy: redundancy.to_string(),
            size: record.size,
            metadata: text,
            segments,
        })
    }
}

/// Whether a ledger record is a folder marker's.
fn is_marker(record: &LedgerRecord) -> bool {
    BASE64URL_NOPAD.encode(&record.metadata) == entry::seal_folder()
}

/// The import of a ledger entry's own object.
fn ledger_import(read: &Read) -> ImportObject {
    let copies: u64 = if read.copies >= 3 { 3 } else { 2 };
    ImportObject {
        object: read.entry.object,
        path: entry_path(read.entry.object),
        redundancy: format!("rep:2x{copies}"),
        size: read.piece_len * read.hashes.len() as u64 * copies,
        metadata: crate::ledger::ledger_metadata(),
        segments: vec![ImportSegment {
            index: 0,
            piece_size: read.piece_len,
            fragments: read.hashes.clone(),
        }],
    }
}
