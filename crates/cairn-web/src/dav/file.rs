//! A file opened over WebDAV. Reading goes through a [`FileHandle`] a few MiB at a time
//! (`dav-server` asks for small pieces; each fetch from the peers is a segment or so).
//! Writing streams into `put_reader` when the length is known — a segment or two in
//! memory, however large — and otherwise spools to a `0600` file in the client home that
//! goes once the upload ends. A PUT cut short stores nothing: the upload is stopped when
//! the file is let go before its last byte and flush.

use std::io::SeekFrom;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Buf, Bytes};
use cairn_client::{Drive, FileHandle, Progress};
use cairn_core::RemotePath;
use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture};
use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::io::StreamReader;

use super::fs::{Meta, fs_error, system_time};

/// How much one fetch from the peers reads ahead.
const READ_AHEAD: usize = 4 << 20;
/// Chunks of a PUT's body in flight to the upload.
const PUT_QUEUE: usize = 4;

/// A file open for reading.
#[derive(Debug)]
pub(crate) struct ReadFile {
    /// Only ever used through `&mut self` (`get_mut`, no locking): the mutex makes the
    /// handle `Sync`, as `dav-server` wants its files.
    handle: std::sync::Mutex<FileHandle>,
    size: u64,
    modified: cairn_core::Timestamp,
    position: u64,
    /// Bytes read ahead, from `buffered_at`.
    buffer: Bytes,
    buffered_at: u64,
}

impl ReadFile {
    pub fn new(handle: FileHandle) -> Self {
        Self {
            size: handle.size(),
            modified: handle.modified(),
            handle: std::sync::Mutex::new(handle),
            position: 0,
            buffer: Bytes::new(),
            buffered_at: 0,
        }
    }

    fn meta(&self) -> Meta {
        Meta {
            len: self.size,
            modified: system_time(self.modified),
            dir: false,
        }
    }

    async fn read(&mut self, count: usize) -> Result<Bytes, FsError> {
        let size = self.size;
        if self.position >= size || count == 0 {
            return Ok(Bytes::new());
        }
        let end = self.buffered_at + self.buffer.len() as u64;
        if self.position < self.buffered_at || self.position >= end {
            let want = READ_AHEAD
                .max(count)
                .min(usize::try_from(size - self.position).unwrap_or(READ_AHEAD));
            let mut data = vec![0u8; want];
            let mut filled = 0;
            let handle = self
                .handle
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // As `AsyncRead` (by `&mut`): the handle is `Send`, not `Sync`.
            handle
                .seek(SeekFrom::Start(self.position))
                .await
                .map_err(|_| FsError::GeneralFailure)?;
            while filled < want {
                let n = handle
                    .read(&mut data[filled..])
                    .await
                    .map_err(|_| FsError::GeneralFailure)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            data.truncate(filled);
            self.buffer = Bytes::from(data);
            self.buffered_at = self.position;
        }
        let from = usize::try_from(self.position - self.buffered_at).unwrap_or(0);
        let to = (from + count).min(self.buffer.len());
        let out = self.buffer.slice(from..to);
        self.position += out.len() as u64;
        Ok(out)
    }
}

impl DavFile for ReadFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = self.meta();
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }

    fn write_buf(&mut self, _buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        self.read(count).boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        let size = self.size;
        let to = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => size.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        let result = match to {
            Some(to) => {
                self.position = to;
                Ok(to)
            }
            None => Err(FsError::GeneralFailure),
        };
        async move { result }.boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        async { Ok(()) }.boxed()
    }
}

/// Where a file being written goes.
enum Sink {
    /// Straight into the upload: the length is known.
    Stream {
        chunks: Option<mpsc::Sender<std::io::Result<Bytes>>>,
        upload: JoinHandle<Result<(), FsError>>,
    },
    /// Into a spool file first; uploaded at flush.
    Spool(tokio::fs::File, tempfile::TempPath),
    /// Flushed: uploaded, or refused.
    Done,
}

/// A file open for writing: a PUT's body on its way to the drive.
pub(crate) struct WriteFile {
    drive: Arc<Drive>,
    path: RemotePath,
    written: u64,
    expected: Option<u64>,
    sink: Sink,
}

impl std::fmt::Debug for WriteFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteFile")
            .field("path", &self.path)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl WriteFile {
    /// A writer of `expected` bytes (streamed) or of bytes not known yet (spooled in
    /// `spool`, the client home).
    pub fn new(
        drive: Arc<Drive>,
        path: RemotePath,
        expected: Option<u64>,
        spool: &Path,
    ) -> Result<Self, FsError> {
        let sink = match expected {
            Some(len) => {
                let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(PUT_QUEUE);
                let reader = StreamReader::new(tokio_stream_of(rx));
                let (drive, target) = (drive.clone(), path.clone());
                let upload = tokio::spawn(async move {
                    drive
                        .put_reader(&target, len, reader, &Progress::silent())
                        .await
                        .map(drop)
                        .map_err(|e| fs_error(&e))
                });
                Sink::Stream {
                    chunks: Some(tx),
                    upload,
                }
            }
            None => {
                let file = tempfile::Builder::new()
                    .prefix(".dav-put-")
                    .tempfile_in(spool)
                    .map_err(|_| FsError::GeneralFailure)?;
                let (file, temp) = file.into_parts();
                Sink::Spool(tokio::fs::File::from_std(file), temp)
            }
        };
        Ok(Self {
            drive,
            path,
            written: 0,
            expected,
            sink,
        })
    }

    async fn write(&mut self, data: Bytes) -> Result<(), FsError> {
        self.written += data.len() as u64;
        if self.expected.is_some_and(|len| self.written > len) {
            return Err(FsError::GeneralFailure);
        }
        match &mut self.sink {
            Sink::Stream { chunks, .. } => {
                let Some(chunks) = chunks else {
                    return Err(FsError::GeneralFailure);
                };
                // The upload stopped (refused): its own error says why at flush.
                if chunks.send(Ok(data)).await.is_err() {
                    return self.finish().await;
                }
                Ok(())
            }
            Sink::Spool(file, _) => file
                .write_all(&data)
                .await
                .map_err(|_| FsError::InsufficientStorage),
            Sink::Done => Err(FsError::GeneralFailure),
        }
    }

    /// Ends the body: waits for the upload (or makes it from the spool).
    async fn finish(&mut self) -> Result<(), FsError> {
        match std::mem::replace(&mut self.sink, Sink::Done) {
            Sink::Stream { chunks, upload } => {
                drop(chunks);
                upload.await.map_err(|_| FsError::GeneralFailure)?
            }
            Sink::Spool(mut file, temp) => {
                file.flush().await.map_err(|_| FsError::GeneralFailure)?;
                drop(file);
                let stored = self
                    .drive
                    .put(&temp, &self.path, &Progress::silent())
                    .await
                    .map(drop)
                    .map_err(|e| fs_error(&e));
                drop(temp);
                stored
            }
            Sink::Done => Ok(()),
        }
    }
}

impl Drop for WriteFile {
    fn drop(&mut self) {
        // Let go before flush: the body was cut short; the upload must not go on.
        if let Sink::Stream { upload, .. } = &self.sink {
            upload.abort();
        }
    }
}

/// The chunks a channel receives, as a stream.
fn tokio_stream_of(
    mut rx: mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static {
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

impl DavFile for WriteFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = Meta {
            len: self.written,
            modified: SystemTime::now(),
            dir: false,
        };
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        let data = buf.copy_to_bytes(buf.remaining());
        self.write(data).boxed()
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        self.write(buf).boxed()
    }

    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, Bytes> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        // Only where the body already is: a PUT of a part of a file is not taken.
        let here = self.written;
        async move {
            match pos {
                SeekFrom::Start(n) if n == here => Ok(n),
                _ => Err(FsError::NotImplemented),
            }
        }
        .boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        self.finish().boxed()
    }
}
