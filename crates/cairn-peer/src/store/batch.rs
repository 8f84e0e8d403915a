//! Group commit for small pieces: one thread writes every small piece that arrived while the
//! previous group was syncing, makes the whole group durable together (one `syncfs` while
//! the machine has little else to write), then indexes it in one transaction — so
//! concurrent uploads share a sync instead of paying two fsyncs a piece.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use cairn_core::PieceHash;
use cairn_node::durable::next_group;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{StoreError, Usage, int, io, now_ms, piece_path};

/// Pieces written under one sync at most.
const GROUP: usize = 256;
/// Bytes written under one sync at most (a bound on the group's memory and latency).
const GROUP_BYTES: usize = 32 << 20;

/// A checked small piece waiting to be stored, and where its answer goes.
struct Pending {
    hash: PieceHash,
    bytes: Vec<u8>,
    /// `true` if the piece is new, `false` if it was held already.
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// What the writer thread needs of the store.
pub(super) struct Shared {
    pub(super) dir: PathBuf,
    pub(super) usage: Arc<Mutex<Usage>>,
    pub(super) index: Arc<Mutex<Connection>>,
}

/// The writer thread's handle; dropping it lets the thread finish its queue and exit.
#[derive(Debug)]
pub(super) struct Batcher {
    queue: Option<mpsc::Sender<Pending>>,
    thread: Option<JoinHandle<()>>,
}

impl Batcher {
    pub(super) fn start(shared: Shared) -> Result<Self, StoreError> {
        let (queue, pending) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("piece-writer".into())
            .spawn(move || serve(&shared, &pending))
            .map_err(io)?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Stores a checked piece; answers once it is durable and indexed. Returns whether it
    /// was new.
    pub(super) async fn store(&self, hash: PieceHash, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let gone = || io("the piece writer has stopped");
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(gone)?;
        queue
            .send(Pending { hash, bytes, reply })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(shared: &Shared, pending: &mpsc::Receiver<Pending>) {
    while let Some(group) = next_group(pending, GROUP, GROUP_BYTES, |p| p.bytes.len()) {
        store_group(shared, group);
    }
}

/// Writes, syncs and indexes one group, answering each piece.
fn store_group(shared: &Shared, group: Vec<Pending>) {
    // Pieces already held (or twice in this group) are answered at once; nobody reads a
    // piece's file before it is in `usage`, and only this thread writes small pieces, so
    // the rest can be written straight to their final paths.
    let mut new = Vec::with_capacity(group.len());
    {
        let usage = match shared.usage.lock() {
            Ok(usage) => usage,
            Err(_) => return refuse_all(group, &io("usage lock poisoned")),
        };
        let mut seen = HashSet::new();
        for piece in group {
            if usage.sizes.contains_key(&piece.hash) || !seen.insert(piece.hash) {
                let _ = piece.reply.send(Ok(false));
            } else {
                new.push(piece);
            }
        }
    }
    let mut written = Vec::with_capacity(new.len());
    let mut new_dirs = Vec::new();
    for piece in new {
        let path = piece_path(&shared.dir, &piece.hash);
        match write(&path, &piece.bytes, &mut new_dirs) {
            Ok(()) => written.push((piece, path)),
            Err(e) => {
                let _ = fs::remove_file(&path);
                let _ = piece.reply.send(Err(e));
            }
        }
    }
    if written.is_empty() {
        return;
    }
    let paths: Vec<&Path> = written.iter().map(|(_, path)| path.as_path()).collect();
    let durable = sync(&paths, &new_dirs).and_then(|()| index(shared, &written));
    if let Err(e) = durable {
        for (piece, path) in written {
            let _ = fs::remove_file(&path);
            let _ = piece.reply.send(Err(e.clone()));
        }
        return;
    }
    let mut usage = match shared.usage.lock() {
        Ok(usage) => usage,
        // Indexed but not counted: the next start counts it.
        Err(_) => {
            let e = io("usage lock poisoned");
            return refuse_all(written.into_iter().map(|(p, _)| p).collect(), &e);
        }
    };
    for (piece, _) in written {
        let size = piece.bytes.len() as u64;
        usage.used += size;
        usage.sizes.insert(piece.hash, size);
        let _ = piece.reply.send(Ok(true));
    }
}

fn refuse_all(group: Vec<Pending>, error: &StoreError) {
    for piece in group {
        let _ = piece.reply.send(Err(error.clone()));
    }
}

/// Writes `bytes` to a new file at `path` (not yet synced), making its directory again if
/// it was removed (and recording that it did).
fn write(path: &Path, bytes: &[u8], new_dirs: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    use std::io::Write;
    let parent = path
        .parent()
        .ok_or_else(|| io("a piece path has no parent"))?;
    if !parent.is_dir() {
        fs::create_dir_all(parent).map_err(io)?;
        new_dirs.push(parent.to_owned());
    }
    let mut file = fs::File::create(path).map_err(io)?;
    file.write_all(bytes).map_err(io)
}

/// Makes the written files and their directory entries durable (one `syncfs` when the
/// machine has little else to write; see `cairn_node::durable`).
fn sync(files: &[&Path], new_dirs: &[PathBuf]) -> Result<(), StoreError> {
    let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
    // A piece directory made again lives only once its parent's entry is synced too.
    dirs.extend(new_dirs.iter().filter_map(|d| d.parent()));
    dirs.sort();
    dirs.dedup();
    cairn_node::durable::sync_all(files, &dirs).map_err(io)
}

/// Indexes the group in one transaction.
fn index(shared: &Shared, written: &[(Pending, PathBuf)]) -> Result<(), StoreError> {
    let mut conn = shared.index.lock().map_err(|_| io("index lock poisoned"))?;
    let tx = conn.transaction().map_err(io)?;
    {
        let mut insert = tx.prepare_cached(super::INSERT_PIECE).map_err(io)?;
        let now = int(now_ms());
        for (piece, _) in written {
            insert
                .execute(params![
                    piece.hash.as_bytes().as_slice(),
                    int(piece.bytes.len() as u64),
                    now,
                    cairn_core::ledger::Locator::in_piece(&piece.bytes)
                        .as_ref()
                        .map(|l| l.as_bytes().as_slice()),
                ])
                .map_err(io)?;
        }
    }
    tx.commit().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::super::PieceStore;
    use super::*;

    fn pending(bytes: &[u8]) -> (Pending, oneshot::Receiver<Result<bool, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let piece = Pending {
            hash: PieceHash::of(bytes),
            bytes: bytes.to_vec(),
            reply,
        };
        (piece, answer)
    }

    fn shared(store: &PieceStore) -> Shared {
        Shared {
            dir: store.dir.clone(),
            usage: store.usage.clone(),
            index: store.index.clone(),
        }
    }

    #[tokio::test]
    async fn a_group_stores_each_new_piece_once_and_refuses_only_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = PieceStore::open(dir.path(), 1 << 20).unwrap();
        let held = [9u8; 100];
        let (piece, answer) = pending(&held);
        store_group(&shared(&store), vec![piece]);
        assert!(answer.await.unwrap().unwrap());
        // A piece whose directory cannot be made: a file sits where `pieces/ab` should be.
        let blocked = [7u8; 300];
        let name = PieceHash::of(&blocked).to_string();
        let in_the_way = dir.path().join("pieces").join(&name[..2]);
        std::fs::remove_dir(&in_the_way).unwrap();
        std::fs::write(&in_the_way, b"in the way").unwrap();
        let mut group = Vec::new();
        let mut answers = Vec::new();
        for bytes in [&[1u8; 200][..], &[2u8; 200], &[1u8; 200], &held, &blocked] {
            let (piece, answer) = pending(bytes);
            group.push(piece);
            answers.push(answer);
        }
        store_group(&shared(&store), group);
        let mut got = Vec::new();
        for answer in answers {
            got.push(answer.await.unwrap().ok());
        }
        assert_eq!(
            got,
            [Some(true), Some(true), Some(false), Some(false), None],
            "new, new, twice in the group, held already, unwritable"
        );
        assert_eq!(store.usage(), (500, 3));
        drop(store);
        std::fs::remove_file(&in_the_way).unwrap();
        let store = PieceStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.usage(), (500, 3), "indexed and on disk");
        assert!(store.size_of(&PieceHash::of(&blocked)).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_small_pieces_are_all_stored_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(PieceStore::open(dir.path(), 1 << 20).unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..64u8 {
            let store = store.clone();
            tasks.spawn(async move {
                let bytes = vec![n; 1000];
                let reservation = store.reserve(1000).unwrap();
                let body = futures_util::stream::iter([Ok::<_, std::io::Error>(
                    bytes::Bytes::from(bytes.clone()),
                )]);
                store
                    .put(PieceHash::of(&bytes), 1000, body, reservation)
                    .await
            });
        }
        for stored in tasks.join_all().await {
            assert!(stored.unwrap(), "each piece is new");
        }
        assert_eq!(store.usage(), (64_000, 64));
        drop(store);
        let store = PieceStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.usage(), (64_000, 64));
        for n in 0..64u8 {
            let bytes = vec![n; 1000];
            assert_eq!(
                std::fs::read(store.piece_path(&PieceHash::of(&bytes))).unwrap(),
                bytes
            );
        }
    }
}
