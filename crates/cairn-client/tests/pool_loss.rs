//! A pool that loses its store (its data directory emptied but for `pool.key`) and starts
//! again on the same address gets its peers back, and they delete none of the pieces it no
//! longer knows, even with no grace period for pieces the pool does not know: the pool's
//! records can still be recovered from them. (Recovering the records themselves is issue
//! 16's next step.)

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_keep_the_pieces_of_a_pool_that_lost_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let pool_dir = dir.path().join("pool");
    let mut config = PoolConfig::new(pool_dir.clone(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.timers.heartbeat_interval = Duration::from_millis(100);
    let pool = RunningPool::start(config.clone()).await.unwrap();
    config.listen = pool.local_addr();
    let url = pool.url().to_owned();
    let mut peers = Vec::new();
    for i in 0..PEERS {
        let mut peer = PeerConfig::new(
            url.clone(),
            dir.path().join(format!("peer{i}")),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            64 << 20,
        );
        // Pieces the pool does not know would go at once.
        peer.orphan_grace = Duration::ZERO;
        let peer = RunningPeer::start(peer).await.unwrap();
        peers.push(tokio::spawn(async move {
            let _ = peer.run_until(std::future::pending()).await;
        }));
    }
    wait_settled(&url).await;

    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = common::drive_at(&url, &secret);
    drive.register().await.unwrap();
    let local = dir.path().join("photo");
    std::fs::write(&local, vec![7u8; 100_000]).unwrap();
    let path = RemotePath::parse("/photo").unwrap();
    drive.put(&local, &path, &Progress::silent()).await.unwrap();
    let stored = piece_files(dir.path());
    assert!(!stored.is_empty());

    // Restarted on its own store, the pool knows every piece: nothing changes.
    pool.shutdown().await;
    let pool = start_pool(&config).await;
    wait_settled(&url).await;
    assert_eq!(piece_files(dir.path()), stored);

    // The store is lost; pool.key is kept. The pool comes back knowing no piece.
    pool.shutdown().await;
    for file in std::fs::read_dir(&pool_dir).unwrap() {
        let file = file.unwrap().path();
        if file.file_name().and_then(|n| n.to_str()) != Some("pool.key") {
            std::fs::remove_file(&file).unwrap();
        }
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
    pool.shutdown().await;
    for peer in peers {
        peer.abort();
    }
}
