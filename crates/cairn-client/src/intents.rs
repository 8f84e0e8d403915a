//! The home's journal of changes not yet in the ledger (`ledger.rs`), so that nothing the
//! pool took is lost from it: each change is appended (sealed under the ledger key, synced
//! in groups) before the pool is asked, and settled once the ledger holds it or the pool
//! refused it. A change the ledger could not take yet (a network too small for it, the
//! pool away) stays journaled; so does one whose process was killed half way. A later
//! process finds what was left, asks the pool which of those changes it took, and writes
//! those to the ledger (`Drive::catch_up`).
//!
//! Each process journals in a file of its own under `ledger-intents/`, locked while it
//! runs, so processes sharing a home (`cairn ui` and a `cairn put`) never touch each
//! other's; a file nobody holds the lock of is what a process left. A file is emptied
//! whenever nothing in it is outstanding, and removed when its process ends so. A torn
//! last record (a crash mid-append) is ignored: that change was never asked of the pool.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cairn_core::ledger::{LedgerEntry, LedgerOp};
use cairn_core::{LedgerKey, ObjectId};

use crate::error::ClientResult;
use crate::ledger::{pack, unpack};

/// The home folder of the journals.
pub(crate) const LEDGER_INTENTS: &str = "ledger-intents";

/// A change journaled, to be settled once the ledger holds it ([`Intents::settle`]).
#[derive(Debug)]
#[must_use = "an intent is settled once the ledger has its change or the pool refused it"]
pub(crate) struct Intent(Option<u64>);

/// The journal of one drive (a no-op without a home).
pub(crate) struct Intents {
    key: LedgerKey,
    /// The journals' folder, in a home.
    dir: Option<PathBuf>,
    state: Arc<Mutex<State>>,
    /// The highest record known to be on disk (group commit: one sync covers every
    /// record appended before it started).
    synced: Arc<Mutex<u64>>,
}

#[derive(Default)]
struct State {
    /// This process's journal, created, locked and open for appending at its first
    /// change.
    own: Option<(PathBuf, File)>,
    /// Records appended so far.
    appended: u64,
    /// Records whose change is not settled yet.
    outstanding: HashSet<u64>,
    /// Changes earlier processes left, with their journals (held locked), until a
    /// catch-up hands them on.
    left: Vec<LedgerOp>,
    left_files: Vec<(PathBuf, File)>,
}

impl Intents {
    /// The journal in `home` (none without one), with what earlier processes left there.
    pub(crate) fn new(key: LedgerKey, home: Option<&Path>) -> Self {
        let dir = home.map(|h| h.join(LEDGER_INTENTS));
        let mut state = State::default();
        if let Some(dir) = &dir {
            take_left(&key, dir, &mut state);
        }
        Self {
            key,
            dir,
            state: Arc::new(Mutex::new(state)),
            synced: Arc::new(Mutex::new(0)),
        }
    }

    /// Changes earlier processes journaled and never settled, oldest journal first: the
    /// caller finds which the pool took, journals those again as its own, then calls
    /// [`Self::forget_left`].
    pub(crate) fn left(&self) -> Vec<LedgerOp> {
        lock(&self.state).left.clone()
    }

    /// Removes what earlier processes left, now handed on.
    pub(crate) fn forget_left(&self) {
        let files = {
            let mut state = lock(&self.state);
            state.left.clear();
            std::mem::take(&mut state.left_files)
        };
        for (path, _locked) in files {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }

    /// Journals `ops` before they are asked of the pool; returns once they are on disk
    /// (with any others appended meanwhile). A journal that cannot be written is warned
    /// about, and the change goes ahead unjournaled.
    pub(crate) async fn intend(&self, ops: &[LedgerOp]) -> Intent {
        let Some(dir) = self.dir.clone() else {
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
        let done = tokio::task::spawn_blocking(move || append(&dir, &state, &synced, &record))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        match done {
            Ok(seq) => Intent(Some(seq)),
            Err(e) => {
                tracing::warn!(
                    "cannot journal a change before making it in {}: {e}",
                    self.dir.as_deref().unwrap_or(Path::new("")).display()
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

    /// Forgets the change of `intent`: the ledger holds it, or the pool refused it.
    /// Empties this process's journal when nothing else in it is outstanding.
    pub(crate) fn settle(&self, intent: Intent) {
        let Some(seq) = intent.0 else {
            return;
        };
        let mut state = lock(&self.state);
        state.outstanding.remove(&seq);
        if state.outstanding.is_empty()
            && let Some((path, file)) = &state.own
            && let Err(e) = file.set_len(0)
        {
            tracing::warn!("cannot empty {}: {e}", path.display());
        }
    }
}

impl Drop for Intents {
    /// A journal with nothing outstanding goes with its process; one with changes
    /// outstanding stays for the next.
    fn drop(&mut self) {
        let state = lock(&self.state);
        if state.outstanding.is_empty()
            && let Some((path, _)) = &state.own
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Reads the journals in `dir` no running process holds, keeping them locked.
fn take_left(key: &LedgerKey, dir: &Path, state: &mut State) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = listing
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let modified = e.metadata().and_then(|m| m.modified());
            (modified.unwrap_or(std::time::UNIX_EPOCH), e.path())
        })
        .collect();
    found.sort();
    for (_, path) in found {
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("cannot open {}: {e}", path.display());
                continue;
            }
        };
        // Held by a running process: its own.
        if file.try_lock().is_err() {
            continue;
        }
        match std::fs::read(&path) {
            Ok(bytes) => state.left.extend(read_records(key, &bytes)),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", path.display());
                continue;
            }
        }
        state.left_files.push((path, file));
    }
}

/// Appends `record` to this process's journal and waits until it is on disk; answers its
/// sequence number.
fn append(
    dir: &Path,
    state: &Mutex<State>,
    synced: &Mutex<u64>,
    record: &[u8],
) -> std::io::Result<u64> {
    let (seq, handle) = {
        let mut state = lock(state);
        if state.own.is_none() {
            state.own = Some(create_own(dir)?);
        }
        let Some((_, file)) = state.own.as_mut() else {
            return Err(std::io::Error::other("the journal is not open"));
        };
        file.write_all(record)?;
        let handle = file.try_clone()?;
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

/// Creates this process's journal in `dir` (made private if new): private, locked, its
/// directory entry synced.
fn create_own(dir: &Path) -> std::io::Result<(PathBuf, File)> {
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(dir)?;
    let name = format!("{:016x}", rand::random::<u64>());
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.create_new(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path)?;
    file.try_lock().map_err(std::io::Error::other)?;
    File::open(dir)?.sync_all()?;
    Ok((path, file))
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
                tracing::warn!("a journal of changes has an unreadable record; it ends there");
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

    fn journals(home: &Path) -> Vec<(PathBuf, u64)> {
        let mut all: Vec<(PathBuf, u64)> = std::fs::read_dir(home.join(LEDGER_INTENTS))
            .map(|d| {
                d.map(|e| {
                    let e = e.unwrap();
                    (e.path(), e.metadata().unwrap().len())
                })
                .collect()
            })
            .unwrap_or_default();
        all.sort();
        all
    }

    #[tokio::test]
    async fn changes_not_settled_are_left_for_the_next_process_and_settled_ones_are_not() {
        let home = tempfile::tempdir().unwrap();
        let key = MasterSecret::generate(&mut rand::rng()).ledger_key();
        let intents = Intents::new(key.clone(), Some(home.path()));
        assert!(intents.left().is_empty());
        let (a, b) = (put(1), put(2));
        let first = intents.intend(std::slice::from_ref(&a)).await;
        let second = intents.intend(&[b.clone(), put(3)]).await;
        intents.settle(first);
        assert!(journals(home.path())[0].1 > 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&home.path().join(LEDGER_INTENTS)), 0o700);
            assert_eq!(mode(&journals(home.path())[0].0), 0o600);
        }
        // The process ends with `second` outstanding: its journal stays.
        drop((second, intents));
        let next = Intents::new(key.clone(), Some(home.path()));
        let left = next.left();
        assert_eq!(
            left.len(),
            3,
            "both records stay until the journal is emptied"
        );
        assert_eq!(left[0], a);
        assert_eq!(left[1], b);
        // Another process meanwhile does not see what `next` holds.
        assert!(
            Intents::new(key.clone(), Some(home.path()))
                .left()
                .is_empty()
        );
        // `next` journals changes of its own, in a journal of its own.
        let third = next.intend(&[put(4)]).await;
        assert_eq!(journals(home.path()).len(), 2);
        next.forget_left();
        assert!(next.left().is_empty());
        assert_eq!(journals(home.path()).len(), 1, "what was left is gone");
        next.settle(third);
        assert_eq!(journals(home.path())[0].1, 0, "emptied once settled");
        drop(next);
        assert!(journals(home.path()).is_empty(), "removed with its process");
    }

    #[tokio::test]
    async fn a_torn_last_record_and_a_wrong_key_leave_nothing_unreadable_behind() {
        let home = tempfile::tempdir().unwrap();
        let key = MasterSecret::generate(&mut rand::rng()).ledger_key();
        let intents = Intents::new(key.clone(), Some(home.path()));
        let kept = put(1);
        let a = intents.intend(std::slice::from_ref(&kept)).await;
        let b = intents.intend(&[put(2)]).await;
        let (file, _) = journals(home.path()).remove(0);
        // The process dies mid-append of its second record.
        drop((a, b));
        let whole = std::fs::read(&file).unwrap();
        drop(intents);
        std::fs::write(&file, &whole[..whole.len() - 7]).unwrap();
        let stranger = MasterSecret::generate(&mut rand::rng()).ledger_key();
        assert!(Intents::new(stranger, Some(home.path())).left().is_empty());
        assert_eq!(Intents::new(key, Some(home.path())).left(), vec![kept]);
        // Without a home nothing is journaled.
        let none = Intents::new(MasterSecret::generate(&mut rand::rng()).ledger_key(), None);
        let intent = none.intend(&[put(5)]).await;
        assert!(intent.0.is_none());
        none.settle(intent);
    }
}
