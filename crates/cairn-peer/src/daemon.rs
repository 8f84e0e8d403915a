//! A running peer: opens its data directory, serves the data path, and keeps in touch with
//! its pool — learns the pool's identity (and refuses a different pool later), registers
//! with its inventory, heartbeats, deletes pieces on the pool's signed word, and runs the
//! repair jobs heartbeat answers carry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{PieceHash, PoolId};
use cairn_net::{ConnectError, PoolCallError, SignedClient};
use cairn_node::{DataDir, IdentityError};
use cairn_proto::api::{
    self, Heartbeat, HeartbeatAck, LedgerPiece, PeerRegistered, PoolIndex, PoolInfo, RegisterPeer,
    RepairJob, RepairReport,
};
use cairn_proto::{ErrorBody, OrderAction, PeerAddr};
use cairn_transfer::{PeerClient, PeerTransport};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use crate::orphans;
use crate::service::PeerService;
use crate::store::{PieceStore, StoreError};
use cairn_proto::clock::now_ms;

/// File remembering the pool this peer serves.
pub const POOL_FILE: &str = "pool.id";

/// File remembering the URL the peer last reached its pool at (for `cairn peer leave`).
pub const POOL_URL_FILE: &str = "pool.url";

/// How long pieces are kept for recovery after the pool's index was made anew or rolled
/// back, by default (see [`PeerConfig::recovery_window`]).
pub const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Everything `cairn peer` can be told.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The pool's base URL.
    pub pool: String,
    /// Data directory: identity, pieces and their index.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Bytes offered.
    pub capacity: u64,
    /// Failure domain, if named.
    pub zone: Option<String>,
    /// Base URL to register (default `http://` + the bound address).
    pub advertise: Option<String>,
    /// How long a piece the pool does not know is kept before it is deleted.
    pub orphan_grace: Duration,
    /// How long pieces held when the pool's index was made anew or rolled back (a lost or
    /// restored store) are kept for their owners to recover, before those still unclaimed
    /// are deleted as any piece the pool does not know.
    pub recovery_window: Duration,
    /// Serve HTTPS even on a loopback address (it always does on any other).
    pub tls: bool,
    /// Join the pool at [`pool`](Self::pool) even though this peer belongs to another: the
    /// operator's word that the old pool is gone for good (its `pool.key` lost). Every
    /// piece held is kept, for the new pool's index to recover.
    pub join_new_pool: bool,
    /// How long a client may take to send a piece body: one that stalls this long, or
    /// takes longer than this plus one second per [`crate::server::MIN_BODY_RATE`] bytes, is
    /// refused with `408` and nothing is stored.
    pub body_timeout: Duration,
}

impl PeerConfig {
    /// A configuration with defaults for the rest.
    pub fn new(pool: String, data_dir: PathBuf, listen: SocketAddr, capacity: u64) -> Self {
        Self {
            pool,
            data_dir,
            listen,
            capacity,
            zone: None,
            advertise: None,
            orphan_grace: Duration::from_secs(24 * 60 * 60),
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            join_new_pool: false,
            tls: false,
            body_timeout: crate::server::DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// Why the peer could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The data directory or identity is unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The piece store could not be opened.
    #[error("cannot open the piece store: {0}")]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The pool at the URL is not the pool this peer joined.
    #[error(
        "the pool at {url} is {found}, but this peer belongs to pool {expected}; use the right --pool, or, if pool {expected} is gone for good (its pool.key lost), add --join-new-pool to join this one keeping every piece held"
    )]
    WrongPool {
        /// The URL.
        url: String,
        /// The pool remembered.
        expected: PoolId,
        /// The pool that answered.
        found: PoolId,
    },
    /// The pool refused the peer for good.
    #[error("the pool refused this peer: {0}")]
    Refused(String),
    /// The pool's address cannot be used.
    #[error("{0}")]
    PoolAddress(String),
    /// TLS or an HTTP client could not be set up.
    #[error("cannot set up transport security: {0}")]
    Tls(String),
    /// The address to advertise is not one other peers and clients could dial.
    #[error("cannot advertise this address: {0}")]
    Advertise(#[from] cairn_proto::PeerAddrError),
}

/// A peer serving until shut down.
pub struct RunningPeer {
    addr: SocketAddr,
    url: String,
    service: Arc<PeerService>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<(), PeerError>>,
    _data: DataDir,
}

impl RunningPeer {
    /// Opens the data directory, binds the address and starts serving and the pool loop.
    pub async fn start(config: PeerConfig) -> Result<Self, PeerError> {
        let data = DataDir::open(&config.data_dir, "peer")?;
        let key = data.load_or_create_key()?;
        let store = PieceStore::open(data.path(), config.capacity)?;
        let service = Arc::new(PeerService::new(store, key.clone()));
        if let Some(pool) = remembered_pool(&config)? {
            service.trust_pool(pool);
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| PeerError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| PeerError::Listen {
            addr: config.listen,
            source,
        })?;
        let pool_identity = cairn_net::Endpoint::parse(&config.pool)
            .map_err(|e| PeerError::PoolAddress(e.to_string()))?
            .identity;
        let builder = reqwest::Client::builder().timeout(POOL_REQUEST_TIMEOUT);
        let pool = SignedClient::connect(&config.pool, builder, Some(key.clone())).map_err(
            |e| match e {
                ConnectError::Address(e) => PeerError::PoolAddress(e.to_string()),
                ConnectError::Build(e) => {
                    PeerError::Tls(format!("cannot build an HTTP client: {e}"))
                }
            },
        )?;
        // HTTPS unless told otherwise on loopback; the certificate carries the peer's key,
        // which everyone dialling it pins.
        let tls = if config.tls || !addr.ip().is_loopback() {
            Some(cairn_net::server_config(&key).map_err(|e| PeerError::Tls(e.to_string()))?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let router = crate::server::router_with(service.clone(), config.body_timeout);
        let mut serve_stop = stopped.clone();
        tasks.spawn(async move {
            let shutdown = async move { until_stopped(&mut serve_stop).await };
            cairn_net::serve(listener, router, tls, shutdown).await;
            Ok(())
        });
        let url = format!("{scheme}://{addr}");
        let advertise = PeerAddr::parse(config.advertise.as_deref().unwrap_or(&url))?;
        let link = PoolLink {
            pool,
            pool_identity,
            config,
            service: service.clone(),
            advertise,
            peers: Arc::new(
                PeerClient::new()
                    .map_err(|e| PeerError::Refused(format!("cannot build an HTTP client: {e}")))?,
            ),
            repairs: Arc::new(Semaphore::new(CONCURRENT_REPAIRS)),
            wake: Arc::new(Notify::new()),
        };
        let mut link_stop = stopped;
        tasks.spawn(async move {
            tokio::select! {
                () = until_stopped(&mut link_stop) => Ok(()),
                result = link.run() => result,
            }
        });
        Ok(Self {
            addr,
            url,
            service,
            stop,
            tasks,
            _data: data,
        })
    }

    /// The address the peer listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL it serves at (`https://` unless plain on loopback).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The data path (for tests and status).
    pub fn service(&self) -> &Arc<PeerService> {
        &self.service
    }

    /// Runs until `shutdown` resolves or a task fails for good.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), PeerError> {
        let result = tokio::select! {
            () = shutdown => Ok(()),
            Some(done) = self.tasks.join_next() => match done {
                Ok(result) => result,
                Err(e) => Err(PeerError::Refused(format!("a peer task failed: {e}"))),
            },
        };
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        result
    }
}

async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

fn remembered_pool(config: &PeerConfig) -> Result<Option<PoolId>, PeerError> {
    let path = config.data_dir.join(POOL_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| PeerError::Refused(format!("{} is damaged: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PeerError::Store(StoreError::Io(e.to_string()))),
    }
}

/// Why one exchange with the pool failed.
#[derive(Debug)]
enum LinkError {
    /// The pool could not be reached or answered nonsense: retry.
    Transient(String),
    /// The pool answered with an error.
    Refused(u16, ErrorBody),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transient(why) => f.write_str(why),
            Self::Refused(status, body) => write!(f, "{status}: {body}"),
        }
    }
}

/// How long one request to the pool may take.
const POOL_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Repair jobs a peer runs at once; more wait their turn.
const CONCURRENT_REPAIRS: usize = 2;

/// The peer's side of the conversation with its pool.
#[derive(Clone)]
struct PoolLink {
    /// The pool, signed to as this peer.
    pool: SignedClient,
    config: PeerConfig,
    /// The pool's identity, when its address carries one.
    pool_identity: Option<[u8; 32]>,
    service: Arc<PeerService>,
    advertise: PeerAddr,
    /// The other peers' data path, for repairs.
    peers: Arc<dyn PeerTransport>,
    repairs: Arc<Semaphore>,
    wake: Arc<Notify>,
}

impl PoolLink {
    async fn run(self) -> Result<(), PeerError> {
        let pool = self.discover().await?;
        let mut deleted: Vec<PieceHash> = Vec::new();
        let mut backoff = Duration::from_millis(100);
        'register: loop {
            let registered = match self.register().await {
                Ok(r) => r,
                Err(LinkError::Refused(403, body)) => return Err(PeerError::Refused(body.message)),
                Err(e) => {
                    tracing::warn!("cannot register with the pool: {e}; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if registered.pool != pool {
                return Err(PeerError::WrongPool {
                    url: self.config.pool.clone(),
                    expected: pool,
                    found: registered.pool,
                });
            }
            backoff = Duration::from_millis(100);
            tracing::info!(peer = %registered.peer, state = %registered.state, "registered with the pool");
            self.collect_orphans(&registered).await;
            let interval = Duration::from_millis(registered.heartbeat_interval_ms.max(50));
            loop {
                // A finished repair job heartbeats at once, to report in and take the next.
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = self.wake.notified() => {}
                }
                let (used, piece_count) = self.service.store().usage();
                let beat = Heartbeat {
                    used,
                    piece_count,
                    load: self.service.load(),
                    deleted: deleted.clone(),
                };
                match self
                    .signed::<_, HeartbeatAck>(api::PEER_HEARTBEAT, &beat)
                    .await
                {
                    Ok(ack) => {
                        self.observe_index(ack.index.clone(), now_ms()).await;
                        deleted = self.apply_deletes(&ack);
                        for job in ack.repairs {
                            tokio::spawn(self.clone().repair(job));
                        }
                    }
                    Err(LinkError::Refused(404, _)) => continue 'register,
                    Err(LinkError::Refused(403, body)) => {
                        return Err(PeerError::Refused(body.message));
                    }
                    Err(e) => tracing::warn!("heartbeat failed: {e}"),
                }
            }
        }
    }

    /// Learns the pool's identity, retrying while it is unreachable; remembers it on first
    /// contact and refuses a different pool afterwards.
    async fn discover(&self) -> Result<PoolId, PeerError> {
        let mut backoff = Duration::from_millis(100);
        let info = loop {
            match self.pool.get_public::<PoolInfo>(api::INFO).await {
                Ok(info) => break info,
                Err(PoolCallError::Refused { status, .. }) => {
                    tracing::warn!("the pool answered {status}; retrying")
                }
                Err(PoolCallError::Unreachable { source, .. }) => tracing::warn!(
                    "cannot reach the pool at {}: {source}; retrying",
                    self.config.pool
                ),
                Err(e) => tracing::warn!("the pool's info is unreadable: {e}"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        };
        if let Some(identity) = self.pool_identity
            && identity != *info.pool.as_bytes()
            && let Ok(expected) = PoolId::from_bytes(identity)
        {
            return Err(PeerError::WrongPool {
                url: self.config.pool.clone(),
                expected,
                found: info.pool,
            });
        }
        match remembered_pool(&self.config)? {
            Some(expected) if expected != info.pool && !self.config.join_new_pool => {
                return Err(PeerError::WrongPool {
                    url: self.config.pool.clone(),
                    expected,
                    found: info.pool,
                });
            }
            Some(expected) if expected != info.pool => {
                cairn_node::write_private_file(
                    &self.config.data_dir,
                    &self.config.data_dir.join(POOL_FILE),
                    info.pool.to_string().as_bytes(),
                )?;
                tracing::warn!(
                    old = %expected,
                    new = %info.pool,
                    "this peer now belongs to the pool at {}; every piece it held is kept for that pool to recover",
                    self.config.pool
                );
            }
            Some(_) => {}
            None => {
                cairn_node::write_private_file(
                    &self.config.data_dir,
                    &self.config.data_dir.join(POOL_FILE),
                    info.pool.to_string().as_bytes(),
                )?;
            }
        }
        // Only a URL that answered as this peer's own pool is remembered.
        let url_file = self.config.data_dir.join(POOL_URL_FILE);
        if std::fs::read_to_string(&url_file).ok().as_deref() != Some(self.config.pool.as_str()) {
            cairn_node::write_private_file(
                &self.config.data_dir,
                &url_file,
                self.config.pool.as_bytes(),
            )?;
        }
        self.service.trust_pool(info.pool);
        Ok(info.pool)
    }

    async fn register(&self) -> Result<PeerRegistered, LinkError> {
        let inventory = self
            .service
            .store()
            .inventory()
            .map_err(|e| LinkError::Transient(e.to_string()))?;
        let ledger = self
            .service
            .store()
            .ledger_pieces()
            .map_err(|e| LinkError::Transient(e.to_string()))?
            .into_iter()
            .map(|(hash, locator)| LedgerPiece {
                hash,
                locator: locator.to_string(),
                size: self.service.store().size_of(&hash).unwrap_or(0),
            })
            .collect();
        let (used, _) = self.service.store().usage();
        let body = RegisterPeer {
            ledger,
            address: self.advertise.clone(),
            zone: self.config.zone.clone(),
            capacity: self.config.capacity,
            used,
            pieces: inventory.into_iter().map(|(hash, _)| hash).collect(),
        };
        self.signed(api::PEER_REGISTER, &body).await
    }

    /// Notes the pool's index as a registration or heartbeat names it (see
    /// [`crate::orphans`]; the memory's fsync runs off the async threads); answers since
    /// when pieces the pool does not know may be deleted, `None` if none may.
    async fn observe_index(&self, index: Option<PoolIndex>, now: u64) -> Option<u64> {
        let dir = self.config.data_dir.clone();
        let observed =
            tokio::task::spawn_blocking(move || orphans::observe(&dir, index.as_ref(), now)).await;
        match observed {
            Ok(Ok(Some((since, met)))) => {
                match met {
                    orphans::Met::Changed => tracing::warn!(
                        "the pool's index of records is not the one this peer knew (its store was made anew): every piece held now is kept for it to recover"
                    ),
                    orphans::Met::RolledBack => tracing::warn!(
                        "the pool's index of records is behind what this peer saw (its store was restored from an older copy): every piece held now is kept for it to recover"
                    ),
                    orphans::Met::Known | orphans::Met::First => {}
                }
                Some(since)
            }
            Ok(Ok(None)) => None,
            Ok(Err(e)) => {
                tracing::warn!("cannot remember the pool's index ({e}); nothing is deleted");
                None
            }
            Err(e) => {
                tracing::warn!(
                    "cannot remember the pool's index (the task stopped: {e}); nothing is deleted"
                );
                None
            }
        }
    }

    /// Deletes pieces the pool does not know once they are older than the grace period —
    /// only those stored since this peer met the pool's index as it is (see
    /// [`crate::orphans`]): a pool on a store made anew or restored may yet recover the others.
    async fn collect_orphans(&self, registered: &PeerRegistered) {
        let now = now_ms();
        let Some(since) = self.observe_index(registered.index.clone(), now).await else {
            if !registered.unknown_pieces.is_empty() {
                tracing::info!(
                    unknown = registered.unknown_pieces.len(),
                    "pieces the pool does not know are kept: it names no index of records it keeps"
                );
            }
            return;
        };
        if registered.unknown_pieces.is_empty() {
            return;
        }
        let Ok(inventory) = self.service.store().inventory() else {
            return;
        };
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let rule = orphans::Collect {
            since,
            cutoff: now.saturating_sub(millis(self.config.orphan_grace)),
            window_over: now >= since.saturating_add(millis(self.config.recovery_window)),
        };
        let doomed = orphans::collectable(&inventory, &registered.unknown_pieces, rule);
        let kept = registered.unknown_pieces.len().saturating_sub(doomed.len());
        if kept > 0 {
            tracing::info!(
                kept,
                "pieces the pool does not know are kept (held since before its index, within the recovery window, or within the grace period)"
            );
        }
        for hash in doomed {
            match self.service.store().delete(&hash) {
                Ok(_) => tracing::info!(piece = %hash, "deleted a piece the pool does not know"),
                Err(e) => tracing::warn!(piece = %hash, "cannot delete orphan piece: {e}"),
            }
        }
    }

    /// Carries out the delete orders in a heartbeat answer; returns the pieces now gone.
    fn apply_deletes(&self, ack: &HeartbeatAck) -> Vec<PieceHash> {
        let mut done = Vec::new();
        for order in &ack.delete {
            let piece = order.order.piece;
            match self.service.check(order, OrderAction::Delete, &piece, 0) {
                Ok(()) => match self.service.store().delete(&piece) {
                    Ok(_) => done.push(piece),
                    Err(e) => tracing::warn!(piece = %piece, "cannot delete piece: {e}"),
                },
                Err(e) => tracing::warn!(piece = %piece, "refused a delete order: {e}"),
            }
        }
        done
    }

    /// Runs one repair job (a few at a time) and reports its outcome to the pool.
    async fn repair(self, job: RepairJob) {
        let Ok(_turn) = self.repairs.clone().acquire_owned().await else {
            return;
        };
        tracing::info!(job = %job.job, pieces = job.targets.len(), "running a repair job");
        let report = match crate::repair::run(self.peers.as_ref(), &job).await {
            Ok(pieces) => RepairReport {
                job: job.job.clone(),
                pieces,
                error: None,
            },
            Err(shortfall) => {
                tracing::warn!(job = %job.job, "repair fell short: {}", shortfall.error);
                RepairReport {
                    job: job.job.clone(),
                    pieces: shortfall.pieces,
                    error: Some(shortfall.error),
                }
            }
        };
        if let Err(e) = self.signed::<_, ()>(api::REPAIR_REPORT, &report).await {
            tracing::warn!(job = %job.job, "could not report a repair: {e}");
        }
        self.wake.notify_one();
    }

    /// A signed JSON `POST` to the pool.
    async fn signed<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, LinkError> {
        self.pool.post(path, body).await.map_err(|e| match e {
            PoolCallError::Refused { status, error, .. } => LinkError::Refused(status, error),
            other => LinkError::Transient(other.to_string()),
        })
    }
}
