//! The calls front ends need, over a real pool and peers in this process: a one-level
//! folder listing that reads one page and not the subtree, `stat`, and a `FileHandle`
//! whose random reads ask the pool only for the segments they touch.

mod common;

use cairn_client::entry::{self, FOLDER_REDUNDANCY};
use cairn_client::pool::PoolClient;
use cairn_client::{Kind, Progress};
use cairn_core::{MasterSecret, PathCipher, RemotePath};
use cairn_proto::api::{self as paths, CommitUpload};
use cairn_testkit::proxy::Proxy;
use common::{SEGMENT, drive_at, start};
use futures_util::stream::{self, StreamExt};
use rand::{Rng, RngCore};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

fn remote(path: &str) -> RemotePath {
    RemotePath::parse(path).unwrap()
}

/// Commits, straight through the pool's API, an empty record at each of `paths`' encrypted
/// paths: a cheap stand-in for many files (nothing reads their contents here).
async fn seed(pool: &PoolClient, cipher: &PathCipher, paths: Vec<RemotePath>) {
    stream::iter(paths)
        .for_each_concurrent(256, |path| async move {
            let encrypted = cipher.encrypt(&path);
            let begun = pool
                .begin(encrypted.as_str(), FOLDER_REDUNDANCY, None, None)
                .await
                .unwrap();
            let commit = CommitUpload {
                metadata: entry::seal_folder(),
                size: 0,
                segment_count: 0,
                last_segment: None,
            };
            pool.commit(&begun.upload, &commit).await.unwrap();
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_lists_one_level_in_one_request_without_reading_its_subtree() {
    let net = start().await;
    let proxy = Proxy::start(&net.url).await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive_at(&proxy.url, &secret);
    drive.register().await.unwrap();
    let local = net.dir.path().join("small");
    std::fs::write(&local, b"hello").unwrap();
    drive
        .put(&local, &remote("/big/a.txt"), &Progress::silent())
        .await
        .unwrap();
    drive.mkdir(&remote("/big/made"), false).await.unwrap();
    let pool = PoolClient::new(&net.url, secret.account_key()).unwrap();
    let cipher = PathCipher::new(&secret.path_key());
    let below = (0..10_000)
        .map(|i| remote(&format!("/big/sub/f{i}")))
        .collect();
    seed(&pool, &cipher, below).await;

    proxy.take();
    let page = drive.list_page(&remote("/big"), None, 1000).await.unwrap();
    assert_eq!(
        proxy.take(),
        [("GET".to_owned(), paths::OBJECTS_LEVEL.to_owned())],
        "one request"
    );
    let mut seen: Vec<(String, Kind, u64)> = page
        .entries
        .iter()
        .map(|e| (e.path.to_string(), e.kind, e.size))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("/big/a.txt".to_owned(), Kind::File, 5),
            ("/big/made".to_owned(), Kind::Folder, 0),
            ("/big/sub".to_owned(), Kind::Folder, 0),
        ]
    );
    assert_eq!(page.next, None);
    let made = page.entries.iter().find(|e| e.path == remote("/big/made"));
    assert!(made.unwrap().modified.is_some(), "a made folder has a time");

    // `list` is the same page, by name, in one request too.
    let listed = drive.list(&remote("/big")).await.unwrap();
    assert_eq!(proxy.take().len(), 1);
    let names: Vec<String> = listed.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(names, ["/big/a.txt", "/big/made", "/big/sub"]);

    // Pages: one entry at a time, each after the last.
    let mut after = None;
    let mut one_by_one = Vec::new();
    loop {
        let page = drive
            .list_page(&remote("/big"), after.as_deref(), 1)
            .await
            .unwrap();
        one_by_one.extend(page.entries.into_iter().map(|e| e.path.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(one_by_one.len() <= 3, "paging does not end");
    }
    one_by_one.sort();
    assert_eq!(one_by_one, names);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_tells_files_folders_and_nothing_apart() {
    let net = start().await;
    let proxy = Proxy::start(&net.url).await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive_at(&proxy.url, &secret);
    drive.register().await.unwrap();
    let local = net.dir.path().join("file");
    std::fs::write(&local, vec![7u8; 3 * SEGMENT as usize + 1]).unwrap();
    drive
        .put(&local, &remote("/d/inner/file"), &Progress::silent())
        .await
        .unwrap();
    drive.mkdir(&remote("/made"), false).await.unwrap();

    proxy.take();
    let file = drive.stat(&remote("/d/inner/file")).await.unwrap().unwrap();
    assert_eq!(
        proxy.take(),
        [("GET".to_owned(), paths::OBJECT_RANGE.to_owned())],
        "a file is one request"
    );
    assert_eq!(file.kind, Kind::File);
    assert_eq!(file.size, 3 * u64::from(SEGMENT) + 1);
    assert!(file.modified.is_some());
    assert_eq!(file.redundancy.unwrap().to_string(), "ec:2+2");

    let made = drive.stat(&remote("/made")).await.unwrap().unwrap();
    assert_eq!((made.kind, made.size), (Kind::Folder, 0));
    assert!(made.modified.is_some());
    let implied = drive.stat(&remote("/d")).await.unwrap().unwrap();
    assert_eq!((implied.kind, implied.modified), (Kind::Folder, None));
    let root = drive.stat(&remote("/")).await.unwrap().unwrap();
    assert_eq!(root.kind, Kind::Folder);
    assert_eq!(drive.stat(&remote("/nothing")).await.unwrap(), None);
    assert_eq!(drive.stat(&remote("/d/inner/fil")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_handle_asks_for_sources_once_per_read_at_most_and_never_for_the_whole_object() {
    let net = start().await;
    let proxy = Proxy::start(&net.url).await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive_at(&proxy.url, &secret);
    drive.register().await.unwrap();
    let mut data = vec![0u8; 64 * SEGMENT as usize + 123];
    rand::rng().fill_bytes(&mut data);
    let local = net.dir.path().join("large");
    std::fs::write(&local, &data).unwrap();
    let path = remote("/large");
    drive.put(&local, &path, &Progress::silent()).await.unwrap();

    // The range route answers the asked segments only; the record alone has none.
    let pool = PoolClient::new(&net.url, secret.account_key()).unwrap();
    let encrypted = PathCipher::new(&secret.path_key()).encrypt(&path);
    let some = pool.object_range(encrypted.as_str(), 3, 4).await.unwrap();
    let indexes: Vec<u32> = some.unwrap().segments.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [3, 4]);
    let record = pool.record(encrypted.as_str()).await.unwrap().unwrap();
    assert!(record.segments.is_empty());

    proxy.take();
    let handle = drive.open_file(&path).await.unwrap();
    assert_eq!(handle.size(), data.len() as u64);
    assert_eq!(
        proxy.take(),
        [("GET".to_owned(), paths::OBJECT_RANGE.to_owned())],
        "opening is one request"
    );
    let len = data.len() as u64;
    let mut rng = rand::rng();
    let mut asked = 0;
    for _ in 0..100 {
        let start = rng.random_range(0..len);
        let want = rng.random_range(1..3 * SEGMENT as usize);
        let mut buf = vec![0u8; want];
        let n = handle.read_at(start, &mut buf).await.unwrap();
        let end = (start as usize + want).min(data.len());
        assert_eq!(n, end - start as usize);
        assert_eq!(buf[..n], data[start as usize..end], "{start}+{want}");
        let requests = proxy.take();
        assert!(requests.len() <= 1, "one read asked {requests:?}");
        for (method, route) in &requests {
            assert_eq!(
                (method.as_str(), route.as_str()),
                ("GET", paths::OBJECT_RANGE)
            );
        }
        asked += requests.len();
    }
    assert!(asked <= 100);
    // The whole file through the handle: one request, for the range's segments.
    let mut whole = vec![0u8; data.len()];
    assert_eq!(handle.read_at(0, &mut whole).await.unwrap(), data.len());
    assert_eq!(whole, data);
    assert_eq!(proxy.take().len(), 1);
    // Past the end: nothing to read, nothing asked.
    assert_eq!(handle.read_at(len, &mut [0u8; 10]).await.unwrap(), 0);
    assert!(proxy.take().is_empty());

    // As `AsyncRead + AsyncSeek`.
    let mut handle = drive.open_file(&path).await.unwrap();
    handle
        .seek(std::io::SeekFrom::Start(10 * u64::from(SEGMENT) - 7))
        .await
        .unwrap();
    let mut buf = vec![0u8; 20_000];
    handle.read_exact(&mut buf).await.unwrap();
    let at = 10 * SEGMENT as usize - 7;
    assert_eq!(buf, data[at..at + 20_000]);
    handle.seek(std::io::SeekFrom::End(-100)).await.unwrap();
    let mut tail = Vec::new();
    handle.read_to_end(&mut tail).await.unwrap();
    assert_eq!(tail, data[data.len() - 100..]);
    assert!(
        !proxy.take().iter().any(|(_, route)| route == paths::OBJECT),
        "never the whole object's sources"
    );
}

/// Issue 14: a file whose sealed record would exceed the pool's `MAX_METADATA` used to
/// upload whole and be refused at commit. It is refused before a byte is read, and nothing
/// is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_record_the_pool_would_refuse_is_refused_before_uploading() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Zeros, counting what was read.
    struct Counting(Arc<AtomicU64>);
    impl tokio::io::AsyncRead for Counting {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let n = buf.remaining().min(1 << 16);
            buf.put_slice(&vec![0; n]);
            self.0.fetch_add(n as u64, Ordering::SeqCst);
            std::task::Poll::Ready(Ok(()))
        }
    }

    let net = start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let options = cairn_client::DriveOptions {
        segment_size: cairn_core::segment::MIN_SEGMENT_SIZE,
        ..common::options()
    };
    let drive = cairn_client::Drive::new(&net.url, &secret, options).unwrap();
    drive.register().await.unwrap();
    // Under ec:2+2 each segment adds 4 hashes of 32 bytes to the record: 9,000 segments
    // make it larger than 1 MiB.
    let size = 9_000 * u64::from(cairn_core::segment::MIN_SEGMENT_SIZE);
    let read = Arc::new(AtomicU64::new(0));
    let path = remote("/huge");
    let refused = drive
        .put_reader(&path, size, Counting(read.clone()), &Progress::silent())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, cairn_client::ClientError::TooLarge { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("too large"), "{refused}");
    assert_eq!(read.load(Ordering::SeqCst), 0, "bytes were read");
    assert_eq!(drive.stat(&path).await.unwrap(), None);
    let network = drive.network().await.unwrap();
    assert_eq!((network.objects, network.open_uploads), (0, 0));
}

/// Issue 14: one object identity. The id a file's segments and record are sealed to is the
/// id the pool keeps the upload and the object under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_by_one_id_at_the_pool_and_in_its_sealed_record() {
    let net = start().await;
    let proxy = Proxy::start(&net.url).await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive_at(&proxy.url, &secret);
    drive.register().await.unwrap();
    // Three segments: the later ones are placed under the upload's id, in the route.
    let local = net.dir.path().join("three");
    let mut bytes = vec![0u8; 3 * SEGMENT as usize];
    rand::rng().fill_bytes(&mut bytes);
    std::fs::write(&local, &bytes).unwrap();
    let path = remote("/three");
    proxy.take();
    drive.put(&local, &path, &Progress::silent()).await.unwrap();
    let routes = proxy.take();
    let upload = routes
        .iter()
        .find_map(|(_, route)| {
            let rest = route.strip_prefix("/v1/uploads/")?;
            let (id, _) = rest.split_once('/')?;
            Some(id.to_owned())
        })
        .expect("a request under the upload's id");

    let pool = PoolClient::new(&net.url, secret.account_key()).unwrap();
    let cipher = PathCipher::new(&secret.path_key());
    let record = pool
        .object(cipher.encrypt(&path).as_str())
        .await
        .unwrap()
        .expect("the object");
    let entry::Entry::File { object, .. } =
        entry::open(&secret.metadata_key(), &record.metadata).unwrap()
    else {
        panic!("a file");
    };
    assert_eq!(object.to_string(), upload);
}
