//! Counting what a process left on disk: the files anywhere under a directory.

use std::path::Path;

/// Regular files under `path`, at any depth (0 if it does not exist).
pub fn files_under(path: &Path) -> usize {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
