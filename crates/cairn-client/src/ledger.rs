//! Writing the account's ledger (`cairn_core::ledger`): every change this client makes at
//! the pool — a put, a folder, a rename, a delete — is also written to the peers, sealed
//! under the account's ledger key, before the call that made it returns. Changes that
//! arrive while a write is out go together in the next one, so a folder of small files
//! costs a ledger write per batch, not per file.
//!
//! A ledger entry is stored as an ordinary object at `ledger/<object id>` under `rep:2x3`
//! (or `rep:2x2` on a network of four or five peers), so the pool repairs it as any other;
//! on a network too small for that the change waits, journaled in the home
//! (`intents.rs`), and is written with a later one, and a warning says the account's
//! records are not yet copied to the peers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_core::ledger::{LedgerEntry, LedgerOp, Locator};
use cairn_core::{LedgerKey, ObjectId, Redundancy};
use cairn_proto::api::LEDGER_FOLDER;
use cairn_proto::codes;

use crate::error::{ClientError, ClientResult};
use crate::intents::{Intent, Intents};
use crate::transfer::Transfers;

/// Changes written per ledger entry at most, so an entry stays a few MiB.
const OPS_PER_ENTRY: usize = 4096;

/// Changes kept in memory for a later write at most (on a network too small for a
/// ledger); past this the oldest wait in the home's journal only, for a later process.
const KEPT_AT_MOST: usize = 100_000;

/// One ledger write in this many also checks whether the ledger should be folded.
const COMPACT_CHECK: u32 = 16;

/// How long a network found too small for a ledger is left before another try.
const TOO_SMALL_FOR: Duration = Duration::from_secs(60);

/// The home file naming the last ledger entry this device wrote (see [`Ledger::last`]).
const LEDGER_HEAD: &str = "ledger-head";

/// The home file naming the identity of the pool's index of records this device last saw.
const POOL_INDEX: &str = "pool-index";

/// Packs a sealed entry's pieces as the home keeps them: each piece length-prefixed.
pub(crate) fn pack(pieces: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for piece in pieces {
        bytes.extend_from_slice(&(piece.len() as u32).to_be_bytes());
        bytes.extend_from_slice(piece);
    }
    bytes
}

/// Reads an entry packed by [`pack`] (a journal record).
pub(crate) fn unpack(key: &LedgerKey, mut bytes: &[u8]) -> Option<LedgerEntry> {
    let mut pieces = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        pieces.push(rest.get(..len)?);
        bytes = rest.get(len..)?;
    }
    LedgerEntry::open(key, &pieces).ok()
}

/// The encrypted path of the ledger entry kept as object `object`.
pub(crate) fn entry_path(object: ObjectId) -> String {
    format!("{LEDGER_FOLDER}/{object}")
}

/// Whether an encrypted path (or folder prefix) is the ledger's, or what the pool keeps
/// for shares after its owner removed it: no listing shows them.
pub(crate) fn is_hidden(path: &str) -> bool {
    [LEDGER_FOLDER, cairn_proto::api::KEPT_FOLDER]
        .iter()
        .any(|folder| {
            path.strip_prefix(folder)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// The pool metadata of a ledger object: nothing a reader needs (the entry is sealed in
/// its pieces), only a mark that it is one.
pub(crate) fn ledger_metadata() -> String {
    crate::entry::seal_ledger()
}

/// Redundancies a ledger entry is stored under, widest first.
fn shapes() -> [Redundancy; 2] {
    // Both are valid by construction (2 data fragments, 3 or 2 copies).
    [
        Redundancy::rep(2, 3).unwrap_or_else(|_| unreachable!("rep:2x3 is valid")),
        Redundancy::rep(2, 2).unwrap_or_else(|_| unreachable!("rep:2x2 is valid")),
    ]
}

/// The ledger writer of one drive.
pub(crate) struct Ledger {
    key: LedgerKey,
    /// Changes not yet written, numbered in the order they were made.
    queue: Mutex<Queue>,
    /// Held while an entry is written: one write at a time, carrying whatever waits.
    writing: tokio::sync::Mutex<()>,
    /// Which of [`shapes`] the next write tries first (past those that lacked peers).
    shape: Mutex<usize>,
    /// Where the last entry written is remembered (a home), if anywhere.
    head_file: Option<PathBuf>,
    /// Where changes not yet written are journaled between processes.
    intents: Arc<Intents>,
    /// Where the identity of the pool's index last seen is kept (a home), if anywhere.
    index_file: Option<PathBuf>,
    /// The identity of the pool's index last seen.
    index: Mutex<Option<String>>,
    /// The last entry this drive wrote.
    last: Mutex<Option<ObjectId>>,
    /// Whether "too small" was already said.
    warned: std::sync::atomic::AtomicBool,
    /// Until when the network is taken to be too small (no write is tried before).
    too_small_until: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Queue {
    ops: Vec<(u64, LedgerOp)>,
    next: u64,
    /// The journal's intents of changes queued, each with the number of its last change:
    /// settled once that change is written.
    intents: Vec<(u64, Intent)>,
}

impl Ledger {
    /// The ledger under `key`, journaling in `intents`; with a `home`, its memory (the
    /// last entry written, the pool's index seen) is kept there between processes.
    pub(crate) fn new(key: LedgerKey, home: Option<&Path>, intents: Arc<Intents>) -> Self {
        let head_file = home.map(|h| h.join(LEDGER_HEAD));
        let index_file = home.map(|h| h.join(POOL_INDEX));
        let index = index_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        let last = head_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|text| text.trim().parse().ok());
        Self {
            key,
            queue: Mutex::new(Queue::default()),
            intents,
            index_file,
            index: Mutex::new(index),
            writing: tokio::sync::Mutex::new(()),
            shape: Mutex::new(0),
            head_file,
            last: Mutex::new(last),
            warned: std::sync::atomic::AtomicBool::new(false),
            too_small_until: Mutex::new(None),
        }
    }

    /// The key the ledger is sealed under.
    pub(crate) fn key(&self) -> &LedgerKey {
        &self.key
    }

    /// The locator the ledger's pieces start with.
    pub(crate) fn locator(&self) -> Locator {
        Locator::of(&self.key)
    }

    /// The changes waiting to be written, oldest first.
    pub(crate) fn waiting(&self) -> Vec<LedgerOp> {
        self.lock_queue()
            .ops
            .iter()
            .map(|(_, op)| op.clone())
            .collect()
    }

    /// Notes the identity of the pool's index now; answers whether it differs from the one
    /// seen before (the pool's store was made anew since). The first one seen is only noted.
    pub(crate) fn saw_index(&self, id: &str) -> bool {
        let mut seen = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = seen.as_deref().is_some_and(|before| before != id);
        if seen.as_deref() != Some(id) {
            *seen = Some(id.to_owned());
            if let Some(file) = &self.index_file
                && let Some(dir) = file.parent()
                && let Err(e) = cairn_node::write_private_file(dir, file, id.as_bytes())
            {
                tracing::warn!(
                    "cannot remember the pool's index in {}: {e}",
                    file.display()
                );
            }
        }
        changed
    }

    /// Waits until no entry is being written; none starts while the guard is held.
    pub(crate) async fn writing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writing.lock().await
    }

    /// The last entry this device wrote, if it remembers one.
    pub(crate) fn last(&self) -> Option<ObjectId> {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `ops` to the changes waiting, for the next write (or a recovery) to take;
    /// `intent` (their journal record) is settled once they are written.
    pub(crate) fn enqueue(&self, ops: Vec<LedgerOp>, intent: Option<Intent>) -> u64 {
        if ops.is_empty() {
            // Nothing to write: nothing of it is outstanding.
            if let Some(intent) = intent {
                self.intents.settle(intent);
            }
            return self.lock_queue().next;
        }
        let mut queue = self.lock_queue();
        for op in ops {
            queue.next += 1;
            let seq = queue.next;
            queue.ops.push((seq, op));
        }
        let last = queue.next;
        if let Some(intent) = intent {
            queue.intents.push((last, intent));
        }
        last
    }

    /// Writes `ops` (with whatever else waits) to the peers, settling `intent` once they
    /// are there; returns once they are, or, on a network too small for a ledger, once
    /// they wait (journaled) for a later write.
    pub(crate) async fn record(
        &self,
        transfers: &Transfers,
        ops: Vec<LedgerOp>,
        intent: Option<Intent>,
    ) -> ClientResult<()> {
        let mine = self.enqueue(ops, intent);
        let _writing = self.writing.lock().await;
        loop {
            let batch: Vec<(u64, LedgerOp)> = {
                let mut queue = self.lock_queue();
                if !queue.ops.iter().any(|(seq, _)| *seq <= mine) {
                    // Written (by this call, or by the call that held the lock before).
                    return Ok(());
                }
                let take = queue.ops.len().min(OPS_PER_ENTRY);
                queue.ops.drain(..take).collect()
            };
            let upto = batch.last().map_or(0, |(seq, _)| *seq);
            match self.write(transfers, &batch).await {
                Ok(true) => self.settle_upto(upto),
                Ok(false) => {
                    // Too few peers: the changes wait for a later write.
                    self.put_back(batch);
                    return Ok(());
                }
                Err(e) => {
                    self.put_back(batch);
                    return Err(ClientError::LedgerNotWritten(e.to_string()));
                }
            }
        }
    }

    /// Settles the journal's intents of every change up to `upto`, now written.
    fn settle_upto(&self, upto: u64) {
        let written: Vec<Intent> = {
            let mut queue = self.lock_queue();
            let (done, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut queue.intents)
                .into_iter()
                .partition(|(last, _)| *last <= upto);
            queue.intents = rest;
            done.into_iter().map(|(_, intent)| intent).collect()
        };
        for intent in written {
            self.intents.settle(intent);
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn put_back(&self, mut batch: Vec<(u64, LedgerOp)>) {
        let mut queue = self.lock_queue();
        batch.append(&mut queue.ops);
        if batch.len() > KEPT_AT_MOST {
            // Their intents stay unsettled: the next process finds them in the journal.
            let dropped = batch.len() - KEPT_AT_MOST;
            let gone = batch.drain(..dropped).next_back().map_or(0, |(seq, _)| seq);
            queue.intents.retain(|(last, _)| *last > gone);
            tracing::warn!(
                dropped,
                "changes waiting for the ledger are left to the home's journal, for the next process to write"
            );
        }
        queue.ops = batch;
    }

    /// Writes one entry of `batch`; `Ok(false)` if the network is too small for any shape.
    async fn write(&self, transfers: &Transfers, batch: &[(u64, LedgerOp)]) -> ClientResult<bool> {
        let entry = LedgerEntry {
            object: ObjectId::random(&mut rand::rng()),
            written_ms: cairn_proto::clock::now_ms(),
            covers: None,
            ops: batch.iter().map(|(_, op)| op.clone()).collect(),
        };
        let written = self.write_entry(transfers, &entry).await?;
        // Now and then (one write in COMPACT_CHECK), see whether the ledger has grown long
        // enough to fold: a page's listing, so the check costs little.
        if written
            && rand::random_range(0..COMPACT_CHECK) == 0
            && let Err(e) = self.compact_if_long(transfers).await
        {
            tracing::warn!("the account's ledger was not folded this time: {e}");
        }
        Ok(written)
    }

    /// Stores `entry`; `Ok(false)` if the network is too small for any shape.
    pub(crate) async fn write_entry(
        &self,
        transfers: &Transfers,
        entry: &LedgerEntry,
    ) -> ClientResult<bool> {
        let waiting = *self
            .too_small_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if waiting.is_some_and(|until| Instant::now() < until) {
            return Ok(false);
        }
        let object = entry.object;
        let pieces = entry.seal(&self.key, &mut rand::rng())?;
        let first = *self
            .shape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (at, shape) in shapes().into_iter().enumerate().skip(first) {
            let stored = transfers
                .store_made(
                    &entry_path(object),
                    object,
                    shape,
                    pieces.clone(),
                    ledger_metadata(),
                )
                .await;
            match stored {
                Ok(()) => {
                    self.remember(object);
                    return Ok(true);
                }
                Err(e) if e.code() == Some(codes::NETWORK_TOO_SMALL) => {
                    *self
                        .shape
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = at + 1;
                }
                Err(e) => return Err(e),
            }
        }
        // Try the widest shape again in a while: peers may have joined.
        *self
            .shape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = 0;
        *self
            .too_small_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Instant::now() + TOO_SMALL_FOR);
        if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "the network has fewer than four peers: the copy of your records on the peers (which lets your files be found again if the pool loses its disk) waits until it has more"
            );
        }
        Ok(false)
    }

    /// Notes `object` as the last entry written, in memory and in the home.
    pub(crate) fn remember(&self, object: ObjectId) {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(object);
        if let Some(file) = &self.head_file
            && let Some(dir) = file.parent()
            && let Err(e) = cairn_node::write_private_file(dir, file, object.to_string().as_bytes())
        {
            tracing::warn!(
                "cannot remember the last ledger entry in {}: {e}",
                file.display()
            );
        }
    }
}
