//! An open file for random reads (a web drive's range requests, a WebDAV `GET` with
//! `Range`): its record is fetched and opened once; each read asks the pool, with one
//! request, for the sources of only the segments it touches. (Sources are not kept from
//! one read to the next: a get order is good for one request to a peer, which refuses a
//! replay.) Reads with [`FileHandle::read_at`] or as `AsyncRead + AsyncSeek`.

use std::future::Future;
use std::io::{self, SeekFrom};
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use cairn_core::{ObjectMetadata, RemotePath, Timestamp};
use cairn_proto::api::SegmentSources;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

use super::{Readable, Transfers};
use crate::error::{ClientError, ClientResult};
use crate::progress::Progress;

/// Bytes one `poll_read` asks for at most.
const READ_CHUNK: usize = 4 << 20;

/// What every read of one open file shares.
struct OpenFile {
    transfers: Arc<Transfers>,
    /// The file's encrypted path, for the pool.
    encrypted: String,
    /// Its record and opened metadata; the record's segments are left empty.
    file: Readable,
}

impl OpenFile {
    /// Bytes `offset..offset + len` (fewer at the end of the file).
    async fn read(&self, offset: u64, len: usize) -> ClientResult<Vec<u8>> {
        let layout = self.file.metadata.layout;
        let end = offset.saturating_add(len as u64).min(layout.size());
        if offset >= end {
            return Ok(Vec::new());
        }
        let segments = self.sources(layout.segments_for(offset..end)).await?;
        let file = Readable {
            path: self.file.path.clone(),
            object: self.file.object,
            metadata: self.file.metadata.clone(),
            sources: cairn_proto::api::ObjectSources {
                segments,
                ..self.file.sources.clone()
            },
            prefetched: Default::default(),
        };
        let mut out = Vec::with_capacity(usize::try_from(end - offset).unwrap_or(0));
        self.transfers
            .download(&file, offset..end, &mut out, &Progress::silent())
            .await?;
        Ok(out)
    }

    /// The sources of segments `wanted`, in one pool request for them alone.
    async fn sources(&self, wanted: Range<u32>) -> ClientResult<Vec<SegmentSources>> {
        let last = wanted.end.saturating_sub(1);
        let record = self
            .transfers
            .pool()
            .object_range(&self.encrypted, wanted.start, last)
            .await?
            .ok_or_else(|| ClientError::Replaced(self.file.path.clone()))?;
        if record.metadata != self.file.sources.metadata {
            // Replaced since it was opened: its segments are another object's.
            return Err(ClientError::Replaced(self.file.path.clone()));
        }
        Ok(record.segments)
    }
}

/// A read in progress for `AsyncRead`.
type Reading = Pin<Box<dyn Future<Output = io::Result<Vec<u8>>> + Send>>;

/// An open file: random reads that fetch the record once, then per read the sources of the
/// segments it touches. Cheap to keep open; holds no piece bytes between reads.
pub struct FileHandle {
    file: Arc<OpenFile>,
    /// Where `AsyncRead` reads next.
    position: u64,
    reading: Option<Reading>,
}

impl FileHandle {
    /// A handle on `file`, whose record came without segments (see
    /// [`crate::pool::PoolClient::object_range`]).
    pub(crate) fn new(transfers: Arc<Transfers>, encrypted: String, file: Readable) -> Self {
        Self {
            file: Arc::new(OpenFile {
                transfers,
                encrypted,
                file,
            }),
            position: 0,
            reading: None,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &RemotePath {
        &self.file.file.path
    }

    /// Plaintext bytes.
    pub fn size(&self) -> u64 {
        self.file.file.metadata.layout.size()
    }

    /// Its modification time.
    pub fn modified(&self) -> Timestamp {
        self.file.file.metadata.modified
    }

    /// Its sealed metadata, opened.
    pub fn metadata(&self) -> &ObjectMetadata {
        &self.file.file.metadata
    }

    /// Bytes `range` of the file (fewer at its end).
    pub(crate) async fn read_range(&self, range: Range<u64>) -> ClientResult<Vec<u8>> {
        let end = range.end.min(self.size());
        let len = usize::try_from(end.saturating_sub(range.start)).unwrap_or(usize::MAX);
        self.file.read(range.start, len).await
    }

    /// Reads up to `buf.len()` bytes at `offset` into `buf`; returns how many (0 at or past
    /// the end). Fetches only the segments the range touches.
    pub async fn read_at(&self, offset: u64, buf: &mut [u8]) -> ClientResult<usize> {
        let bytes = self.file.read(offset, buf.len()).await?;
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }
}

impl std::fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileHandle")
            .field("path", self.path())
            .field("size", &self.size())
            .field("position", &self.position)
            .finish()
    }
}

impl AsyncRead for FileHandle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let reading = match &mut this.reading {
            Some(reading) => reading,
            None => {
                let want = buf.remaining().min(READ_CHUNK);
                if want == 0 {
                    return Poll::Ready(Ok(()));
                }
                let (file, at) = (this.file.clone(), this.position);
                this.reading.insert(Box::pin(async move {
                    file.read(at, want).await.map_err(io::Error::other)
                }))
            }
        };
        let bytes = match reading.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => {
                this.reading = None;
                result?
            }
        };
        // The buffer may be smaller than when the read began: what does not fit is read
        // again next time.
        let n = bytes.len().min(buf.remaining());
        buf.put_slice(&bytes[..n]);
        this.position += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for FileHandle {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let size = self.size();
        let target = match position {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a seek before the start of the file",
            )
        })?;
        self.reading = None;
        self.position = target;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.position))
    }
}
