//! A real network in this process for the client's tests: a pool and peers on
//! 127.0.0.1:0 with data in a temp dir (`cairn_testkit::proxy::Proxy` in front of the pool
//! counts what a call asked it).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cairn_client::pool::PoolClient;
use cairn_client::{Drive, DriveOptions};
use cairn_core::{MasterSecret, PathCipher, RedundancyPolicy, RemotePath};
use cairn_peer::{PeerConfig, RunningPeer};
use cairn_pool::{PoolConfig, RunningPool};

/// Plaintext bytes per segment of the test drives.
pub const SEGMENT: u32 = 8 * 1024;
/// Peers in a test network.
pub const PEERS: usize = 4;

/// A running pool with [`PEERS`] peers; stops them when dropped.
pub struct Net {
    pub dir: tempfile::TempDir,
    pub url: String,
    _pool: RunningPool,
    pub peers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for peer in &self.peers {
            peer.abort();
        }
    }
}

pub async fn start() -> Net {
    start_with(|_| {}).await
}

pub async fn start_with(configure: impl FnOnce(&mut PoolConfig)) -> Net {
    start_sized(64 << 20, configure).await
}

/// A network whose peers lend `capacity` bytes each.
pub async fn start_sized(capacity: u64, configure: impl FnOnce(&mut PoolConfig)) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = PoolConfig::new(dir.path().join("pool"), local);
    config.timers.heartbeat_interval = Duration::from_millis(200);
    configure(&mut config);
    let pool = RunningPool::start(config).await.unwrap();
    let url = format!("http://{}", pool.local_addr());
    let mut peers = Vec::new();
    for i in 0..PEERS {
        let config = PeerConfig::new(
            url.clone(),
            dir.path().join(format!("peer{i}")),
            local,
            capacity,
        );
        let peer = RunningPeer::start(config).await.unwrap();
        peers.push(tokio::spawn(async move {
            let _ = peer.run_until(std::future::pending()).await;
        }));
    }
    let client = PoolClient::anonymous(&url).unwrap();
    let online = client
        .wait_for_online(PEERS, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(online >= PEERS, "peers did not come online");
    Net {
        dir,
        url,
        _pool: pool,
        peers,
    }
}

/// Options storing `ec:2+2` in [`SEGMENT`]-byte segments.
pub fn options() -> DriveOptions {
    DriveOptions {
        redundancy: RedundancyPolicy::Fixed(cairn_core::Redundancy::ec(2, 2).unwrap()),
        segment_size: SEGMENT,
        ..DriveOptions::default()
    }
}

/// A drive on the pool at `url` with [`options`].
pub fn drive_at(url: &str, secret: &MasterSecret) -> Drive {
    Drive::new(url, secret, options()).unwrap()
}

/// Deletes, on every peer's disk, the files of the pieces of segment `index`.
pub async fn destroy_segment(net: &Net, secret: &MasterSecret, path: &RemotePath, index: u32) {
    let encrypted = PathCipher::new(&secret.path_key()).encrypt(path);
    let pool = PoolClient::new(&net.url, secret.account_key()).unwrap();
    let object = pool.object(encrypted.as_str()).await.unwrap().unwrap();
    let segment = object.segments.iter().find(|s| s.index == index).unwrap();
    let mut removed = 0;
    for piece in &segment.pieces {
        let name = piece.hash.to_string();
        for i in 0..PEERS {
            let file = net
                .dir
                .path()
                .join(format!("peer{i}"))
                .join("pieces")
                .join(&name[..2])
                .join(&name);
            if Path::new(&file).exists() {
                std::fs::remove_file(&file).unwrap();
                removed += 1;
            }
        }
    }
    assert_eq!(removed, segment.pieces.len());
}
