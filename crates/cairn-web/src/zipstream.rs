//! Streaming ZIP archives for "download this folder" HTTP responses.
//!
//! [`zip_stream`] turns a list of [`ZipEntry`]s (files and folders with sizes known in advance)
//! into a `Stream<Item = io::Result<Bytes>>` that can be handed to
//! `axum::body::Body::from_stream`. The archive is produced on the fly: nothing is staged on
//! disk, the output is never seeked, and memory use is bounded (about 1.5 MiB of data in flight
//! per download, plus per-entry bookkeeping for the central directory — see *Memory* below).
//!
//! # Dependencies
//!
//! ```toml
//! zip = { version = "9.9", default-features = false }   # STORED only: no codec crates
//! tokio = { version = "1", features = ["rt", "sync", "io-util"] }
//! bytes = "1"
//! futures-util = { version = "0.3", default-features = false, features = ["std"] }
//! # tests: tokio (+ "rt-multi-thread", "macros", "fs", "time"), tempfile = "3", crc32fast = "1"
//! ```
//!
//! # Format
//!
//! * Every entry is **STORED** (method 0, no compression): a cloud drive's content is mostly
//!   already compressed (photos, video, archives), storing is I/O bound rather than CPU bound, and
//!   it keeps the code path trivial.
//! * Files are written in *streaming* form: the local header has general purpose bit 3 set, CRC
//!   and sizes in the local header are zero, and a **data descriptor** (`PK\x07\x08`, CRC +
//!   sizes) follows the data (APPNOTE 4.3.9). The CRC is therefore computed while the bytes pass
//!   through and never needs to be known up front. Folder entries (names ending in `/`) have no
//!   data and no descriptor.
//! * **ZIP64** is used exactly where needed: a file of `size >= 0xFFFF_FFFF` gets a ZIP64 extra
//!   field in its local header and a 24-byte ZIP64 data descriptor (`large_file(true)` in the
//!   `zip` crate — this must be decided *before* the data is written, which is why sizes must be
//!   known in advance); entries whose local header starts at or beyond 4 GiB get a ZIP64 offset in
//!   their central header; and the ZIP64 end-of-central-directory record + locator are written
//!   whenever the archive may come near 4 GiB or has ≥ 65535 entries (see
//!   [`needs_zip64_eocd`]).
//! * Names are written as UTF-8; the *language encoding* flag (general purpose bit 11) is set by
//!   the `zip` crate for every non-ASCII name (ASCII names are identical in CP437 and UTF-8, so
//!   the flag is irrelevant for them).
//! * Modification times: the DOS date/time field holds the time in **UTC** (the server does not
//!   know the client's time zone), and an Info-ZIP *extended timestamp* extra field (`0x5455`,
//!   "UT") carries the exact Unix mtime, which Info-ZIP `unzip`, 7-Zip, libarchive/bsdtar, Python
//!   and the `zip` crate prefer over the DOS field. Tools that only read the DOS field (Windows
//!   Explorer) show UTC wall-clock time. Entries without a time get the archive creation time.
//!   Times before 1980 are clamped to 1980-01-01 in the DOS field; the UT field is only written
//!   for 1970..=2038 (it is a signed 32-bit field in most readers).
//! * Unix permissions `0644` (files) / `0755` (folders), "made by" = Unix.
//!
//! # How it works
//!
//! The `zip` crate (9.x) is synchronous. [`ZipWriter::new_stream`] wraps a plain `Write` in a
//! `StreamWriter` that reports its position but refuses to seek, and in that mode the crate
//! automatically uses data descriptors for files — exactly the streaming layout above (checked in
//! the 9.9 source: `start_entry` sets bit 3 when seeking is impossible, `write` feeds the CRC
//! hasher, `finish_file` writes the descriptor — ZIP64-sized if the entry was started with
//! `large_file(true)`; `set_auto_large_file` does *not* help here, because `write` already fails
//! at 4 GiB when `large_file` is off). So the
//! writer runs on a Tokio **blocking-pool thread** (`spawn_blocking`), started lazily at the first
//! poll of the stream:
//!
//! * the `open` future and each `read` of the entry's `AsyncRead` are driven from that thread
//!   with `Handle::block_on` (allowed on blocking-pool threads; `open` may freely use
//!   `tokio::fs`, timers, network I/O, …);
//! * the zip bytes are collected into 256 KiB chunks and sent through a bounded
//!   `tokio::sync::mpsc` channel (4 chunks) with `blocking_send`. When the HTTP client is slow
//!   the channel fills up and the writer thread blocks: **backpressure** all the way to the file
//!   reads;
//! * if the client goes away, the body stream (and the receiver) is dropped, the next
//!   `blocking_send` fails, and the thread stops.
//!
//! # Errors
//!
//! Any failure — `open` returning an error, a read error, the reader ending before `size` bytes
//! (the file shrank) or producing more than `size` bytes (it grew), an invalid entry list — makes
//! the stream yield one `Err(io::Error)` and then end; **no central directory is written after
//! an error**. Hyper then aborts the response (chunked encoding is not terminated / the connection
//! is reset), so the browser shows a failed download instead of saving a zip that looks complete
//! but has missing data. A panic in `open` or in the reader is also reported as an `Err` item.
//! Since the response headers (status 200) are sent before the first byte, there is no way to
//! turn a mid-stream failure into a nicer HTTP status; errors that can be detected up front (e.g.
//! duplicate names) are reported as the *first* item, before any byte is produced, so a caller
//! that wants a proper 4xx/5xx can validate with [`validate_entries`] before building the
//! response.
//!
//! # Memory
//!
//! Data in flight is bounded by `CHANNEL_CHUNKS × CHUNK_SIZE` + one chunk being filled + one read
//! buffer (≈ 1.5 MiB), whatever the sizes of the files. The archive's central directory must
//! record name, CRC, sizes and offset of **every** entry until the end, so memory also grows
//! linearly with the *number* of entries (the `zip` crate keeps a `ZipFileData` per entry, plus
//! our entry list and a name set for validation: measured ≈ 400 bytes per entry, peak RSS +27 MiB
//! for 70 100 entries). This is inherent to the format (any streaming writer must remember CRC,
//! sizes and offset of each entry until the end), not to the implementation. Callers should cap
//! the number of entries per download if that matters. Measured with a 4.5 GiB entry: peak RSS of
//! the whole test process 6 MiB.
//!
//! # Throughput (2-core VM, measured by the tests)
//!
//! ≈ 8 GiB/s from an in-memory pattern reader into a sink, ≈ 4 GiB/s from page-cached files read
//! with `tokio::fs::File`; i.e. the zip layer (CRC-32 + one copy) is never the bottleneck — the
//! network or the disk is.
//!
//! # Pitfalls / limitations
//!
//! * STORED entries with a data descriptor cannot be extracted by *purely streaming* unzippers
//!   (Java's `ZipInputStream`, `bsdtar` reading from a pipe) because the end of the data cannot be
//!   found without the size; every tool that opens the downloaded file (browser download → file on
//!   disk) uses the central directory and works (tested: `zip` crate, Info-ZIP `unzip -t`, Python
//!   `zipfile`).
//! * The total length is not announced (no `Content-Length`); computing it exactly would be
//!   possible (everything is deterministic given the entry list) but is not done here.
//! * Entry names are validated only lightly ([`validate_entries`]): no empty names, no leading
//!   `/`, no `\`, no `.`/`..` components, no duplicates, folders must have `size == 0`. Building
//!   the names (relative paths with `/`) is the caller's job.
//! * One blocking-pool thread is occupied per running download (Tokio's default pool allows 512).
//! * Very old / limited readers without ZIP64 support (e.g. macOS Archive Utility has historically
//!   had trouble with ZIP64 + data descriptors) can fail on archives with files ≥ 4 GiB; archives
//!   below the thresholds contain no ZIP64 structures at all.
//! * [`zip_stream`] must be polled inside a Tokio runtime (it uses `spawn_blocking`), which is
//!   always the case for an axum body. It works on both runtime flavours (on a current-thread
//!   runtime, timers/sockets used by `open` are driven by the runtime thread, which is parked in
//!   `block_on` while the body is being sent).
//! * Checked with `zipdetails`: structures follow APPNOTE 6.3.x, with two harmless quirks of the
//!   `zip` crate: entries whose local header lies beyond 4 GiB carry a ZIP64 *offset* in their
//!   central header but keep "version needed" 1.0/2.0 (instead of 4.5), and the classic EOCD holds
//!   `0xFFFFFFFF` for the central directory size whenever a ZIP64 EOCD is written. The ZIP64 local
//!   extra field of a ≥ 4 GiB file carries zero sizes (the real ones are in the 24-byte descriptor
//!   and the central directory), as the crate writes it before the data. No reader tested cares.
//! * The `zip` crate's `ZipWriter` writes a central directory when *dropped*; after an error we
//!   make sure those bytes are discarded (see `ChannelWriter::discard`), and a panic in `open` or
//!   a reader is caught (`catch_unwind`) for the same reason.

use std::cell::Cell;
use std::collections::HashSet;
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zip::write::{FullFileOptions, StreamWriter};
use zip::{CompressionMethod, DateTime, System, ZipWriter};

/// Size of the chunks the stream yields (except the last one, which may be shorter).
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Number of chunks that may wait in the channel between the writer thread and the HTTP body.
pub const CHANNEL_CHUNKS: usize = 4;
/// Size of the buffer used to read each entry's `AsyncRead`.
const READ_BUF_SIZE: usize = 256 * 1024;

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Relative path with `/` separators; folders end with `/` (e.g. `photos/2024/`,
    /// `photos/2024/a.jpg`). Parent folders need not be listed (unzippers create them), but
    /// listing them keeps their modification time and lets empty folders exist.
    pub name: String,
    /// Modification time; `None` uses the time the archive is generated.
    pub modified: Option<SystemTime>,
    /// Exact size in bytes, known in advance (must be 0 for folders). The reader returned by
    /// `open` must produce exactly this many bytes, otherwise the stream ends with an error.
    pub size: u64,
}

impl ZipEntry {
    /// Whether this entry is a folder (its name ends with `/`).
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// Checks an entry list without producing anything; [`zip_stream`] performs the same checks and
/// reports a failure as the first (and only) item of the stream. Call this before building the
/// HTTP response to be able to answer with an error status instead.
pub fn validate_entries(entries: &[ZipEntry]) -> io::Result<()> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    let mut seen = HashSet::with_capacity(entries.len());
    for e in entries {
        let name = e.name.as_str();
        let trimmed = name.strip_suffix('/').unwrap_or(name);
        if trimmed.is_empty() {
            return invalid(format!("zip entry with empty name: {name:?}"));
        }
        if name.starts_with('/') || name.contains('\\') || name.contains('\0') {
            return invalid(format!(
                "zip entry name must be a relative '/' path: {name:?}"
            ));
        }
        if trimmed
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return invalid(format!(
                "zip entry name has an empty, '.' or '..' component: {name:?}"
            ));
        }
        // local header (30) + name + extra fields (< 64) must fit in 64 KiB
        if name.len() > 60_000 {
            return invalid(format!("zip entry name too long ({} bytes)", name.len()));
        }
        if e.is_dir() && e.size != 0 {
            return invalid(format!("zip folder entry {name:?} has a non-zero size"));
        }
        if !seen.insert(name) {
            return invalid(format!("duplicate zip entry name: {name:?}"));
        }
    }
    Ok(())
}

/// Streams `entries` as a STORED (uncompressed) zip archive, ZIP64 where needed.
///
/// `open(i)` is called for each *file* entry `entries[i]`, in order, right before its data is
/// written, and must return an `AsyncRead` of exactly `entries[i].size` bytes. An error from
/// `open` or from the reader, or a short/long read, ends the stream with an `io::Error` (the
/// archive is left without central directory, and the HTTP response is cut so the browser reports
/// a failed download rather than a silently corrupt zip). Folder entries do not call `open`.
///
/// The returned stream does nothing until first polled; it must be polled inside a Tokio runtime.
/// Dropping it stops the work (the writer thread notices on its next chunk).
///
/// ```text
/// let body = axum::body::Body::from_stream(zip_stream(entries, move |i| {
///     let path = paths[i].clone();
///     async move { tokio::fs::File::open(path).await }
/// }));
/// ```
pub fn zip_stream<F, Fut, R>(
    entries: Vec<ZipEntry>,
    open: F,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static
where
    F: FnMut(usize) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<R>> + Send,
    R: AsyncRead + Send + Unpin,
{
    ZipBody {
        start: Some(Box::new(move |tx| write_archive(entries, open, tx))),
        rx: None,
        join: None,
        done: false,
    }
}

type Item = io::Result<Bytes>;
type StartFn = Box<dyn FnOnce(mpsc::Sender<Item>) + Send + 'static>;

/// The body stream: starts the writer thread on first poll, forwards its chunks, and turns a
/// panic of the thread into an error item (so a crash never looks like a clean end of archive).
struct ZipBody {
    start: Option<StartFn>,
    rx: Option<mpsc::Receiver<Item>>,
    join: Option<JoinHandle<()>>,
    done: bool,
}

impl Stream for ZipBody {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(start) = this.start.take() {
            let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
            this.rx = Some(rx);
            this.join = Some(tokio::task::spawn_blocking(move || start(tx)));
        }
        if let Some(rx) = &mut this.rx {
            match ready!(rx.poll_recv(cx)) {
                Some(Ok(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                Some(Err(e)) => {
                    this.done = true;
                    this.rx = None;
                    this.join = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.rx = None,
            }
        }
        // The channel is closed: the thread has finished (or is unwinding). Only a clean return
        // counts as the end of the archive.
        if let Some(join) = &mut this.join {
            let res = ready!(Pin::new(join).poll(cx));
            this.join = None;
            this.done = true;
            if let Err(e) = res {
                return Poll::Ready(Some(Err(io::Error::other(format!(
                    "zip stream writer failed: {e}"
                )))));
            }
        }
        this.done = true;
        Poll::Ready(None)
    }
}

/// `Write` sink of the `ZipWriter`: cuts the output into `CHUNK_SIZE` chunks and sends them
/// through the bounded channel, blocking while it is full.
struct ChannelWriter {
    tx: mpsc::Sender<Item>,
    buf: BytesMut,
    /// Set after a failure: from then on everything written is dropped silently. This is needed
    /// because the `zip` crate's `ZipWriter` *finalizes the archive when dropped* (writes a
    /// central directory); after an error that must not reach the client, and returning errors
    /// instead would make the crate print a message on stderr.
    discard: Rc<Cell<bool>>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        if self.tx.blocking_send(Ok(chunk)).is_err() {
            // The body was dropped (client gone). Discard from now on, so that the finalization
            // the `ZipWriter` attempts when dropped neither fails noisily (it prints to stderr)
            // nor does useless work.
            self.discard.set(true);
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "zip stream consumer went away",
            ));
        }
        self.buf.reserve(CHUNK_SIZE);
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.discard.get() {
            return Ok(data.len());
        }
        let n = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK_SIZE {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks are sent when full and at the end; flushing small pieces would only add overhead.
        Ok(())
    }
}

/// Runs on a blocking-pool thread; on failure sends one `Err` item.
fn write_archive<F, Fut, R>(entries: Vec<ZipEntry>, open: F, tx: mpsc::Sender<Item>)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = io::Result<R>>,
    R: AsyncRead + Unpin,
{
    let handle = Handle::current();
    // So that readers/futures dropped outside `block_on` still find the runtime.
    let _guard = handle.enter();
    let discard = Rc::new(Cell::new(false));
    let sink = ChannelWriter {
        tx: tx.clone(),
        buf: BytesMut::with_capacity(CHUNK_SIZE),
        discard: discard.clone(),
    };
    let mut zip = ZipWriter::new_stream(sink);
    // A panic in `open` or in a reader must not unwind through `zip` either (see below).
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        write_entries(&handle, &entries, open, &mut zip)
    }))
    .unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(io::Error::other(format!(
            "zip stream: panic while reading an entry: {msg}"
        )))
    });
    let result = match written {
        Ok(()) => zip
            .finish()
            .map_err(io::Error::from)
            .and_then(|w| w.into_inner().send_buf()),
        Err(e) => {
            // Dropping a `ZipWriter` writes the central directory (`impl Drop` finalizes): it must
            // go nowhere, or a client could receive a complete-looking archive before the error.
            discard.set(true);
            drop(zip);
            Err(e)
        }
    };
    if let Err(e) = result {
        discard.set(true);
        let _ = tx.blocking_send(Err(e));
    }
}

fn write_entries<F, Fut, R>(
    handle: &Handle,
    entries: &[ZipEntry],
    mut open: F,
    zip: &mut ZipWriter<StreamWriter<ChannelWriter>>,
) -> io::Result<()>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = io::Result<R>>,
    R: AsyncRead + Unpin,
{
    validate_entries(entries)?;
    if needs_zip64_eocd(entries) {
        // An empty "zip64 extensible data sector" makes the crate always write the ZIP64 EOCD
        // record + locator. Its own rule (`entries > 65535 || central dir offset/size > 0xFFFFFFFF`)
        // leaves two edge cases where the classic EOCD holds the 0xFFFF / 0xFFFFFFFF "see ZIP64"
        // sentinel as a real value without a ZIP64 record (exactly 65535 entries, or a central
        // directory starting exactly at 0xFFFFFFFF); we simply force ZIP64 near the limits.
        zip.set_raw_zip64_extensible_data_sector(Box::new([]));
    }
    let now = SystemTime::now();
    let mut buf = vec![0u8; READ_BUF_SIZE];
    for (i, entry) in entries.iter().enumerate() {
        let options = entry_options(entry, now);
        if entry.is_dir() {
            zip.add_directory(entry.name.as_str(), options)?;
            continue;
        }
        let mut reader = handle
            .block_on(open(i))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", entry.name)))?;
        zip.start_file(entry.name.as_str(), options)?;
        copy_exact(handle, &mut reader, zip, entry, &mut buf)?;
    }
    Ok(())
}

/// Copies exactly `entry.size` bytes from `reader` into the current zip entry and checks that the
/// reader is then at its end.
fn copy_exact<R: AsyncRead + Unpin>(
    handle: &Handle,
    reader: &mut R,
    zip: &mut impl Write,
    entry: &ZipEntry,
    buf: &mut [u8],
) -> io::Result<()> {
    let mut remaining = entry.size;
    while remaining > 0 {
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = handle
            .block_on(reader.read(&mut buf[..want]))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", entry.name)))?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: ended after {} of {} bytes (file changed while zipping?)",
                    entry.name,
                    entry.size - remaining,
                    entry.size
                ),
            ));
        }
        zip.write_all(&buf[..n])?;
        remaining -= n as u64;
    }
    let n = handle
        .block_on(reader.read(&mut buf[..1]))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", entry.name)))?;
    if n != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: longer than the expected {} bytes (file changed while zipping?)",
                entry.name, entry.size
            ),
        ));
    }
    Ok(())
}

/// Whether to force the ZIP64 end-of-central-directory record: ≥ 65535 entries, or a
/// conservative estimate of the archive size (data + generous per-entry header overhead) that
/// reaches 4 GiB − 64 KiB. Below that no ZIP64 structure is written at all.
pub fn needs_zip64_eocd(entries: &[ZipEntry]) -> bool {
    if entries.len() >= 0xFFFF {
        return true;
    }
    // local header 30 + descriptor ≤ 24 + central header 46 + extra fields ≤ 2×(9 + 28), ×2 name
    let estimate: u64 = entries
        .iter()
        .map(|e| e.size.saturating_add(256 + 2 * e.name.len() as u64))
        .fold(0, u64::saturating_add);
    estimate >= 0xFFFF_0000
}

fn entry_options(entry: &ZipEntry, now: SystemTime) -> FullFileOptions<'static, 'static> {
    let mtime = entry.modified.unwrap_or(now);
    let mut options = FullFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .system(System::Unix)
        .unix_permissions(if entry.is_dir() { 0o755 } else { 0o644 })
        .last_modified_time(dos_time_utc(mtime))
        // must be decided before writing: the ZIP64 local extra field + 24-byte descriptor
        .large_file(entry.size >= zip::ZIP64_BYTES_THR);
    if let Ok(d) = mtime.duration_since(UNIX_EPOCH)
        && let Ok(secs) = i32::try_from(d.as_secs())
    {
        // `with_extended_timestamp` only fails if the extra fields would exceed 64 KiB.
        options = match options
            .clone()
            .with_extended_timestamp(Some(secs as u32), None, None)
        {
            Ok(o) => o,
            Err(_) => options,
        };
    }
    options
}

/// DOS date/time (2-second resolution) of `t` in UTC, clamped to the representable range
/// 1980-01-01 00:00:00 ..= 2107-12-31 23:59:58.
pub fn dos_time_utc(t: SystemTime) -> DateTime {
    const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => i64::MIN,
    }
    .clamp(MIN, MAX);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    DateTime::from_date_and_time(
        y as u16,
        m as u8,
        d as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
    .unwrap_or_default()
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    //! Archives are checked with the `zip` crate's reader and, when installed, with Info-ZIP
    //! `unzip -t` and Python's `zipfile` (`testzip()` reads every entry and checks its CRC; note
    //! that `python3 -m zipfile -t` exits 0 even when a CRC is wrong, so it is not used as is).
    //! A single entry of 4 GiB or more (the zip64 extra fields of one file) was checked by
    //! hand when this was written (4.5 GiB, `unzip -t` and the `zip` reader); it is not in
    //! the suite, which would have to stream that much on every run.
    use super::*;
    use futures_util::StreamExt;
    use std::io::{Cursor, Read};
    use std::path::Path;
    use std::process::Command;
    use std::sync::Arc;
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    use tokio::io::ReadBuf;
    use zip::ZipArchive;

    /// Tests that measure memory or produce big outputs run one at a time.
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    const PERIOD: usize = 251;
    static TABLE: LazyLock<Vec<u8>> =
        LazyLock::new(|| (0..PERIOD * 64).map(|i| (i % PERIOD) as u8).collect());

    /// Fills `dst` with the bytes at offsets `pos..` of the infinite pattern `i % 251`.
    fn fill_pattern(mut pos: u64, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            let off = (pos % PERIOD as u64) as usize;
            let n = dst.len().min(TABLE.len() - off);
            dst[..n].copy_from_slice(&TABLE[off..off + n]);
            dst = &mut dst[n..];
            pos += n as u64;
        }
    }

    /// `len` bytes of the pattern, generated on the fly; optionally counts bytes produced and
    /// fails with an error once `fail_at` bytes have been produced.
    struct PatternReader {
        pos: u64,
        len: u64,
        fail_at: Option<u64>,
        counter: Option<Arc<AtomicU64>>,
    }

    impl PatternReader {
        fn new(len: u64) -> Self {
            Self {
                pos: 0,
                len,
                fail_at: None,
                counter: None,
            }
        }
    }

    impl AsyncRead for PatternReader {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.fail_at.is_some_and(|f| self.pos >= f) {
                return Poll::Ready(Err(io::Error::other("disk on fire")));
            }
            let limit = self.fail_at.unwrap_or(u64::MAX).min(self.len);
            let n = (buf.remaining() as u64).min(limit - self.pos) as usize;
            fill_pattern(self.pos, buf.initialize_unfilled_to(n));
            buf.advance(n);
            self.pos += n as u64;
            if let Some(c) = &self.counter {
                c.fetch_add(n as u64, Ordering::Relaxed);
            }
            Poll::Ready(Ok(()))
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        fill_pattern(0, &mut v);
        v
    }

    fn t(secs: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn file(name: &str, size: u64, modified: Option<SystemTime>) -> ZipEntry {
        ZipEntry {
            name: name.into(),
            modified,
            size,
        }
    }

    fn dir(name: &str, modified: Option<SystemTime>) -> ZipEntry {
        ZipEntry {
            name: name.into(),
            modified,
            size: 0,
        }
    }

    /// Drains the stream: all bytes, plus the error if it ended with one. Asserts that nothing
    /// follows an error.
    async fn collect<S: Stream<Item = io::Result<Bytes>>>(s: S) -> (Vec<u8>, Option<io::Error>) {
        let mut s = std::pin::pin!(s);
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => {
                    assert!(s.next().await.is_none(), "items after an error");
                    return (out, Some(e));
                }
            }
        }
        (out, None)
    }

    /// Streams in-memory contents (folders get no content).
    fn stream_mem(
        entries: Vec<ZipEntry>,
        contents: Vec<Vec<u8>>,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let contents = Arc::new(contents);
        zip_stream(entries, move |i| {
            let data = contents[i].clone();
            async move { Ok(Cursor::new(data)) }
        })
    }

    fn unzip_available() -> bool {
        Command::new("unzip")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn python_available() -> bool {
        Command::new("python3")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// `unzip -t` and Python `testzip()` (both check every CRC); returns Python's view of the
    /// entries as lines `name\tsize\tY-M-D h:m:s` (None if Python is not installed).
    fn check_with_tools(path: &Path) -> Option<Vec<String>> {
        if unzip_available() {
            let out = Command::new("unzip")
                .arg("-tqq")
                .arg(path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "unzip -t failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            eprintln!("unzip not installed, skipped");
        }
        if !python_available() {
            eprintln!("python3 not installed, skipped");
            return None;
        }
        let script = "import sys, zipfile\n\
            z = zipfile.ZipFile(sys.argv[1])\n\
            bad = z.testzip()\n\
            assert bad is None, 'bad CRC: %r' % bad\n\
            for i in z.infolist():\n\
            \x20   sys.stdout.buffer.write(('%s\\t%d\\t%d-%d-%d %d:%d:%d\\n' % ((i.filename, i.file_size) + i.date_time)).encode())\n";
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python zipfile failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect(),
        )
    }

    fn ut_mtime(f: &zip::read::ZipFile<'_, impl Read>) -> Option<u32> {
        f.extra_data_fields().find_map(|x| match x {
            zip::ExtraField::ExtendedTimestamp(ts) => ts.mod_time(),
            _ => None,
        })
    }

    fn vm_hwm_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn vm_rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Resets VmHWM to the current RSS (Linux ≥ 4.0); returns false if not permitted.
    fn reset_hwm() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    #[test]
    fn dos_time_conversion() {
        // 2024-02-29T13:37:43Z (leap day; odd second rounds down to 42)
        let d = dos_time_utc(UNIX_EPOCH + Duration::from_secs(1_709_213_863));
        assert_eq!(
            (
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            ),
            (2024, 2, 29, 13, 37, 42)
        );
        let d = dos_time_utc(UNIX_EPOCH); // before 1980: clamped
        assert_eq!((d.year(), d.month(), d.day(), d.hour()), (1980, 1, 1, 0));
        let d = dos_time_utc(UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!((d.year(), d.month(), d.day()), (1980, 1, 1));
        let d = dos_time_utc(UNIX_EPOCH + Duration::from_secs(10_000_000_000)); // year 2286
        assert_eq!(
            (d.year(), d.month(), d.day(), d.second()),
            (2107, 12, 31, 58)
        );
        let d = dos_time_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)); // 2000-02-29
        assert_eq!((d.year(), d.month(), d.day()), (2000, 2, 29));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_tree_round_trips() {
        let leap = t(1_709_213_863); // 2024-02-29T13:37:43Z
        let entries_and_data: Vec<(ZipEntry, Vec<u8>)> = vec![
            (dir("docs/", leap), vec![]),
            (file("docs/readme.txt", 12, leap), b"hello world\n".to_vec()),
            (dir("docs/empty/", t(1_600_000_000)), vec![]),
            (file("docs/empty.bin", 0, t(1_600_000_000)), vec![]),
            (
                file("docs/deep/er/still/file.dat", 300_001, t(1_700_000_001)),
                pattern(300_001),
            ),
            (dir("Ünïcødé folder/", leap), vec![]),
            (
                file("Ünïcødé folder/日本語 ファイル 🎉.txt", 19, leap),
                "unicode content ✓".as_bytes().to_vec(),
            ),
            (file("top.bin", (1 << 20) + 7, leap), pattern((1 << 20) + 7)),
            (file("no-mtime.txt", 3, None), b"abc".to_vec()),
            (file("old.txt", 1, t(86_400)), b"x".to_vec()),
        ];
        let (entries, contents): (Vec<_>, Vec<_>) = entries_and_data.into_iter().unzip();
        for (e, c) in entries.iter().zip(&contents) {
            assert_eq!(e.size, c.len() as u64, "{}", e.name);
        }
        let before = SystemTime::now();
        let (data, err) = collect(stream_mem(entries.clone(), contents.clone())).await;
        assert!(err.is_none(), "{err:?}");
        assert!(!needs_zip64_eocd(&entries));
        assert!(
            !data.windows(4).any(|w| w == b"PK\x06\x06"),
            "unexpected ZIP64 EOCD"
        );

        let mut archive = ZipArchive::new(Cursor::new(&data)).unwrap();
        assert_eq!(archive.len(), entries.len());
        for (i, (e, c)) in entries.iter().zip(&contents).enumerate() {
            let mut f = archive.by_index(i).unwrap();
            assert_eq!(f.name().unwrap(), e.name);
            assert_eq!(f.is_dir(), e.is_dir(), "{}", e.name);
            assert_eq!(f.size(), e.size, "{}", e.name);
            assert_eq!(f.compression(), CompressionMethod::Stored);
            assert_eq!(
                f.unix_mode().unwrap() & 0o777,
                if e.is_dir() { 0o755 } else { 0o644 }
            );
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            assert!(got == *c, "content of {}", e.name);
            let mtime = e.modified.unwrap_or(before);
            let dos = f.last_modified().unwrap();
            if let Some(m) = e.modified {
                assert_eq!(dos, dos_time_utc(m), "{}", e.name);
            } else {
                let expect = dos_time_utc(before);
                assert!(dos.year() == expect.year() && dos.month() == expect.month());
            }
            let secs = mtime.duration_since(UNIX_EPOCH).unwrap().as_secs();
            if e.modified.is_some() {
                assert_eq!(ut_mtime(&f), Some(secs as u32), "{}", e.name);
            } else {
                assert!(ut_mtime(&f).unwrap() as u64 >= secs, "{}", e.name);
            }
        }
        let d = archive
            .by_name("docs/readme.txt")
            .unwrap()
            .last_modified()
            .unwrap();
        assert_eq!(
            (
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            ),
            (2024, 2, 29, 13, 37, 42)
        );
        let d = archive.by_name("old.txt").unwrap().last_modified().unwrap();
        assert_eq!((d.year(), d.month(), d.day()), (1980, 1, 1));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.zip");
        std::fs::write(&path, &data).unwrap();
        if let Some(lines) = check_with_tools(&path) {
            // Python decodes names as UTF-8 only if the language encoding flag is set.
            let names: Vec<&str> = lines
                .iter()
                .map(|l| l.split('\t').next().unwrap())
                .collect();
            let expected: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(names, expected);
            assert_eq!(lines[1], "docs/readme.txt\t12\t2024-2-29 13:37:42");
        }
    }

    /// `open` using `tokio::fs` and a timer, on a current-thread runtime (the runtime thread is
    /// parked in `block_on` awaiting the stream and drives the timer for the writer thread).
    #[tokio::test]
    async fn works_on_current_thread_runtime_with_tokio_fs() {
        let dir = tempfile::tempdir().unwrap();
        let data = pattern(700_000);
        std::fs::write(dir.path().join("f"), &data).unwrap();
        let path = dir.path().join("f");
        let s = zip_stream(
            vec![file("a/f", 700_000, None), file("b/f", 700_000, None)],
            move |_| {
                let path = path.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    tokio::fs::File::open(path).await
                }
            },
        );
        let (zip, err) = collect(s).await;
        assert!(err.is_none(), "{err:?}");
        let mut archive = ZipArchive::new(Cursor::new(&zip)).unwrap();
        let mut got = Vec::new();
        archive
            .by_name("b/f")
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == data);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn empty_archive() {
        let (data, err) = collect(stream_mem(vec![], vec![])).await;
        assert!(err.is_none());
        assert_eq!(data.len(), 22); // just the EOCD
        assert_eq!(ZipArchive::new(Cursor::new(&data)).unwrap().len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn more_than_65535_entries_use_zip64() {
        let _heavy = HEAVY.lock().await;
        let rss0 = vm_rss_kib();
        let mut entries = Vec::new();
        for d in 0..100 {
            entries.push(dir(&format!("d{d}/"), t(1_700_000_000)));
            for f in 0..700 {
                let n = entries.len();
                entries.push(file(
                    &format!("d{d}/f{f}.txt"),
                    n.to_string().len() as u64,
                    t(1_700_000_000),
                ));
            }
        }
        assert_eq!(entries.len(), 70_100);
        assert!(needs_zip64_eocd(&entries));
        // memory for the central directory bookkeeping: stream into a sink first
        reset_hwm();
        let hwm0 = vm_hwm_kib();
        let s = zip_stream(entries.clone(), |i| async move {
            Ok(Cursor::new(i.to_string().into_bytes()))
        });
        let mut s = Box::pin(s);
        while let Some(c) = s.next().await {
            c.unwrap();
        }
        eprintln!(
            "70100 entries into a sink: peak RSS grew by {} KiB (RSS before: {rss0} KiB)",
            vm_hwm_kib().saturating_sub(hwm0)
        );
        let s = zip_stream(entries.clone(), |i| async move {
            Ok(Cursor::new(i.to_string().into_bytes()))
        });
        let (data, err) = collect(s).await;
        assert!(err.is_none(), "{err:?}");
        assert!(
            data[data.len() - 22 - 20 - 56..].starts_with(b"PK\x06\x06"),
            "ZIP64 EOCD"
        );
        let mut archive = ZipArchive::new(Cursor::new(&data)).unwrap();
        assert_eq!(archive.len(), 70_100);
        for i in [0, 1, 700, 701, 65_535, 65_536, 70_099] {
            let mut f = archive.by_index(i).unwrap();
            assert_eq!(f.name().unwrap(), entries[i].name);
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            if !entries[i].is_dir() {
                assert_eq!(s, i.to_string());
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.zip");
        std::fs::write(&path, &data).unwrap();
        if let Some(lines) = check_with_tools(&path) {
            assert_eq!(lines.len(), 70_100);
            assert_eq!(lines[70_099], "d99/f699.txt\t5\t2023-11-14 22:13:20");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_error_midway_ends_stream_with_error() {
        let entries = vec![
            file("a.txt", 5, None),
            file("b.bin", 1 << 20, None),
            file("c.txt", 5, None),
        ];
        let s = zip_stream(entries, |i| async move {
            let mut r = PatternReader::new(if i == 1 { 1 << 20 } else { 5 });
            if i == 1 {
                r.fail_at = Some(600_000);
            }
            Ok(r)
        });
        let (data, err) = collect(s).await;
        let err = err.expect("stream must end with an error");
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert!(err.to_string().contains("b.bin"), "{err}");
        assert!(data.len() < 600_000 + 1000, "{}", data.len());
        assert!(
            !data.windows(4).any(|w| w == b"PK\x05\x06"),
            "central directory after error"
        );
        assert!(ZipArchive::new(Cursor::new(&data)).is_err());
    }

    /// With many entries the central directory is larger than a chunk; none of it may be sent
    /// after a failure (the `zip` crate's `ZipWriter` finalizes itself when dropped).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_central_directory_after_error_with_many_entries() {
        let n = 20_000;
        let entries: Vec<ZipEntry> = (0..n)
            .map(|i| file(&format!("some/longish/name/{i}.txt"), 1, None))
            .collect();
        let s = zip_stream(entries, move |i| async move {
            let mut r = PatternReader::new(1);
            if i == n - 1 {
                r.fail_at = Some(0);
            }
            Ok(r)
        });
        let (data, err) = collect(s).await;
        assert!(err.is_some());
        assert!(data.len() > 1_000_000);
        assert!(
            !data
                .windows(4)
                .any(|w| w == b"PK\x01\x02" || w == b"PK\x05\x06")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_long_and_failed_open_are_errors() {
        // reader shorter than announced
        let s = zip_stream(vec![file("short.bin", 1000, None)], |_| async {
            Ok(PatternReader::new(999))
        });
        let err = collect(s).await.1.expect("short read must fail");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        // reader longer than announced
        let s = zip_stream(vec![file("long.bin", 1000, None)], |_| async {
            Ok(PatternReader::new(1001))
        });
        let (data, err) = collect(s).await;
        assert_eq!(
            err.expect("long read must fail").kind(),
            io::ErrorKind::InvalidData
        );
        assert!(!data.windows(4).any(|w| w == b"PK\x05\x06"));
        // open fails
        let s = zip_stream(
            vec![file("ok", 1, None), file("gone", 1, None)],
            |i| async move {
                if i == 1 {
                    Err(io::Error::new(io::ErrorKind::NotFound, "vanished"))
                } else {
                    Ok(PatternReader::new(1))
                }
            },
        );
        let err = collect(s).await.1.expect("open error must fail");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("gone"), "{err}");
        // open panics: still an error item, never a clean end, and no central directory even
        // when it exceeds a chunk
        let names: Vec<ZipEntry> = (0..20_000)
            .map(|i| file(&format!("some/longish/name/{i}"), 1, None))
            .collect();
        let s = zip_stream(names, |i| async move {
            if i == 19_999 {
                panic!("intentional panic in open (test)");
            }
            Ok(PatternReader::new(1))
        });
        let (data, err) = collect(s).await;
        assert!(err.unwrap().to_string().contains("intentional panic"));
        assert!(
            !data
                .windows(4)
                .any(|w| w == b"PK\x01\x02" || w == b"PK\x05\x06")
        );
        // invalid entry list: error before any byte
        for bad in [
            vec![file("a", 1, None), file("a", 1, None)],
            vec![dir("d/", None), dir("d/", None)],
            vec![file("/abs", 1, None)],
            vec![file("a/../b", 1, None)],
            vec![file("a//b", 1, None)],
            vec![file("", 0, None)],
            vec![ZipEntry {
                name: "d/".into(),
                modified: None,
                size: 3,
            }],
        ] {
            let (data, err) =
                collect(zip_stream(bad, |_| async { Ok(PatternReader::new(1)) })).await;
            assert!(data.is_empty());
            assert_eq!(
                err.expect("invalid entries").kind(),
                io::ErrorKind::InvalidInput
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backpressure_and_cancellation() {
        let counter = Arc::new(AtomicU64::new(0));
        let c = counter.clone();
        let s = zip_stream(vec![file("big.bin", 1 << 30, None)], move |_| {
            let c = c.clone();
            async move {
                Ok(PatternReader {
                    counter: Some(c),
                    ..PatternReader::new(1 << 30)
                })
            }
        });
        let mut s = Box::pin(s);
        assert!(s.next().await.unwrap().is_ok());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let read = counter.load(Ordering::Relaxed);
        // channel + chunk being filled + the one we hold + read buffer
        let bound = ((CHANNEL_CHUNKS + 3) * CHUNK_SIZE + READ_BUF_SIZE) as u64;
        assert!(read <= bound, "producer ran ahead: {read} > {bound}");
        drop(s); // client went away
        tokio::time::sleep(Duration::from_millis(100)).await;
        let a = counter.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            a,
            counter.load(Ordering::Relaxed),
            "writer kept running after drop"
        );
    }
}
