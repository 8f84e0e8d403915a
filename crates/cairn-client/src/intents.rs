//! The home's journal of changes about to be made at the pool, so that a process killed
//! between the pool taking a change and the ledger holding it (`ledger.rs`) loses nothing:
//! each change is appended to `ledger-intents` (sealed under the ledger key, synced in
//! groups) before the pool is asked, and forgotten once the ledger has it or the pool
//! refused it. A later process finds what was left, asks the pool which of those changes
//! it took, and writes those to the ledger (`Drive::catch_up`).
//!
//! The file is append-only and emptied whenever no change is outstanding; a torn last
//! record (a crash mid-append) is ignored, as that change was never asked of the pool.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cairn_core::ledger::{LedgerEntry, LedgerOp};
use cairn_core::{LedgerKey, ObjectId};

use crate::error::ClientResult;
use crate::ledger::{pack, unpack};

/// The home file journaling changes about to be made.
pub(crate) const LEDGER_INTENTS: &str = "ledger-intents";

/// A change journaled, to be forgotten once settled ([`Intents::settle`]).
#[derive(Debug)]
#[must_use = "an intent is settled once the ledger has its change or the pool refused it"]
pub(crate) struct Intent(Option<u64>);

/// The journal of one drive (a no-op without a home).
pub(crate) struct Intents {
    key: LedgerKey,
    file: Option<PathBuf>,
    state: Arc<Mutex<State>>,
    /// The highest record known to be on disk (group commit: one sync covers every
    /// record appended before it started).
    synced: Arc<Mutex<u64>>,
}

#[derive(Default)]
struct State {
    /// The file, open for appending, once something was journaled.
    handle: Option<File>,
    /// Records appended so far.
    appended: u64,
    /// Records whose change is not settled yet.
    outstanding: HashSet<u64>,
    /// Changes an earlier process left unsettled, until a catch-up takes them.
    left: Option<Vec<LedgerOp>>,
}

impl Intents {
    /// The journal in `home` (none without one), with what an earlier process left in it.
    pub(crate) fn new(key: LedgerKey, home: Option<&std::path::Path>) -> Self {
        let file = home.map(|h| h.join(LEDGER_INTENTS));
        let left = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .map(|bytes| read_records(&key, &bytes))
            .filter(|ops| !ops.is_empty());
        Self {
            key,
            file,
            state: Arc::new(Mutex::new(State {
                left,
                ..State::default()
            })),
            synced: Arc::new(Mutex::new(0)),
        }
    }

    /// Changes an earlier process journaled and never settled: the caller finds which the
    /// pool took, hands those to the ledger, then calls [`Self::forget_left`].
    pub(crate) fn left(&self) -> Vec<LedgerOp> {
        lock(&self.state).left.clone().unwrap_or_default()
    }

    /// Forgets what an earlier process left, now that the ledger has (or keeps) what of it
    /// the pool took; empties the journal when nothing of this process is outstanding.
    pub(crate) fn forget_left(&self) {
        let mut state = lock(&self.state);
        state.left = None;
        empty_if_settled(&state, self.file.as_deref());
    }

    /// Journals `ops` before they are asked of the pool; returns once they are on disk
    /// (with any others appended meanwhile). A journal that cannot be written is warned
    /// about, and the change goes ahead unjournaled.
    pub(crate) async fn intend(&self, ops: &[LedgerOp]) -> Intent {
        let Some(file) = self.file.clone() else {
            return Intent(None);
        };
        if ops.is_empty() {
            return Intent(None);
        }
        let entry = LedgerEntry {
            object: ObjectId::random(&mut rand::rng()),
            written_ms: cairn_proto::clock::now_ms(),
            covers: None,
            ops: ops.to_vec(),
        };
        let record = match entry.seal(&self.key, &mut rand::rng()) {
            Ok(pieces) => {
                let packed = pack(&pieces);
                let mut record = (packed.len() as u32).to_be_bytes().to_vec();
                record.extend_from_slice(&packed);
                record
            }
            Err(e) => {
                tracing::warn!("cannot journal a change before making it: {e}");
                return Intent(None);
            }
        };
        let (state, synced) = (self.state.clone(), self.synced.clone());
        let done = tokio::task::spawn_blocking(move || append(&file, &state, &synced, &record))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        match done {
            Ok(seq) => Intent(Some(seq)),
            Err(e) => {
                tracing::warn!(
                    "cannot journal a change before making it in {}: {e}",
                    self.file
                        .as_deref()
                        .unwrap_or(std::path::Path::new(""))
                        .display()
                );
                Intent(None)
            }
        }
    }

    /// Journals `ops`, then makes them at the pool with `change`; answers its outcome with
    /// the intent to settle once the ledger has them. A change the pool refused is settled
    /// here; one it did not answer stays journaled (it may have been taken), for a later
    /// process to ask.
    pub(crate) async fn around<T>(
        &self,
        ops: &[LedgerOp],
        change: impl Future<Output = ClientResult<T>>,
    ) -> ClientResult<(T, Intent)> {
        let intent = self.intend(ops).await;
        match change.await {
            Ok(done) => Ok((done, intent)),
            Err(e) => {
                if e.code().is_some() {
                    self.settle(intent);
                }
                Err(e)
            }
        }
    }

    /// Forgets the change of `intent`: the ledger has it (or keeps it in the home for a
    /// later write), or the pool refused it. Empties the journal when nothing else is
    /// outstanding.
    pub(crate) fn settle(&self, intent: Intent) {
        let Some(seq) = intent.0 else {
            return;
        };
        let mut state = lock(&self.state);
        state.outstanding.remove(&seq);
        empty_if_settled(&state, self.file.as_deref());
    }
}

/// Empties the journal at `file` if no change in it is outstanding and nothing left is
/// untaken.
fn empty_if_settled(state: &State, file: Option<&std::path::Path>) {
    if !state.outstanding.is_empty() || state.left.is_some() {
        return;
    }
    let emptied = match (&state.handle, file) {
        (Some(handle), _) => handle.set_len(0),
        // Nothing journaled by this process: empty what an earlier one left.
        (None, Some(file)) => match std::fs::OpenOptions::new().write(true).open(file) {
            Ok(handle) => handle.set_len(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        },
        (None, None) => Ok(()),
    };
    if let Err(e) = emptied {
        tracing::warn!("cannot empty the journal of changes: {e}");
    }
}

/// Appends `record` and waits until it is on disk; answers its sequence number.
fn append(
    file: &std::path::Path,
    state: &Mutex<State>,
    synced: &Mutex<u64>,
    record: &[u8],
) -> std::io::Result<u64> {
    let (seq, handle) = {
        let mut state = lock(state);
        if state.handle.is_none() {
            state.handle = Some(open_append(file)?);
        }
        let Some(handle) = state.handle.as_mut() else {
            return Err(std::io::Error::other("the journal is not open"));
        };
        handle.write_all(record)?;
        let handle = handle.try_clone()?;
        state.appended += 1;
        let seq = state.appended;
        state.outstanding.insert(seq);
        (seq, handle)
    };
    let mut synced = lock(synced);
    if *synced >= seq {
        return Ok(seq);
    }
    // Every record appended by now is covered by this sync.
    let upto = lock(state).appended;
    handle.sync_data()?;
    *synced = upto;
    Ok(seq)
}

/// Opens the journal for appending (created private, its directory entry synced).
fn open_append(file: &std::path::Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let handle = options.open(file)?;
    if let Some(dir) = file.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(handle)
}

/// The changes in a journal's bytes, in order; a torn or unreadable record ends them.
fn read_records(key: &LedgerKey, mut bytes: &[u8]) -> Vec<LedgerOp> {
    let mut ops = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let Some(record) = rest.get(..len) else {
            break;
        };
        match unpack(key, record) {
            Some(entry) => ops.extend(entry.ops),
            None => {
                tracing::warn!("the journal of changes has an unreadable record; it ends there");
                break;
            }
        }
        bytes = &rest[len..];
    }
    ops
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::MasterSecret;

    fn put(n: u8) -> LedgerOp {
        LedgerOp::Put {
            object: ObjectId::random(&mut rand::rng()),
            path: format!("p{n}"),
            size: u64::from(n),
            metadata: vec![n; 40],
        }
    }

    #[tokio::test]
    async fn changes_not_settled_are_left_for_the_next_process_and_settled_ones_are_not() {
        let home = tempfile::tempdir().unwrap();
        let key = MasterSecret::generate(&mut rand::rng()).ledger_key();
        let file = home.path().join(LEDGER_INTENTS);
        let intents = Intents::new(key.clone(), Some(home.path()));
        assert!(intents.left().is_empty());
        let (a, b) = (put(1), put(2));
        let first = intents.intend(std::slice::from_ref(&a)).await;
        let second = intents.intend(&[b.clone(), put(3)]).await;
        intents.settle(first);
        assert!(std::fs::metadata(&file).unwrap().len() > 0);
        // The process dies with `second` outstanding.
        drop((second, intents));
        let next = Intents::new(key.clone(), Some(home.path()));

        let left = next.left();
        assert_eq!(left.len(), 3, "both records stay until the file is emptied");
        // Handed on by a process that journaled nothing itself: emptied too.
        let reader = Intents::new(key.clone(), Some(home.path()));
        assert_eq!(reader.left(), left);
        let copy = std::fs::read(&file).unwrap();
        reader.forget_left();
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
        std::fs::write(&file, copy).unwrap();
        assert_eq!(left[0], a);
        assert_eq!(left[1], b);
        // Settling this process's changes keeps the journal while the leftovers are not
        // handed on; once they are, it is emptied.
        let third = next.intend(&[put(4)]).await;
        next.settle(third);
        assert!(std::fs::metadata(&file).unwrap().len() > 0);
        next.forget_left();
        assert!(next.left().is_empty());
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
        assert!(Intents::new(key, Some(home.path())).left().is_empty());
    }

    #[tokio::test]
    async fn a_torn_last_record_and_a_wrong_key_leave_nothing_unreadable_behind() {
        let home = tempfile::tempdir().unwrap();
        let key = MasterSecret::generate(&mut rand::rng()).ledger_key();
        let file = home.path().join(LEDGER_INTENTS);
        let intents = Intents::new(key.clone(), Some(home.path()));
        let kept = put(1);
        let _a = intents.intend(std::slice::from_ref(&kept)).await;
        let _b = intents.intend(&[put(2)]).await;
        let whole = std::fs::read(&file).unwrap();
        std::fs::write(&file, &whole[..whole.len() - 7]).unwrap();
        assert_eq!(Intents::new(key, Some(home.path())).left(), vec![kept]);
        let stranger = MasterSecret::generate(&mut rand::rng()).ledger_key();
        assert!(Intents::new(stranger, Some(home.path())).left().is_empty());
        // Without a home nothing is journaled.
        let none = Intents::new(MasterSecret::generate(&mut rand::rng()).ledger_key(), None);
        let intent = none.intend(&[put(5)]).await;
        assert!(intent.0.is_none());
        none.settle(intent);
    }
}
