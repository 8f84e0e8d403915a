//! `Drive::put_reader` streams: 1 GiB from a generated stream goes up with this process's
//! peak memory growing by less than the client's usual bound (the one `cairn put` is held
//! to in `cairn-cli/tests/client.rs`), and reads back equal. Its own test binary, so the
//! process's peak memory is this test's alone.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use cairn_client::{Drive, DriveOptions, Progress};
use cairn_core::{MasterSecret, RedundancyPolicy, RemotePath};
use common::start_sized;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client's memory bound for a put, as the CLI's memory test holds it.
const BOUND: u64 = 256 * 1024 * 1024;
const SIZE: u64 = 1 << 30;

/// `left` pseudo-random bytes (BLAKE3's output stream of a seed).
struct Generated {
    stream: blake3::OutputReader,
    left: u64,
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left).min(1 << 16) as usize;
        let mut chunk = vec![0u8; n];
        self.stream.fill(&mut chunk);
        self.left -= n as u64;
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

/// Hashes what is written to it.
struct Hashing(blake3::Hasher, u64);

impl AsyncWrite for Hashing {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// This process's resident memory now and at its peak, in bytes (Linux `/proc`).
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_from_a_reader_goes_up_in_bounded_memory_and_reads_back_equal() {
    let net = start_sized(1 << 30, |_| {}).await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let options = DriveOptions {
        redundancy: RedundancyPolicy::Fixed(cairn_core::Redundancy::ec(2, 2).unwrap()),
        ..DriveOptions::default()
    };
    let drive = Drive::new(&net.url, &secret, options).unwrap();
    drive.register().await.unwrap();
    let (before, _) = memory();

    let mut seed = blake3::Hasher::new();
    seed.update(&rand::random::<[u8; 32]>());
    let source = Generated {
        stream: seed.finalize_xof(),
        left: SIZE,
    };
    // The reader is moved into the upload; its hash is recomputed from the same seed.
    let expected = {
        let mut again = seed.finalize_xof();
        let mut hash = blake3::Hasher::new();
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..SIZE >> 20 {
            again.fill(&mut chunk);
            hash.update(&chunk);
        }
        hash.finalize()
    };
    let path = RemotePath::parse("/big").unwrap();
    drive
        .put_reader(&path, SIZE, source, &Progress::silent())
        .await
        .unwrap();
    let (_, peak) = memory();
    eprintln!(
        "put_reader of {SIZE} bytes: peak memory grew {} bytes",
        peak.saturating_sub(before)
    );
    assert!(
        peak.saturating_sub(before) < BOUND,
        "put_reader grew the process from {before} to a peak of {peak} bytes"
    );

    let mut back = Hashing(blake3::Hasher::new(), 0);
    drive
        .get_to(&path, &mut back, &Progress::silent())
        .await
        .unwrap();
    assert_eq!(back.1, SIZE);
    assert_eq!(back.0.finalize(), expected);

    // A reader that ends early stores nothing.
    let short = Generated {
        stream: seed.finalize_xof(),
        left: 1000,
    };
    let cut = RemotePath::parse("/cut").unwrap();
    assert!(
        drive
            .put_reader(&cut, 5000, short, &Progress::silent())
            .await
            .is_err()
    );
    assert_eq!(drive.stat(&cut).await.unwrap(), None);
}

/// Front ends (the web drive) run puts and gets on spawned tasks: their futures must be
/// `Send`. Built here, never polled.
#[test]
fn uploads_and_downloads_can_run_on_spawned_tasks() {
    fn spawnable<T: Send>(_: T) {}
    let secret = cairn_core::MasterSecret::generate(&mut rand::rng());
    let drive =
        cairn_client::Drive::new("http://127.0.0.1:9", &secret, Default::default()).unwrap();
    let path = cairn_core::RemotePath::parse("/a").unwrap();
    let progress = cairn_client::Progress::silent();
    spawnable(drive.put_reader(&path, 1, &b"x"[..], &progress));
    let mut sink = Vec::new();
    spawnable(drive.get_range_to(&path, 0..1, &mut sink, &progress));
}
