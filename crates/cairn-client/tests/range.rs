//! The library over a real pool and real peers in this process (on 127.0.0.1:0, data in a
//! temp dir): range reads return exactly the asked bytes and fetch only the segments they
//! touch; a folder of small files, read a batch per peer, comes back whole even when a
//! peer has lost its pieces or stopped answering.

mod common;

use std::path::Path;
use std::time::Duration;

use cairn_client::{ClientError, Drive, Progress};
use cairn_core::{MasterSecret, RemotePath};
use common::{Net, SEGMENT, destroy_segment, start, start_with};
use rand::RngCore;

/// A drive on `net` storing `ec:2+2` in [`SEGMENT`]-byte segments.
fn drive(net: &Net, secret: &MasterSecret) -> Drive {
    common::drive_at(&net.url, secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_reads_fetch_exactly_the_segments_they_touch() {
    let net = start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive(&net, &secret);
    drive.register().await.unwrap();
    let mut data = vec![0u8; 100_000];
    rand::rng().fill_bytes(&mut data);
    let local = net.dir.path().join("data");
    std::fs::write(&local, &data).unwrap();
    let path = RemotePath::parse("/data").unwrap();
    drive.put(&local, &path, &Progress::silent()).await.unwrap();

    let seg = u64::from(SEGMENT);
    let len = data.len() as u64;
    for range in [
        0..10,
        seg - 5..seg + 5,
        3 * seg..5 * seg,
        50_000..len,
        len - 1..len,
        len..len + 10,
        7..7,
        0..len,
        0..u64::MAX,
    ] {
        let got = drive.read_range(&path, range.clone()).await.unwrap();
        let (from, to) = (range.start.min(len) as usize, range.end.min(len) as usize);
        assert_eq!(got, data[from..to], "{range:?}");
    }

    // With segment 0 destroyed on every peer, ranges beyond it still read; it does not.
    destroy_segment(&net, &secret, &path, 0).await;
    let later = drive.read_range(&path, seg..3 * seg).await.unwrap();
    assert_eq!(later, data[seg as usize..3 * seg as usize]);
    let err = drive.read_range(&path, 0..10).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Unreadable { segment: 0, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_client_waits_and_carries_on() {
    // Ten requests a second with a burst of three: a many-segment upload runs into the
    // limit, and the client waits as the pool asks instead of failing.
    let net = start_with(|config| {
        config.requests_per_second_per_key = 10;
        config.request_burst_per_key = 3;
    })
    .await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive(&net, &secret);
    let mut data = vec![0u8; 6 * SEGMENT as usize];
    rand::rng().fill_bytes(&mut data);
    let local = net.dir.path().join("data");
    std::fs::write(&local, &data).unwrap();
    let path = RemotePath::parse("/data").unwrap();
    drive.put(&local, &path, &Progress::silent()).await.unwrap();
    assert_eq!(drive.read_range(&path, 0..u64::MAX).await.unwrap(), data);
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files_in(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(dir).unwrap().to_owned(), bytes);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_small_files_reads_back_even_when_peers_lose_pieces_or_stop() {
    let net = start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive(&net, &secret);
    drive.register().await.unwrap();
    let tree = net.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("inner")).unwrap();
    for n in 0..40usize {
        // Small files (a batch read) and one of several segments (read on its own).
        let len = if n == 0 {
            5 * SEGMENT as usize
        } else {
            1 + n * 97
        };
        let mut data = vec![0u8; len];
        rand::rng().fill_bytes(&mut data);
        let folder = if n % 3 == 0 {
            tree.join("inner")
        } else {
            tree.clone()
        };
        std::fs::write(folder.join(format!("f{n}")), &data).unwrap();
    }
    let remote = RemotePath::parse("/tree").unwrap();
    let silent = Progress::silent();
    drive.put_tree(&tree, &remote, &silent).await.unwrap();
    let expected = files_in(&tree);
    let back = net.dir.path().join("back");
    drive.get_tree(&remote, &back, &silent).await.unwrap();
    assert_eq!(files_in(&back), expected);

    // One peer loses every piece file while its index still lists them: the batch reads
    // it answers fail piece by piece, and those files read their other fragments alone.
    let lost = net.dir.path().join("peer0").join("pieces");
    let gone = files_in(&lost).len();
    assert!(gone >= 40, "peer 0 held {gone} pieces");
    std::fs::remove_dir_all(&lost).unwrap();
    let again = net.dir.path().join("again");
    drive.get_tree(&remote, &again, &silent).await.unwrap();
    assert_eq!(files_in(&again), expected);

    // And another peer stops answering at all: its batch reads fail to connect, and
    // every file still has the two fragments it needs on the last two peers.
    net.peers[1].abort();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !net.peers[1].is_finished() {
        assert!(std::time::Instant::now() < deadline, "peer 1 did not stop");
        tokio::task::yield_now().await;
    }
    let last = net.dir.path().join("last");
    drive.get_tree(&remote, &last, &silent).await.unwrap();
    assert_eq!(files_in(&last), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_of_hundreds_of_small_files_goes_up_and_comes_back_whole() {
    // More files than one batched pool request carries (256) and than the client keeps
    // open at once (64): begins, piece writes and commits travel in batches of every size.
    let net = start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive(&net, &secret);
    drive.register().await.unwrap();
    let tree = net.dir.path().join("many");
    for n in 0..600usize {
        let folder = tree.join(format!("d{}", n % 7));
        std::fs::create_dir_all(&folder).unwrap();
        let mut data = vec![0u8; 1 + n * 13];
        rand::rng().fill_bytes(&mut data);
        std::fs::write(folder.join(format!("f{n}")), &data).unwrap();
    }
    let remote = RemotePath::parse("/many").unwrap();
    let silent = Progress::silent();
    drive.put_tree(&tree, &remote, &silent).await.unwrap();
    let back = net.dir.path().join("many-back");
    drive.get_tree(&remote, &back, &silent).await.unwrap();
    assert_eq!(files_in(&back), files_in(&tree));
}
