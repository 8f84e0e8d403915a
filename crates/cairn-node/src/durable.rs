//! Making many new files durable at once (and taking the next group for a writer that
//! does so): on Linux one `syncfs` per filesystem while the
//! machine has little else waiting to be written (shared by the process's writers, see
//! `durable/rounds.rs`), otherwise each file and directory in turn — a `syncfs` also waits
//! for every other program's unwritten data on that filesystem, which behind a large copy
//! takes seconds.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::Path;

#[cfg(target_os = "linux")]
mod rounds;

/// Most dirty or in-flight bytes on the machine for which one `syncfs` is still cheaper
/// than a sync per file.
pub const SYNCFS_DIRTY_LIMIT: u64 = 32 << 20;

/// The next group for a group-committing writer thread: waits for one item, then takes
/// every item already queued behind it, up to `max` items or `max_bytes` (as `bytes`
/// counts them). `None` once every sender is gone and the queue is empty.
pub fn next_group<T>(
    queue: &std::sync::mpsc::Receiver<T>,
    max: usize,
    max_bytes: usize,
    bytes: impl Fn(&T) -> usize,
) -> Option<Vec<T>> {
    let first = queue.recv().ok()?;
    let mut total = bytes(&first);
    let mut group = vec![first];
    while group.len() < max && total < max_bytes {
        match queue.try_recv() {
            Ok(next) => {
                total += bytes(&next);
                group.push(next);
            }
            Err(_) => break,
        }
    }
    Some(group)
}

/// Makes `files` (their data and metadata) and `dirs` (their entries) durable.
pub fn sync_all(files: &[&Path], dirs: &[&Path]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if files.len() + dirs.len() > 1 {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        if dirty_bytes(&meminfo).is_some_and(|dirty| dirty <= SYNCFS_DIRTY_LIMIT) {
            return syncfs_each(files.iter().chain(dirs));
        }
    }
    let mut seen = HashSet::new();
    for path in files.iter().chain(dirs) {
        if seen.insert(*path) {
            File::open(path)?.sync_all()?;
        }
    }
    Ok(())
}

/// One `syncfs` per filesystem the paths are on.
#[cfg(target_os = "linux")]
fn syncfs_each<'a>(paths: impl Iterator<Item = &'a &'a Path>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut filesystems = HashSet::new();
    for path in paths {
        let file = File::open(path)?;
        let dev = file.metadata()?.dev();
        if filesystems.insert(dev) {
            // Shared with the process's other writers on this filesystem.
            rounds::shared().sync(dev, || Ok(rustix::fs::syncfs(&file)?))?;
        }
    }
    Ok(())
}

/// Dirty plus under-writeback bytes from `/proc/meminfo`'s text.
pub fn dirty_bytes(meminfo: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let line = meminfo.lines().find_map(|l| l.strip_prefix(name))?;
        line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
    };
    Some((field("Dirty:")? + field("Writeback:")?) * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_takes_what_is_queued_within_its_bounds() {
        let (send, queue) = std::sync::mpsc::channel();
        for n in 1..=5usize {
            send.send(n).unwrap();
        }
        assert_eq!(next_group(&queue, 2, usize::MAX, |_| 0), Some(vec![1, 2]));
        // 3 + 4 reach the byte bound; 5 waits for the next group.
        assert_eq!(next_group(&queue, 10, 7, |n| *n), Some(vec![3, 4]));
        drop(send);
        assert_eq!(next_group(&queue, 10, usize::MAX, |_| 0), Some(vec![5]));
        assert_eq!(next_group(&queue, 10, usize::MAX, |_| 0), None);
    }

    #[test]
    fn dirty_bytes_are_read_from_meminfo() {
        let text = "MemTotal:       24000000 kB\nDirty:             11116 kB\nWriteback:           12 kB\n";
        assert_eq!(dirty_bytes(text), Some((11116 + 12) * 1024));
        assert_eq!(dirty_bytes("Dirty: 5 kB\n"), None, "no Writeback line");
        assert_eq!(dirty_bytes("Dirty: many kB\nWriteback: 0 kB\n"), None);
    }

    #[test]
    fn files_and_directories_sync_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = (0..3).map(|n| dir.path().join(format!("f{n}"))).collect();
        for file in &files {
            std::fs::write(file, b"bytes").unwrap();
        }
        let paths: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
        sync_all(&paths, &[dir.path()]).unwrap();
        sync_all(&paths[..1], &[]).unwrap();
        let missing = dir.path().join("missing");
        assert!(sync_all(&[missing.as_path()], &[]).is_err());
    }
}
