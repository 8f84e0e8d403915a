//! A real network in this process for the drive server's tests: a pool and peers on
//! 127.0.0.1:0 with data in a temp dir, a client home on it, and the drive's web server on
//! that home; plus an HTTP client that signs in the way a browser does.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_client::pool::PoolClient;
use cairn_client::{Drive, DriveOptions, Home, Protection};
use cairn_core::{KdfParams, MasterSecret};
use cairn_peer::{PeerConfig, RunningPeer};
use cairn_pool::{PoolConfig, RunningPool};
use cairn_web::{RunningUi, UiConfig};
use reqwest::header::{COOKIE, HeaderMap, HeaderValue, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;

pub const PEERS: usize = 4;

/// Small segments, so small test files span several.
pub fn options() -> DriveOptions {
    DriveOptions {
        segment_size: 64 * 1024,
        redundancy: cairn_core::RedundancyPolicy::Fixed(cairn_core::Redundancy::ec(2, 2).unwrap()),
        ..DriveOptions::default()
    }
}

pub struct Net {
    pub dir: tempfile::TempDir,
    pub url: String,
    pool: Option<RunningPool>,
    config: PoolConfig,
    peers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for peer in &self.peers {
            peer.abort();
        }
    }
}

pub async fn network() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = PoolConfig::new(dir.path().join("pool"), local);
    config.timers.heartbeat_interval = Duration::from_millis(200);
    let pool = RunningPool::start(config.clone()).await.unwrap();
    config.listen = pool.local_addr();
    let url = format!("http://{}", pool.local_addr());
    let mut peers = Vec::new();
    for i in 0..PEERS {
        let config = PeerConfig::new(
            url.clone(),
            dir.path().join(format!("peer{i}")),
            local,
            256 << 20,
        );
        let peer = RunningPeer::start(config).await.unwrap();
        peers.push(tokio::spawn(async move {
            let _ = peer.run_until(std::future::pending()).await;
        }));
    }
    let online = PoolClient::anonymous(&url)
        .unwrap()
        .wait_for_online(PEERS, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(online >= PEERS, "peers did not come online");
    Net {
        dir,
        url,
        pool: Some(pool),
        config,
        peers,
    }
}

impl Net {
    /// The pool loses its store (`pool.key` kept) and starts again on the same address;
    /// returns once every peer has registered with it again.
    pub async fn lose_store(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.shutdown().await;
        }
        for file in ["pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm"] {
            let _ = std::fs::remove_file(self.config.data_dir.join(file));
        }
        let config = self.config.clone();
        let pool =
            cairn_testkit::wait_until("the pool to start again", Duration::from_secs(20), || {
                let config = config.clone();
                async move { RunningPool::start(config).await.ok() }
            })
            .await
            .unwrap();
        self.pool = Some(pool);
        let online = PoolClient::anonymous(&self.url)
            .unwrap()
            .wait_for_online(PEERS, Duration::from_secs(20))
            .await
            .unwrap();
        assert!(online >= PEERS, "peers did not come back");
    }
}

impl Net {
    /// A home with an account on this pool; `passphrase` protects it (fast parameters).
    pub async fn home(&self, name: &str, passphrase: Option<&str>) -> (PathBuf, Drive) {
        let dir = self.dir.path().join(name);
        let secret = MasterSecret::generate(&mut rand::rng());
        let drive = Drive::new(&self.url, &secret, options()).unwrap();
        drive.register().await.unwrap();
        let protection = match passphrase {
            Some(p) => Protection::Passphrase(p.as_bytes(), KdfParams::INSECURE_FAST),
            None => Protection::Playground,
        };
        Home::create(&dir, &self.url, &secret, protection, &mut rand::rng()).unwrap();
        (dir, drive)
    }
}

impl Net {
    /// A home on this pool reached through `url` instead (a proxy in front of it).
    pub async fn home_via(&self, name: &str, url: &str) -> (PathBuf, Drive) {
        let dir = self.dir.path().join(name);
        let secret = MasterSecret::generate(&mut rand::rng());
        let drive = Drive::new(&self.url, &secret, options()).unwrap();
        drive.register().await.unwrap();
        Home::create(&dir, url, &secret, Protection::Playground, &mut rand::rng()).unwrap();
        (dir, drive)
    }
}

/// The drive's server on `home`, and a client that has not signed in yet.
pub async fn serve(home: &Path) -> (RunningUi, Browser) {
    serve_with(home, |_| {}).await
}

/// [`serve`] with the configuration adjusted.
pub async fn serve_with(
    home: &Path,
    configure: impl FnOnce(&mut UiConfig),
) -> (RunningUi, Browser) {
    let mut config = UiConfig::new(home);
    config.options = options();
    configure(&mut config);
    let ui = RunningUi::start(config).await.unwrap();
    let browser = Browser::new(&ui);
    (ui, browser)
}

/// What a browser does at the HTTP level: its origin, its cookie, no automatic redirects.
pub struct Browser {
    pub base: String,
    pub login: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(ui: &RunningUi) -> Self {
        Self {
            base: format!("http://{}", ui.local_addr()),
            login: ui.url().to_owned(),
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Follows the printed address and keeps the cookie it sets.
    pub async fn sign_in(&mut self) {
        let answer = self.http.get(&self.login).send().await.unwrap();
        assert_eq!(answer.status(), 303, "the sign-in address redirects");
        let cookie = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        self.cookie = Some(cookie.split(';').next().unwrap().to_owned());
    }

    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = &self.cookie {
            headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        headers.insert(ORIGIN, HeaderValue::from_str(&self.base).unwrap());
        headers
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .headers(self.headers())
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .headers(self.headers())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .headers(self.headers())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Announces an upload of `size` bytes to `path` (`POST /api/uploads`); its id.
    pub async fn announce(&self, path: &str, size: usize) -> u64 {
        let begun: serde_json::Value = self
            .post_json(
                "/api/uploads",
                serde_json::json!({ "path": path, "size": size }),
            )
            .await
            .json()
            .await
            .unwrap();
        begun["id"].as_u64().unwrap()
    }

    pub async fn put(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .put(format!("{}{path}", self.base))
            .headers(self.headers())
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads `bytes` to `path` the way the page does: announce, then chunks.
    pub async fn upload(&self, path: &str, bytes: &[u8], chunk: usize) -> serde_json::Value {
        let begun: serde_json::Value = self
            .post_json(
                "/api/uploads",
                serde_json::json!({ "path": path, "size": bytes.len() }),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = begun["id"].as_u64().expect("an upload id");
        let mut offset = 0;
        loop {
            let end = (offset + chunk).min(bytes.len());
            let answer = self
                .put(
                    &format!("/api/uploads/{id}?offset={offset}"),
                    bytes[offset..end].to_vec(),
                )
                .await;
            let body: serde_json::Value = answer.json().await.unwrap();
            if body["stored"] == true || body.get("error").is_some() {
                return body;
            }
            offset = body["received"].as_u64().unwrap() as usize;
        }
    }

    /// Where a redirect points.
    pub fn location(answer: &reqwest::Response) -> String {
        answer.headers()[LOCATION].to_str().unwrap().to_owned()
    }
}

/// Bytes that differ from offset to offset.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(seed ^ (i >> 9) as u8)
        })
        .collect()
}
