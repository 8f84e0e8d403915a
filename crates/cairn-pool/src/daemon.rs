//! A running pool: opens its data directory and store, serves the API, and runs the
//! background loops — peer health by timers, round-trip probes, and collection of abandoned
//! uploads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::{PeerId, PoolId};
use cairn_proto::{OrderSigner, RequestVerifier};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::App;
use crate::config::PoolConfig;
use crate::health::{self, DEFAULT_AVAILABILITY_WINDOW, PeerSnapshot, TimersError};
use crate::probe;
use crate::store::{MetadataStore, PeerHealthUpdate, SqliteStore, StoreError};
use cairn_node::{DataDir, IdentityError};

/// The SQLite file in the data directory.
pub const DATABASE_FILE: &str = "pool.sqlite";
/// How often round-trip times are measured.
const PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// Why the pool could not start.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The data directory or identity is unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The metadata store could not be opened.
    #[error("cannot open the pool's metadata store: {0}")]
    Store(#[from] StoreError),
    /// The timers contradict each other.
    #[error("invalid timers: {0}")]
    Timers(#[from] TimersError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The durability target is not a probability strictly between 0 and 1.
    #[error("the durability target must be strictly between 0 and 1, not {0}")]
    Target(f64),
    /// TLS or an HTTP client could not be set up.
    #[error("cannot set up transport security: {0}")]
    Tls(String),
}

/// A pool serving on its address until shut down.
pub struct RunningPool {
    addr: SocketAddr,
    url: String,
    pool: PoolId,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    _data: DataDir,
}

impl RunningPool {
    /// Opens the data directory (creating the identity and store on first start), binds the
    /// listen address and starts serving.
    pub async fn start(config: PoolConfig) -> Result<Self, PoolError> {
        check(&config)?;
        let data = DataDir::open(&config.data_dir, "pool")?;
        let store = SqliteStore::open(&data.path().join(DATABASE_FILE))?;
        Self::serve(config, data, store).await
    }

    /// Like [`start`](Self::start), with `store` as the metadata store instead of the
    /// SQLite database in the data directory (which still holds the pool's identity).
    pub async fn start_with<S: MetadataStore>(
        config: PoolConfig,
        store: S,
    ) -> Result<Self, PoolError> {
        check(&config)?;
        let data = DataDir::open(&config.data_dir, "pool")?;
        Self::serve(config, data, store).await
    }

    /// Binds the listen address and starts serving from `store`.
    async fn serve<S: MetadataStore>(
        config: PoolConfig,
        data: DataDir,
        store: S,
    ) -> Result<Self, PoolError> {
        let key = data.load_or_create_key()?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| PoolError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| PoolError::Listen {
            addr: config.listen,
            source,
        })?;
        let peers = cairn_transfer::PeerClient::new().map_err(|e| PoolError::Tls(e.to_string()))?;
        // HTTPS unless told otherwise on loopback; the certificate carries the pool's key.
        let tls = if config.tls || !config.listen.ip().is_loopback() {
            Some(cairn_net::server_config(&key).map_err(|e| PoolError::Tls(e.to_string()))?)
        } else {
            None
        };
        let rates = crate::rate::KeyRates::new(config.rate_limit());
        let app = Arc::new(App {
            store,
            signer: OrderSigner::new(key),
            requests: Mutex::new(RequestVerifier::default()),
            config,
            http: reqwest::Client::new(),
            peers: Arc::new(peers),
            counters: crate::counters::Counters::default(),
            repairs: crate::repair::Repairs::default(),
            rebalance: crate::rebalance::Rebalancer::default(),
            rates: Mutex::new(rates),
            quotas: Default::default(),
            clock: cairn_proto::clock::system(),
            index_mark: Default::default(),
            reserved: Default::default(),
        });
        let pool = app.pool_id();
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let router = crate::api::router(app.clone());
        let mut serve_stop = stopped.clone();
        let url = match &tls {
            Some(_) => format!("https://{addr}#{pool}"),
            None => format!("http://{addr}"),
        };
        tasks.spawn(async move {
            let shutdown = async move { until_stopped(&mut serve_stop).await };
            cairn_net::serve(listener, router, tls, shutdown).await;
        });
        tasks.spawn(health_loop(app.clone(), stopped.clone()));
        tasks.spawn(collect_loop(app.clone(), stopped.clone()));
        let beat = app.config.timers.heartbeat_interval;
        // Damaged segments go to peers for repair, and pieces move to even out use, once
        // per heartbeat; every online peer is audited once per audit interval.
        tasks.spawn(pass_loop(
            app.clone(),
            stopped.clone(),
            beat,
            "the repair checker",
            |app| async move { crate::repair::check(&app).await },
        ));
        tasks.spawn(pass_loop(
            app.clone(),
            stopped.clone(),
            beat,
            "the rebalancer",
            |app| async move { crate::rebalance::pass(&app).await },
        ));
        let audits = app.config.audit_interval;
        tasks.spawn(pass_loop(
            app.clone(),
            stopped.clone(),
            audits,
            "the audit round",
            |app| async move { crate::audit::audit_round(&app).await },
        ));
        tasks.spawn(probe_loop(app, stopped));
        tracing::info!(pool = %pool, %addr, "pool started");
        Ok(Self {
            addr,
            url,
            pool,
            stop,
            tasks,
            _data: data,
        })
    }

    /// The address the pool listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The pool's identity.
    pub fn pool_id(&self) -> PoolId {
        self.pool
    }

    /// The address to give peers and clients: `https://HOST:PORT#POOL-ID`, or
    /// `http://HOST:PORT` on loopback without TLS.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops serving and waits for the loops to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Resolves once the stop signal is raised (or its sender is gone).
/// Refuses a configuration the pool cannot run with.
fn check(config: &PoolConfig) -> Result<(), PoolError> {
    config.timers.validate()?;
    if !(config.durability_target > 0.0 && config.durability_target < 1.0) {
        return Err(PoolError::Target(config.durability_target));
    }
    Ok(())
}

async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Runs `tick` every `every` until stopped.
async fn every<F, Fut>(every: Duration, mut stopped: watch::Receiver<bool>, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = until_stopped(&mut stopped) => return,
            _ = interval.tick() => tick().await,
        }
    }
}

/// Moves peers along `online → suspect → offline → lost` by their silence and updates
/// availability scores, once per heartbeat interval.
async fn health_loop<S: MetadataStore>(app: Arc<App<S>>, stopped: watch::Receiver<bool>) {
    let timers = app.config.timers;
    let period = (timers.heartbeat_interval / 2).max(Duration::from_millis(50));
    let mut last_tick = app.now_ms();
    every(period, stopped, || {
        let app = app.clone();
        let previous = last_tick;
        let now = app.now_ms();
        last_tick = now;
        async move {
            let peers = match app.store.peers().await {
                Ok(peers) => peers,
                Err(e) => return tracing::error!("health check could not read peers: {e}"),
            };
            let snapshots: Vec<PeerSnapshot> = peers
                .iter()
                .map(|p| PeerSnapshot {
                    id: p.id,
                    state: p.state,
                    state_since_ms: p.state_since,
                    last_heartbeat_ms: p.last_heartbeat,
                    availability: p.availability,
                })
                .collect();
            let outcome = health::tick(
                &snapshots,
                now,
                previous,
                &timers,
                DEFAULT_AVAILABILITY_WINDOW,
            );
            for change in &outcome.changes {
                tracing::info!(peer = %change.id, from = %change.from, to = %change.to, "peer state changed");
            }
            let read: HashMap<PeerId, &PeerSnapshot> =
                snapshots.iter().map(|s| (s.id, s)).collect();
            let updates = outcome
                .updates
                .into_iter()
                .filter_map(|u| {
                    let before = read.get(&u.id)?;
                    Some(PeerHealthUpdate {
                        id: u.id,
                        state: u.state,
                        state_since: u.state_since_ms,
                        availability: u.availability,
                        read_state: before.state,
                        read_heartbeat: before.last_heartbeat_ms,
                    })
                })
                .collect();
            if let Err(e) = app.store.update_health(updates).await {
                tracing::error!("health check could not save peer states: {e}");
            }
        }
    })
    .await;
}

/// Collects uploads left open past their expiry (their pieces are queued for deletion),
/// and objects kept for shares that have ended.
async fn collect_loop<S: MetadataStore>(app: Arc<App<S>>, stopped: watch::Receiver<bool>) {
    let period =
        (app.config.upload_ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    every(period, stopped, || {
        let app = app.clone();
        async move {
            match app.store.expire_uploads(app.now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "collected abandoned uploads"),
                Err(e) => tracing::error!("could not collect abandoned uploads: {e}"),
            }
            match app.store.sweep_kept(app.now_ms()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(objects = n, "let go of objects kept for shares that ended")
                }
                Err(e) => tracing::error!("could not let go of objects kept for shares: {e}"),
            }
        }
    })
    .await;
}

/// Runs `pass` every `period` (at least 50 ms) until stopped, logging a failed pass as
/// `what` failing: the repair checker, the rebalancer, the audit rounds.
async fn pass_loop<S, F, Fut>(
    app: Arc<App<S>>,
    stopped: watch::Receiver<bool>,
    period: Duration,
    what: &'static str,
    pass: F,
) where
    S: MetadataStore,
    F: Fn(Arc<App<S>>) -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    every(period.max(Duration::from_millis(50)), stopped, || {
        let run = pass(app.clone());
        async move {
            if let Err(e) = run.await {
                tracing::error!("{what} failed: {e}");
            }
        }
    })
    .await;
}

/// Measures every online peer's round-trip time now and then.
async fn probe_loop<S: MetadataStore>(app: Arc<App<S>>, stopped: watch::Receiver<bool>) {
    every(PROBE_INTERVAL, stopped, || {
        let app = app.clone();
        async move {
            let Ok(peers) = app.store.peers().await else {
                return;
            };
            for peer in peers
                .into_iter()
                .filter(|p| p.state == cairn_proto::PeerState::Online)
            {
                if let Ok(address) = cairn_proto::PeerAddr::parse(&peer.address) {
                    probe::spawn_probe(app.clone(), peer.id, address);
                }
            }
        }
    })
    .await;
}
