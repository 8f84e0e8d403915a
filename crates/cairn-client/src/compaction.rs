//! Keeping the account's ledger short: once it holds more than [`COMPACT_ABOVE`] entries,
//! a client reads them all (through the pool, which knows them as objects), folds them
//! into one snapshot entry that covers them, writes that, and deletes what it covers. A
//! recovery then reads one snapshot and the few entries written since, so its time is
//! bounded by the account's size, not its history. A client that stops between writing
//! the snapshot and deleting what it covers leaves entries the snapshot already stands in
//! for; the next compaction deletes them.

use std::collections::BTreeSet;

use cairn_core::ObjectId;
use cairn_core::ledger::{self, FRAGMENTS, LedgerEntry, LedgerOp};
use cairn_proto::api::{LEDGER_FOLDER, ObjectSources};
use futures_util::stream::{self, StreamExt};

use crate::error::{ClientError, ClientResult};
use crate::ledger::Ledger;
use crate::transfer::Transfers;

/// Entries a ledger may hold before a compaction folds them into a snapshot.
pub(crate) const COMPACT_ABOVE: u32 = 64;

/// Ledger entries read at once.
const READS_AT_ONCE: usize = 8;

impl Ledger {
    /// [`Self::compact_if_long`], waiting for this drive's ledger writes to finish first.
    pub(crate) async fn compact(&self, transfers: &Transfers) -> ClientResult<Option<usize>> {
        let _writing = self.writing().await;
        self.compact_if_long(transfers).await
    }

    /// Folds the ledger into a snapshot if it holds more than [`COMPACT_ABOVE`] entries;
    /// returns how many entries the snapshot covers (`None` if none was needed). The
    /// caller holds the write lock, so this drive writes nothing meanwhile.
    pub(crate) async fn compact_if_long(
        &self,
        transfers: &Transfers,
    ) -> ClientResult<Option<usize>> {
        let prefix = format!("{LEDGER_FOLDER}/");
        let first = (transfers.pool())
            .list_page(&prefix, None, Some(COMPACT_ABOVE + 1))
            .await?;
        if first.objects.len() <= COMPACT_ABOVE as usize {
            return Ok(None);
        }
        let mut paths: Vec<String> = first.objects.into_iter().map(|o| o.path).collect();
        let mut after = first.next;
        while let Some(from) = after {
            let page = transfers
                .pool()
                .list_page(&prefix, Some(&from), None)
                .await?;
            paths.extend(page.objects.into_iter().map(|o| o.path));
            after = page.next;
        }
        let read: Vec<ClientResult<Option<LedgerEntry>>> = stream::iter(paths)
            .map(|path| async move { self.read_entry(transfers, &path).await })
            .buffer_unordered(READS_AT_ONCE)
            .collect()
            .await;
        let mut entries = Vec::with_capacity(read.len());
        for entry in read {
            // An entry that cannot be read now stays as it is: the snapshot does not cover
            // it, and a recovery reads it on its own.
            if let Some(entry) = entry? {
                entries.push(entry);
            }
        }
        let covered: Vec<ObjectId> = entries.iter().map(|e| e.object).collect();
        let folded = ledger::fold(entries);
        let ops = folded
            .records
            .into_iter()
            .map(|(path, record)| LedgerOp::Put {
                object: record.object,
                path,
                size: record.size,
                metadata: record.metadata,
            })
            .collect();
        let snapshot = LedgerEntry {
            object: ObjectId::random(&mut rand::rng()),
            written_ms: cairn_proto::clock::now_ms(),
            covers: Some(covered.clone()),
            ops,
        };
        if !self.write_entry(transfers, &snapshot).await? {
            return Ok(None);
        }
        let gone: BTreeSet<ObjectId> = covered.iter().copied().collect();
        stream::iter(gone)
            .map(|object| async move {
                let path = crate::ledger::entry_path(object);
                if let Err(e) = transfers.pool().delete(&path).await {
                    tracing::warn!("a ledger entry the snapshot covers stays for now: {e}");
                }
            })
            .buffer_unordered(READS_AT_ONCE)
            .collect::<Vec<()>>()
            .await;
        tracing::info!(
            entries = covered.len(),
            "the account's ledger was folded into a snapshot"
        );
        Ok(Some(covered.len()))
    }

    /// Reads the ledger entry kept at `path` through the pool; `None` if it is gone or
    /// cannot be read now.
    pub(crate) async fn read_entry(
        &self,
        transfers: &Transfers,
        path: &str,
    ) -> ClientResult<Option<LedgerEntry>> {
        let Some(sources) = transfers.pool().object(path).await? else {
            return Ok(None);
        };
        let Some(pieces) = fetch_fragments(transfers, &sources).await else {
            tracing::warn!("a ledger entry cannot be read now (its peers are offline)");
            return Ok(None);
        };
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        match LedgerEntry::open(self.key(), &refs) {
            Ok(entry) => Ok(Some(entry)),
            Err(e) => Err(ClientError::Ledger(e)),
        }
    }
}

/// One copy of every fragment of a ledger object, each from the first holder that serves
/// it.
async fn fetch_fragments(transfers: &Transfers, sources: &ObjectSources) -> Option<Vec<Vec<u8>>> {
    let segment = sources.segments.first()?;
    let mut out = Vec::with_capacity(usize::from(FRAGMENTS));
    for fragment in 0..u16::from(FRAGMENTS) {
        let mut got = None;
        for target in segment.pieces.iter().filter(|p| p.fragment == fragment) {
            let read = transfers
                .peers()
                .get(
                    target.peer,
                    &target.address,
                    &target.order,
                    target.hash,
                    segment.piece_size,
                )
                .await;
            if let Ok(bytes) = read {
                got = Some(bytes.to_vec());
                break;
            }
        }
        out.push(got?);
    }
    Some(out)
}
