//! Small files of a folder download land in groups: one thread writes every file that
//! arrived while the last group synced under its temporary name, makes the group durable
//! together (one `syncfs` while the machine has little else to write; see
//! `cairn_node::durable`), then renames each into place — so a folder of small files costs
//! a sync per group, not per file. [`Lander::finish`] makes the renames durable once the
//! folder is done.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;

use cairn_node::durable::next_group;
use tokio::sync::oneshot;

use crate::error::{ClientError, ClientResult};

/// Files written under one sync at most.
const GROUP: usize = 256;
/// Bytes written under one sync at most.
const GROUP_BYTES: usize = 32 << 20;

/// A fetched file waiting to land, and where its answer goes.
struct Landing {
    partial: PathBuf,
    target: PathBuf,
    bytes: Vec<u8>,
    reply: oneshot::Sender<ClientResult<()>>,
}

/// The landing thread's handle; dropping it lets the thread finish its queue and exit.
pub(crate) struct Lander {
    queue: Option<mpsc::Sender<Landing>>,
    thread: Option<JoinHandle<()>>,
    /// Directories files were renamed into, for [`Lander::finish`].
    landed_in: Mutex<BTreeSet<PathBuf>>,
}

impl Lander {
    pub(crate) fn start() -> ClientResult<Self> {
        let (queue, arrivals) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cairn-landing".into())
            .spawn(move || serve(&arrivals))
            .map_err(|e| local(Path::new("."), format!("cannot start a writer thread: {e}")))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            landed_in: Mutex::new(BTreeSet::new()),
        })
    }

    /// Writes `bytes` to `target` by way of `partial`; answers once the file's bytes are
    /// durable and it has its name (or failed, leaving nothing behind).
    pub(crate) async fn land(
        &self,
        partial: PathBuf,
        target: PathBuf,
        bytes: Vec<u8>,
    ) -> ClientResult<()> {
        let stopped = || local(&target, "the writer thread has stopped".into());
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(stopped)?;
        queue
            .send(Landing {
                partial,
                target: target.clone(),
                bytes,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())??;
        if let Some(dir) = target.parent()
            && let Ok(mut dirs) = self.landed_in.lock()
        {
            dirs.insert(dir.to_owned());
        }
        Ok(())
    }

    /// Makes every rename so far durable: the directories' entries synced.
    pub(crate) async fn finish(&self) -> ClientResult<()> {
        let dirs: Vec<PathBuf> = self
            .landed_in
            .lock()
            .map(|dirs| dirs.iter().cloned().collect())
            .unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            let paths: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
            sync(&[], &paths)
        })
        .await
        .map_err(|e| local(Path::new("."), format!("syncing stopped unexpectedly: {e}")))?
    }
}

impl Drop for Lander {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn local(path: &Path, reason: String) -> ClientError {
    ClientError::Local {
        path: path.to_owned(),
        reason,
    }
}

fn serve(arrivals: &mpsc::Receiver<Landing>) {
    while let Some(group) = next_group(arrivals, GROUP, GROUP_BYTES, |l| l.bytes.len()) {
        land_group(group);
    }
}

fn land_group(group: Vec<Landing>) {
    let mut written = Vec::with_capacity(group.len());
    for landing in group {
        match write(&landing.partial, &landing.bytes) {
            Ok(()) => written.push(landing),
            Err(e) => {
                let _ = std::fs::remove_file(&landing.partial);
                let _ = landing.reply.send(Err(e));
            }
        }
    }
    let partials: Vec<&Path> = written.iter().map(|l| l.partial.as_path()).collect();
    if let Err(e) = sync(&partials, &[]) {
        let reason = e.to_string();
        for landing in written {
            let _ = std::fs::remove_file(&landing.partial);
            let _ = landing
                .reply
                .send(Err(local(&landing.target, reason.clone())));
        }
        return;
    }
    for landing in written {
        let renamed = std::fs::rename(&landing.partial, &landing.target)
            .map_err(ClientError::io(&landing.target));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&landing.partial);
        }
        let _ = landing.reply.send(renamed);
    }
}

/// Creates `path` with `bytes`, not yet synced.
fn write(path: &Path, bytes: &[u8]) -> ClientResult<()> {
    use std::io::Write;
    let mut out = std::fs::File::create(path).map_err(ClientError::io(path))?;
    out.write_all(bytes).map_err(ClientError::io(path))
}

/// Makes `files` and `dirs` durable (one `syncfs` when the machine has little else to
/// write; see `cairn_node::durable`).
fn sync(files: &[&Path], dirs: &[&Path]) -> ClientResult<()> {
    cairn_node::durable::sync_all(files, dirs).map_err(|e| {
        let path = files
            .first()
            .or(dirs.first())
            .copied()
            .unwrap_or(Path::new("."));
        local(path, format!("cannot make it durable: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_land_whole_under_their_names_and_a_failure_stands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let lander = Lander::start().unwrap();
        let mut landings = Vec::new();
        for n in 0..20u8 {
            let target = dir.path().join(format!("f{n}"));
            let partial = dir.path().join(format!(".f{n}.partial"));
            landings.push(lander.land(partial, target, vec![n; 100 + usize::from(n)]));
        }
        // A file whose folder does not exist cannot land; the others do.
        let missing = dir.path().join("no such folder");
        landings.push(lander.land(missing.join(".x.partial"), missing.join("x"), b"x".to_vec()));
        let results = futures_util::future::join_all(landings).await;
        assert!(results[..20].iter().all(Result::is_ok), "{results:?}");
        assert!(results[20].is_err());
        lander.finish().await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 20, "no partial file is left: {names:?}");
        for n in 0..20u8 {
            let bytes = std::fs::read(dir.path().join(format!("f{n}"))).unwrap();
            assert_eq!(bytes, vec![n; 100 + usize::from(n)]);
        }
    }
}
