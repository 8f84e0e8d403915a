//! Progress as events per file, cancellation, and tree operations that report each failed
//! file and go on with the rest — over a real pool and peers in this process.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cairn_client::{ClientError, Event, Progress};
use cairn_core::{MasterSecret, RemotePath};
use common::{SEGMENT, destroy_segment, drive_at, start};
use rand::RngCore;
use tokio_util::sync::CancellationToken;

fn remote(path: &str) -> RemotePath {
    RemotePath::parse(path).unwrap()
}

fn random(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rng().fill_bytes(&mut data);
    data
}

/// Bytes reported per file, and which files were started, done and failed.
#[derive(Debug, Default)]
struct Seen {
    started: BTreeMap<String, u64>,
    bytes: BTreeMap<String, u64>,
    done: Vec<String>,
    failed: Vec<String>,
}

impl Seen {
    fn record(&mut self, event: &Event) {
        match event {
            Event::Started { path, size } => {
                self.started.insert(path.to_string(), *size);
            }
            Event::Bytes { path, bytes } => {
                *self.bytes.entry(path.to_string()).or_default() += bytes;
            }
            Event::Done { path } => self.done.push(path.to_string()),
            Event::Failed { path, .. } => self.failed.push(path.to_string()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_put_reports_the_file_that_failed_and_stores_the_rest() {
    let net = start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive_at(&net.url, &secret);
    drive.register().await.unwrap();
    let tree = net.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut sizes = BTreeMap::new();
    for n in 0..6usize {
        let len = 100 + n * 3 * SEGMENT as usize / 2;
        std::fs::write(tree.join(format!("f{n}")), random(len)).unwrap();
        sizes.insert(format!("/t/f{n}"), len as u64);
    }
    // The first file to start removes one that has not started yet: it is listed, then
    // cannot be read (a source that cannot be read, whoever runs the test).
    let seen = Arc::new(Mutex::new(Seen::default()));
    let gone: Arc<Mutex<Option<String>>> = Arc::default();
    let progress = {
        let (seen, gone, tree) = (seen.clone(), gone.clone(), tree.clone());
        let names: Vec<String> = sizes.keys().cloned().collect();
        Progress::silent().with_events(move |event| {
            let mut seen = seen.lock().unwrap();
            seen.record(&event);
            let mut gone = gone.lock().unwrap();
            if gone.is_none() && matches!(event, Event::Started { .. }) {
                let victim = names
                    .iter()
                    .find(|n| !seen.started.contains_key(*n))
                    .unwrap();
                std::fs::remove_file(tree.join(&victim["/t/".len()..])).unwrap();
                *gone = Some(victim.clone());
            }
        })
    };
    let report = drive
        .put_tree(&tree, &remote("/t"), &progress)
        .await
        .unwrap();
    let gone = gone.lock().unwrap().clone().unwrap();
    assert_eq!(report.files, 5);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].remote.to_string(), gone);
    assert!(matches!(report.failed[0].error, ClientError::Io { .. }));
    let stored: u64 = sizes
        .iter()
        .filter(|(p, _)| **p != gone)
        .map(|(_, s)| s)
        .sum();
    assert_eq!(report.bytes, stored);

    let others: Vec<String> = sizes.keys().filter(|p| **p != gone).cloned().collect();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.failed, std::slice::from_ref(&gone));
        let mut done = seen.done.clone();
        done.sort();
        assert_eq!(done, others);
        for path in &others {
            assert_eq!(seen.started.get(path), sizes.get(path), "{path}");
            assert_eq!(seen.bytes.get(path), sizes.get(path), "{path}");
        }
    }
    let listed: Vec<String> = drive
        .list(&remote("/t"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.path.to_string())
        .collect();
    assert_eq!(listed, others);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_get_reports_the_unreadable_file_and_writes_the_rest() {
    let net = start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive_at(&net.url, &secret);
    drive.register().await.unwrap();
    let tree = net.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for n in 0..5usize {
        std::fs::write(tree.join(format!("f{n}")), random(200 + n)).unwrap();
    }
    let silent = Progress::silent();
    drive.put_tree(&tree, &remote("/t"), &silent).await.unwrap();
    destroy_segment(&net, &secret, &remote("/t/f2"), 0).await;

    let back = net.dir.path().join("back");
    let report = drive.get_tree(&remote("/t"), &back, &silent).await.unwrap();
    assert_eq!(report.files, 4);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].remote, remote("/t/f2"));
    assert_eq!(report.failed[0].local, back.join("f2"));
    assert!(matches!(
        report.failed[0].error,
        ClientError::Unreadable { segment: 0, .. }
    ));
    for n in [0, 1, 3, 4] {
        let name = format!("f{n}");
        assert_eq!(
            std::fs::read(back.join(&name)).unwrap(),
            std::fs::read(tree.join(&name)).unwrap()
        );
    }
    assert!(!back.join("f2").exists());
    // The CLI's view: the first failure is the operation's error.
    assert!(matches!(
        report.into_result(),
        Err(ClientError::Unreadable { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_transfer_stops_and_leaves_nothing_behind() {
    let net = start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = drive_at(&net.url, &secret);
    drive.register().await.unwrap();
    let data = random(40 * SEGMENT as usize);
    let local = net.dir.path().join("data");
    std::fs::write(&local, &data).unwrap();

    // A put cancelled once its first segment is stored: nothing listed.
    let cancel = CancellationToken::new();
    let progress = {
        let cancel = cancel.clone();
        Progress::silent()
            .with_cancel(cancel.clone())
            .with_events(move |event| {
                if matches!(event, Event::Bytes { .. }) {
                    cancel.cancel();
                }
            })
    };
    let put = drive.put(&local, &remote("/data"), &progress).await;
    assert!(matches!(put, Err(ClientError::Cancelled)), "{put:?}");
    assert_eq!(drive.stat(&remote("/data")).await.unwrap(), None);
    assert!(drive.list(&remote("/")).await.unwrap().is_empty());

    // A get cancelled midway leaves no file, whole or partial.
    drive
        .put(&local, &remote("/data"), &Progress::silent())
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let progress = {
        let cancel = cancel.clone();
        Progress::silent()
            .with_cancel(cancel.clone())
            .with_events(move |event| {
                if matches!(event, Event::Bytes { .. }) {
                    cancel.cancel();
                }
            })
    };
    let out = net.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let get = drive
        .get(&remote("/data"), &out.join("data"), &progress)
        .await;
    assert!(matches!(get, Err(ClientError::Cancelled)), "{get:?}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

    // A tree operation cancelled before it starts moves nothing.
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let progress = Progress::silent().with_cancel(cancelled);
    let tree = net.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a"), b"a").unwrap();
    let put = drive.put_tree(&tree, &remote("/tree"), &progress).await;
    assert!(matches!(put, Err(ClientError::Cancelled)), "{put:?}");
    assert_eq!(drive.stat(&remote("/tree")).await.unwrap(), None);
    let get = drive
        .get_tree(&remote("/"), &net.dir.path().join("all"), &progress)
        .await;
    assert!(matches!(get, Err(ClientError::Cancelled)), "{get:?}");
}
