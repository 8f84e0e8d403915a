//! A pool that loses its store (its data directory emptied but for `pool.key`), or has it
//! restored from an older copy, and starts again on the same address gets its peers back,
//! and they delete none of the pieces it no longer knows, even with no grace period for
//! pieces the pool does not know: the pool's records can still be recovered from them.
//! (Recovering the records themselves is issue 16's next step.)

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_client::Progress;
use cairn_client::pool::PoolClient;
use cairn_core::{MasterSecret, RemotePath};
use cairn_peer::{PeerConfig, RunningPeer};
use cairn_pool::{PoolConfig, RunningPool};
use common::PEERS;

const DEADLINE: Duration = Duration::from_secs(30);

/// Piece files under every peer's data directory.
fn piece_files(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..PEERS {
        let pieces = dir.join(format!("peer{i}")).join("pieces");
        for fan in std::fs::read_dir(&pieces).unwrap() {
            for file in std::fs::read_dir(fan.unwrap().path()).unwrap() {
                names.push(file.unwrap().file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names
}

/// The index generation each peer remembers having seen (`pool-index`:
/// `{index} {generation} {since}`).
fn generations(dir: &Path) -> Vec<u64> {
    (0..PEERS)
        .map(|i| {
            let text = std::fs::read_to_string(
                dir.join(format!("peer{i}"))
                    .join(cairn_peer::orphans::INDEX_FILE),
            )
            .unwrap();
            text.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect()
}

/// Starts the pool on `config`, retrying while its old socket still holds the port.
async fn start_pool(config: &PoolConfig) -> RunningPool {
    let start = Instant::now();
    loop {
        match RunningPool::start(config.clone()).await {
            Ok(pool) => return pool,
            Err(e) if start.elapsed() < DEADLINE => {
                eprintln!("pool not started yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the pool did not start again: {e}"),
        }
    }
}

/// Waits until every peer has registered with the pool at `url` and heartbeated since
/// (a peer decides what to delete between registering and its first heartbeat).
async fn wait_settled(url: &str) {
    let pool = PoolClient::anonymous(url).unwrap();
    let online = pool.wait_for_online(PEERS, DEADLINE).await.unwrap();
    assert_eq!(online, PEERS, "the peers came back");
    let registered = cairn_proto::clock::now_ms();
    let start = Instant::now();
    loop {
        let status = pool.network().await.unwrap();
        if status.peers.len() == PEERS
            && status
                .peers
                .iter()
                .all(|p| p.last_heartbeat_ms > registered)
        {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "the peers did not heartbeat");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A peer of the test network, running until stopped.
struct Peer {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Peer {
    /// Starts peer `i` of the network in `dir` on the pool at `url`.
    async fn start(dir: &Path, i: usize, url: &str) -> Self {
        let mut config = PeerConfig::new(
            url.to_owned(),
            dir.join(format!("peer{i}")),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            64 << 20,
        );
        // Pieces the pool does not know would go at once.
        config.orphan_grace = Duration::ZERO;
        let peer = RunningPeer::start(config).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = peer
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { task, stop }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// The pool's configuration in `dir`, with quick heartbeats.
fn pool_config(dir: &Path) -> PoolConfig {
    let mut config = PoolConfig::new(dir.join("pool"), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.timers.heartbeat_interval = Duration::from_millis(100);
    config
}

/// Uploads `len` bytes of `byte` to `path`.
async fn put(drive: &cairn_client::Drive, dir: &Path, path: &str, byte: u8) {
    let local = dir.join(format!("local-{byte}"));
    std::fs::write(&local, vec![byte; 100_000]).unwrap();
    let path = RemotePath::parse(path).unwrap();
    drive.put(&local, &path, &Progress::silent()).await.unwrap();
}

/// The SQLite files of the pool's store.
const STORE_FILES: [&str; 3] = ["pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_keep_the_pieces_of_a_pool_that_lost_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = pool_config(dir.path());
    let pool = RunningPool::start(config.clone()).await.unwrap();
    config.listen = pool.local_addr();
    let url = pool.url().to_owned();
    let mut peers = Vec::new();
    for i in 0..PEERS {
        peers.push(Peer::start(dir.path(), i, &url).await);
    }
    wait_settled(&url).await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = common::drive_at(&url, &secret);
    drive.register().await.unwrap();
    put(&drive, dir.path(), "/photo", 7).await;
    let stored = piece_files(dir.path());
    assert!(!stored.is_empty());

    // Restarted on its own store, the pool knows every piece: nothing changes.
    pool.shutdown().await;
    let pool = start_pool(&config).await;
    wait_settled(&url).await;
    assert_eq!(piece_files(dir.path()), stored);

    // The store is lost; pool.key is kept. The pool comes back knowing no piece.
    pool.shutdown().await;
    for file in STORE_FILES {
        let _ = std::fs::remove_file(config.data_dir.join(file));
    }
    let pool = start_pool(&config).await;
    wait_settled(&url).await;
    let status = PoolClient::anonymous(&url)
        .unwrap()
        .network()
        .await
        .unwrap();
    assert_eq!(status.objects, 0, "the new store knows no file");
    assert_eq!(
        piece_files(dir.path()),
        stored,
        "the peers kept every piece the pool forgot"
    );
    // Peers restarted register with it again, and still keep them.
    for peer in peers.drain(..) {
        peer.stop().await;
    }
    for i in 0..PEERS {
        peers.push(Peer::start(dir.path(), i, &url).await);
    }
    wait_settled(&url).await;
    assert_eq!(piece_files(dir.path()), stored);
    pool.shutdown().await;
    for peer in peers {
        peer.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_keep_the_pieces_of_a_pool_restored_from_an_older_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = pool_config(dir.path());
    let pool = RunningPool::start(config.clone()).await.unwrap();
    config.listen = pool.local_addr();
    let url = pool.url().to_owned();
    let mut peers = Vec::new();
    for i in 0..PEERS {
        peers.push(Peer::start(dir.path(), i, &url).await);
    }
    wait_settled(&url).await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = common::drive_at(&url, &secret);
    drive.register().await.unwrap();
    put(&drive, dir.path(), "/old", 1).await;

    // A copy of the store is kept, and the network goes on: a newer file, heard of by every
    // peer's heartbeats.
    pool.shutdown().await;
    let backup = dir.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    for file in STORE_FILES {
        let from = config.data_dir.join(file);
        if from.exists() {
            std::fs::copy(&from, backup.join(file)).unwrap();
        }
    }
    let pool = start_pool(&config).await;
    wait_settled(&url).await;
    let before = generations(dir.path());
    put(&drive, dir.path(), "/new", 2).await;
    let start = Instant::now();
    while generations(dir.path())
        .iter()
        .zip(&before)
        .any(|(now, then)| now <= then)
    {
        assert!(
            start.elapsed() < DEADLINE,
            "the peers did not hear of the newer file"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = piece_files(dir.path());

    // The store is restored from the copy, and the peers restart (so they register again
    // and weigh what the pool does not know).
    pool.shutdown().await;
    for file in STORE_FILES {
        let _ = std::fs::remove_file(config.data_dir.join(file));
        if backup.join(file).exists() {
            std::fs::copy(backup.join(file), config.data_dir.join(file)).unwrap();
        }
    }
    let pool = start_pool(&config).await;
    for peer in peers.drain(..) {
        peer.stop().await;
    }
    for i in 0..PEERS {
        peers.push(Peer::start(dir.path(), i, &url).await);
    }
    wait_settled(&url).await;
    assert!(
        drive
            .stat(&RemotePath::parse("/new").unwrap())
            .await
            .unwrap()
            .is_none(),
        "the older copy does not know the newer file"
    );
    let back = drive
        .read_range(&RemotePath::parse("/old").unwrap(), 0..u64::MAX)
        .await
        .unwrap();
    assert_eq!(back, vec![1u8; 100_000], "the older file reads as before");
    assert_eq!(
        piece_files(dir.path()),
        stored,
        "the peers kept the newer file's pieces the restored pool does not know"
    );
    pool.shutdown().await;
    for peer in peers {
        peer.stop().await;
    }
}
