//! A real network in this process for the client's tests: a pool and peers on
//! 127.0.0.1:0 with data in a temp dir, and a pass-through proxy in front of the pool that
//! records every request's route, so a test can count what a call asked the pool.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
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

/// A proxy in front of a pool that forwards every request unchanged (signatures cover the
/// path and body, not the host) and records its method and path.
pub struct Counted {
    pub url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Counted {
    /// Starts a proxy to the pool at `target`.
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let http = reqwest::Client::new();
        let target = target.to_owned();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (http, target, log) = (http.clone(), target.clone(), log.clone());
            async move {
                let (parts, body) = request.into_parts();
                log.lock()
                    .unwrap()
                    .push((parts.method.to_string(), parts.uri.path().to_owned()));
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut headers = parts.headers.clone();
                headers.remove(axum::http::header::HOST);
                let answer = http
                    .request(parts.method, format!("{target}{path}"))
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let mut response = axum::response::Response::builder().status(answer.status());
                for (name, value) in answer.headers() {
                    if name != axum::http::header::TRANSFER_ENCODING
                        && name != axum::http::header::CONTENT_LENGTH
                    {
                        response = response.header(name, value);
                    }
                }
                let bytes = answer.bytes().await.unwrap();
                response.body(axum::body::Body::from(bytes)).unwrap()
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, seen, task }
    }

    /// Requests seen so far, as (method, path), and forgets them.
    pub fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
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
