//! A whole Cairn network in this process, as `cairn local` starts it: one pool and N
//! peers on loopback, their data in a temporary directory.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_peer::{PeerConfig, RunningPeer};
use cairn_pool::health::HealthTimers;
use cairn_pool::{PoolConfig, RunningPool};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long the peers may take to come online.
const READY: Duration = Duration::from_secs(60);

/// A running pool and its peers; [`LocalNetwork::shutdown`] stops them all.
pub struct LocalNetwork {
    pool: Option<RunningPool>,
    config: PoolConfig,
    count: usize,
    url: String,
    stop: watch::Sender<bool>,
    peers: JoinSet<Result<(), cairn_peer::PeerError>>,
}

impl LocalNetwork {
    /// Starts a pool and `peers` peers lending `capacity` bytes each under `dir`, and
    /// waits until every peer is online.
    pub async fn start(dir: &Path, peers: usize, capacity: u64) -> anyhow::Result<Self> {
        let mut config = PoolConfig::new(dir.join("pool"), SocketAddr::from(([127, 0, 0, 1], 0)));
        // The same timers as `cairn local`: nothing goes offline or gets repaired mid-run.
        config.timers = HealthTimers {
            heartbeat_interval: Duration::from_secs(2),
            offline_after: Duration::from_secs(10),
            repair_after: Duration::from_secs(120),
        };
        config.audit_interval = Duration::from_secs(60);
        let pool = RunningPool::start(config.clone())
            .await
            .context("cannot start the pool on 127.0.0.1")?;
        config.listen = pool.local_addr();
        let url = pool.url().to_owned();
        let (stop, stopped) = watch::channel(false);
        let mut running = JoinSet::new();
        for i in 1..=peers {
            let config = PeerConfig::new(
                url.clone(),
                dir.join(format!("peer-{i}")),
                SocketAddr::from(([127, 0, 0, 1], 0)),
                capacity,
            );
            let peer = RunningPeer::start(config)
                .await
                .with_context(|| format!("cannot start peer {i}"))?;
            let mut stopped = stopped.clone();
            running.spawn(async move {
                peer.run_until(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
            });
        }
        let network = Self {
            pool: Some(pool),
            config,
            count: peers,
            url,
            stop,
            peers: running,
        };
        network.wait_for_peers(peers).await?;
        Ok(network)
    }

    /// The pool's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn wait_for_peers(&self, want: usize) -> anyhow::Result<()> {
        let client = cairn_client::pool::PoolClient::anonymous(&self.url)?;
        let online = client.wait_for_online(want, READY).await?;
        if online < want {
            bail!("only {online} of {want} peers came online within {READY:?}");
        }
        Ok(())
    }

    /// Stops the pool, deletes its store (keeping `pool.key`), starts it again on the same
    /// address and waits until every peer has registered with it again.
    pub async fn lose_store(&mut self) -> anyhow::Result<()> {
        if let Some(pool) = self.pool.take() {
            pool.shutdown().await;
        }
        for file in ["pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm"] {
            let path = self.config.data_dir.join(file);
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        let deadline = tokio::time::Instant::now() + READY;
        let pool = loop {
            match RunningPool::start(self.config.clone()).await {
                Ok(pool) => break pool,
                // The old socket may hold the port a moment longer.
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e).context("cannot start the pool again"),
            }
        };
        self.pool = Some(pool);
        self.wait_for_peers(self.count).await
    }

    /// Stops the peers, then the pool.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while let Some(done) = self.peers.join_next().await {
            if let Ok(Err(e)) = done {
                eprintln!("a peer stopped with an error: {e}");
            }
        }
        if let Some(pool) = self.pool.take() {
            pool.shutdown().await;
        }
    }
}
