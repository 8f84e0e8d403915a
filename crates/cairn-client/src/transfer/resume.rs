//! An upload's journal in the client home, so that an upload of many segments that stopped
//! (a dropped connection, a killed process) continues from the segments already stored.
//!
//! One file per encrypted path under `uploads/`, named by a keyed hash of the path and
//! locked while an upload writes it. It records the upload (the pool's id, the object id,
//! the file key, layout and redundancy), then per segment: its fragments' hashes *before*
//! any piece goes out (synced), and that the pool committed it. Every record is sealed under
//! the journal key (it holds the file key).
//!
//! A later upload of the same path and size reads it back and goes on with the same object
//! and key. Each segment is still read and coded, but one the pool committed is not sent
//! again. A segment that codes to other fragments than those recorded means the data
//! changed: sending it would seal different bytes under a nonce already used, so the upload
//! stops ([`ClientError::ResumeDiffers`]) and the next one starts afresh.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::{
    FileKey, JournalKey, ObjectId, PieceHash, Redundancy, RedundancyPolicy, SegmentLayout, journal,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{ClientError, ClientResult};

/// The home folder of upload journals.
pub(crate) const UPLOADS: &str = "uploads";

/// How long an upload waits for another upload of its path to let go of the journal.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// A journal untouched this long is removed: a pool keeps an open upload for hours (six by
/// default), not days.
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Removes journals in `dir` not written for [`FORGET_AFTER`] and held by no upload.
fn forget_old(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = (entry.metadata().and_then(|m| m.modified()))
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age > FORGET_AFTER);
        if old
            && let Ok(file) = File::open(entry.path())
            && file.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// One line of a journal, before sealing.
#[derive(Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Record {
    /// The upload began (always the first record).
    Begun {
        path: String,
        upload: String,
        object: ObjectId,
        /// The file key, hex (the record is sealed).
        file_key: String,
        size: u64,
        segment_size: u32,
        redundancy: String,
    },
    /// Segment `index`'s pieces are about to go out.
    Sending {
        index: u32,
        fragments: Vec<PieceHash>,
    },
    /// The pool committed segment `index`, whose pieces hold `bytes`.
    Committed { index: u32, bytes: u64 },
}

/// What an interrupted upload left: enough to go on with it.
pub(crate) struct Resumable {
    pub(crate) upload: String,
    pub(crate) object: ObjectId,
    pub(crate) file_key: FileKey,
    pub(crate) layout: SegmentLayout,
    pub(crate) redundancy: Redundancy,
    /// Each segment whose pieces may have gone out, with its fragments' hashes.
    pub(crate) sending: HashMap<u32, Vec<PieceHash>>,
    /// Each segment the pool committed, with the bytes its pieces hold.
    pub(crate) committed: HashMap<u32, u64>,
}

impl Resumable {
    /// Whether an upload of `layout` under `policy` can go on with this.
    pub(crate) fn fits(&self, layout: SegmentLayout, policy: RedundancyPolicy) -> bool {
        self.layout == layout
            && match policy {
                RedundancyPolicy::Fixed(r) => r == self.redundancy,
                _ => true,
            }
    }
}

/// Where a client home keeps its upload journals (nowhere without a home).
pub(crate) struct Journals {
    dir: Option<PathBuf>,
    key: JournalKey,
}

impl Journals {
    /// The journals in `home`; those no upload has touched for [`FORGET_AFTER`] (their
    /// uploads expired at the pool long ago) are removed.
    pub(crate) fn new(home: Option<&Path>, key: JournalKey) -> Self {
        let dir = home.map(|h| h.join(UPLOADS));
        if let Some(dir) = &dir {
            forget_old(dir);
        }
        Self { dir, key }
    }

    /// The journal of uploads to the encrypted path `path`, with what an interrupted one
    /// left; `None` without a home, or while another upload of the path holds it (waited
    /// for a moment: a retry may come while the upload it retries is still ending).
    pub(crate) async fn open(&self, path: &str) -> Option<(Journal, Option<Resumable>)> {
        let dir = self.dir.as_ref()?;
        let name = blake3::keyed_hash(self.key.as_bytes(), path.as_bytes()).to_hex();
        let file_path = dir.join(&name[..32]);
        let opened = (|| -> std::io::Result<File> {
            let mut folder = std::fs::DirBuilder::new();
            folder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
            folder.create(dir)?;
            let mut options = std::fs::OpenOptions::new();
            options.create(true).read(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(&file_path)
        })();
        let mut file = match opened {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("cannot keep an upload journal in {}: {e}", dir.display());
                return None;
            }
        };
        // Another upload of the same path holds it: it keeps the journal.
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        while file.try_lock().is_err() {
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let context = format!("cairn upload journal {}", &name[..32]).into_bytes();
        let mut bytes = Vec::new();
        let resumable = match file.read_to_end(&mut bytes) {
            Ok(_) => read_journal(&self.key, &context, &bytes, path),
            Err(_) => None,
        };
        let journal = Journal {
            inner: Arc::new(Inner {
                key: self.key.clone(),
                context,
                path: file_path,
                file: Mutex::new(Some(file)),
            }),
        };
        Some((journal, resumable))
    }
}

/// The records of a journal's bytes, if they make an upload of `path` to go on with; a
/// torn or unreadable record ends them.
fn read_journal(
    key: &JournalKey,
    context: &[u8],
    mut bytes: &[u8],
    path: &str,
) -> Option<Resumable> {
    let mut records = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let Some(sealed) = rest.get(..len) else {
            break;
        };
        let Ok(plain) = journal::open(key, context, sealed) else {
            break;
        };
        let Ok(record) = serde_json::from_slice::<Record>(&plain) else {
            break;
        };
        records.push(record);
        bytes = &rest[len..];
    }
    let mut records = records.into_iter();
    let Some(Record::Begun {
        path: begun_path,
        upload,
        object,
        file_key,
        size,
        segment_size,
        redundancy,
    }) = records.next()
    else {
        return None;
    };
    let file_key = Zeroizing::new(data_encoding::HEXLOWER.decode(file_key.as_bytes()).ok()?);
    let file_key = FileKey::from_bytes(<[u8; 32]>::try_from(file_key.as_slice()).ok()?);
    let redundancy = match redundancy.parse() {
        Ok(RedundancyPolicy::Fixed(r)) => r,
        _ => return None,
    };
    if begun_path != path {
        return None;
    }
    let mut resumable = Resumable {
        upload,
        object,
        file_key,
        layout: SegmentLayout::new(size, segment_size).ok()?,
        redundancy,
        sending: HashMap::new(),
        committed: HashMap::new(),
    };
    for record in records {
        match record {
            Record::Begun { .. } => return None,
            Record::Sending { index, fragments } => {
                resumable.sending.insert(index, fragments);
            }
            Record::Committed { index, bytes } => {
                resumable.committed.insert(index, bytes);
            }
        }
    }
    Some(resumable)
}

/// An open, locked journal of one path's upload. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    key: JournalKey,
    context: Vec<u8>,
    path: PathBuf,
    /// `None` once finished.
    file: Mutex<Option<File>>,
}

/// What [`Journal::begun`] records of a fresh upload.
pub(crate) struct Begun<'a> {
    pub(crate) path: &'a str,
    pub(crate) upload: &'a str,
    pub(crate) object: ObjectId,
    pub(crate) file_key: &'a FileKey,
    pub(crate) layout: SegmentLayout,
    pub(crate) redundancy: Redundancy,
}

impl Journal {
    /// Starts the journal over for a fresh upload.
    pub(crate) async fn begun(&self, begun: Begun<'_>) {
        let record = Record::Begun {
            path: begun.path.to_owned(),
            upload: begun.upload.to_owned(),
            object: begun.object,
            file_key: data_encoding::HEXLOWER.encode(begun.file_key.as_bytes()),
            size: begun.layout.size(),
            segment_size: begun.layout.segment_size(),
            redundancy: begun.redundancy.to_string(),
        };
        self.append(record, Durability::Fresh).await
    }

    /// Records that segment `index`'s pieces, of these hashes, are about to go out; returns
    /// once that is on disk.
    pub(crate) async fn sending(&self, index: u32, fragments: &[PieceHash]) {
        let record = Record::Sending {
            index,
            fragments: fragments.to_vec(),
        };
        self.append(record, Durability::Synced).await
    }

    /// Records that the pool committed segment `index`.
    pub(crate) async fn committed(&self, index: u32, bytes: u64) {
        self.append(Record::Committed { index, bytes }, Durability::Plain)
            .await
    }

    /// Removes the journal: the upload is done, or will never go on.
    pub(crate) fn finish(&self) {
        let Ok(mut file) = self.inner.file.lock() else {
            return;
        };
        if file.take().is_some()
            && let Err(e) = std::fs::remove_file(&self.inner.path)
        {
            tracing::warn!("cannot remove {}: {e}", self.inner.path.display());
        }
    }

    /// Appends `record`. A journal that cannot be written is removed (warned about): the
    /// upload goes on, and a later one starts afresh rather than trust a journal with a
    /// gap.
    async fn append(&self, record: Record, how: Durability) {
        if let Err(e) = self.try_append(record, how).await {
            tracing::warn!("cannot keep an upload journal; this upload will not resume: {e}");
            self.finish();
        }
    }

    async fn try_append(&self, record: Record, how: Durability) -> ClientResult<()> {
        let plain =
            Zeroizing::new(serde_json::to_vec(&record).map_err(|e| ClientError::Local {
                path: self.inner.path.clone(),
                reason: format!("cannot write an upload journal: {e}"),
            })?);
        let sealed = journal::seal(
            &self.inner.key,
            &self.inner.context,
            &plain,
            &mut rand::rng(),
        );
        let mut framed = (sealed.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&sealed);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let guard = inner
                .file
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?;
            let Some(mut file) = guard.as_ref() else {
                return Ok(());
            };
            if matches!(how, Durability::Fresh) {
                file.set_len(0)?;
            }
            file.write_all(&framed)?;
            if !matches!(how, Durability::Plain) {
                file.sync_data()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(ClientError::io(&self.inner.path))
    }
}

/// How a record is written.
#[derive(Clone, Copy)]
enum Durability {
    /// First, in an emptied journal, synced.
    Fresh,
    /// Appended and synced.
    Synced,
    /// Appended.
    Plain,
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::Redundancy;

    fn key(byte: u8) -> JournalKey {
        JournalKey::from_bytes([byte; 32])
    }

    #[tokio::test]
    async fn a_journal_reads_back_until_a_torn_record_and_is_held_by_one_upload() {
        let home = tempfile::tempdir().unwrap();
        let journals = Journals::new(Some(home.path()), key(1));
        let (journal, left) = journals.open("enc/path").await.unwrap();
        assert!(left.is_none());
        let layout = SegmentLayout::new(100 << 20, 16 << 20).unwrap();
        let file_key = FileKey::from_bytes([9; 32]);
        let object = ObjectId::random(&mut rand::rng());
        journal
            .begun(Begun {
                path: "enc/path",
                upload: "up-1",
                object,
                file_key: &file_key,
                layout,
                redundancy: Redundancy::ec(2, 1).unwrap(),
            })
            .await;
        let hashes = vec![
            PieceHash::of(b"a"),
            PieceHash::of(b"b"),
            PieceHash::of(b"c"),
        ];
        journal.sending(0, &hashes).await;
        journal.committed(0, 300).await;
        journal.sending(1, &hashes[..1]).await;
        // Held: another upload of the path does not get it (after a short wait).
        assert!(journals.open("enc/path").await.is_none());
        drop(journal);

        // A crash mid-append leaves a torn last record: ignored.
        let file = std::fs::read_dir(home.path().join(UPLOADS))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.extend_from_slice(&[0, 0, 1, 0, 42]);
        std::fs::write(&file, &bytes).unwrap();

        let (journal, left) = journals.open("enc/path").await.unwrap();
        let left = left.unwrap();
        assert_eq!((left.upload.as_str(), left.object), ("up-1", object));
        assert_eq!(left.file_key, file_key);
        assert_eq!(
            (left.layout, left.redundancy),
            (layout, Redundancy::ec(2, 1).unwrap())
        );
        assert_eq!(left.sending.get(&0), Some(&hashes));
        assert_eq!(left.sending.get(&1).map(Vec::len), Some(1));
        assert_eq!(left.committed, HashMap::from([(0, 300)]));
        assert!(left.fits(layout, RedundancyPolicy::Auto));
        assert!(!left.fits(
            layout,
            RedundancyPolicy::Fixed(Redundancy::ec(2, 2).unwrap())
        ));
        assert!(!left.fits(
            SegmentLayout::new(99 << 20, 16 << 20).unwrap(),
            RedundancyPolicy::Auto
        ));
        drop(journal);

        // Another account's journals are named by its own key: it finds nothing of this
        // one (whose records it could not open either, `cairn-core/src/journal.rs`).
        // Finishing removes the journal.
        let stranger = Journals::new(Some(home.path()), key(2));
        let (_, left) = stranger.open("enc/path").await.unwrap();
        assert!(left.is_none());
        let (journal, _) = journals.open("enc/path").await.unwrap();
        journal.finish();
        assert!(!file.exists());
        assert!(Journals::new(None, key(1)).open("enc/path").await.is_none());
    }
}
