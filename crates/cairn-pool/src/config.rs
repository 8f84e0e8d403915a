//! How a pool runs: where it keeps its state, where it listens, its timers and limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::health::HealthTimers;
use crate::rate::RateLimit;

/// Bytes of pieces one account may store by default (1 TiB).
pub const DEFAULT_ACCOUNT_QUOTA: u64 = 1 << 40;

/// Everything `cairn pool` can be told.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Data directory: identity, lock and the SQLite metadata store.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Heartbeat interval and the silences after which a peer is offline or lost.
    pub timers: HealthTimers,
    /// How long an upload may stay open before it is abandoned and its pieces collected.
    pub upload_ttl: Duration,
    /// How long a get or put order stays valid.
    pub order_ttl: Duration,
    /// The durability `auto` redundancy aims for, e.g. 0.999999.
    pub durability_target: f64,
    /// Spare peers offered per segment for long-tail cancellation.
    pub spares: usize,
    /// Serve HTTPS even on a loopback address (it always does on any other).
    pub tls: bool,
    /// How often every online peer is audited (one random slice of one random piece).
    pub audit_interval: Duration,
    /// Audit failures in a row after which a peer is disqualified.
    pub disqualify_after: u32,
    /// A segment is repaired once this many of its pieces are gone (lost, departed,
    /// disqualified or damaged); 1 repairs at the first loss.
    pub repair_threshold: u16,
    /// Repair jobs in flight at once, across the pool.
    pub max_repairs: usize,
    /// Rebalancing stops when online peers' utilisation (used / capacity) differs by at
    /// most this much between the fullest and the emptiest.
    pub rebalance_tolerance: f64,
    /// Migration jobs in flight at once, across the pool (the rate limit of rebalancing).
    pub max_migrations: usize,
    /// How long a client may take to send a request body: a body that stalls this long, or
    /// takes longer than this plus one second per [`cairn_net::http::MIN_BODY_RATE`] bytes, is
    /// refused with `408` and its connection closed, so a trickling client cannot hold a
    /// connection or memory for ever.
    pub body_timeout: Duration,
    /// Bytes of pieces one account may have stored at once, counting every fragment and
    /// copy of its committed segments and every put order it holds for segments not yet
    /// committed (`--account-quota`); a placement past it is refused with
    /// `403 quota_exceeded`.
    pub account_quota: u64,
    /// Signed requests one key (an account's or a peer's) may make per second on average,
    /// `0` for no limit; past it the pool answers `429 rate_limited` with `Retry-After`.
    pub requests_per_second_per_key: u32,
    /// Signed requests one idle key may make at once before the per-second rate applies.
    pub request_burst_per_key: u32,
}

impl PoolConfig {
    /// A configuration with defaults for everything but the data directory and address.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            data_dir,
            listen,
            timers: HealthTimers::default(),
            upload_ttl: Duration::from_secs(6 * 60 * 60),
            order_ttl: Duration::from_secs(60 * 60),
            durability_target: crate::placement::DEFAULT_DURABILITY_TARGET,
            spares: 2,
            tls: false,
            audit_interval: Duration::from_secs(10 * 60),
            disqualify_after: 3,
            repair_threshold: 1,
            max_repairs: 32,
            rebalance_tolerance: 0.05,
            max_migrations: 8,
            body_timeout: cairn_net::http::DEFAULT_BODY_TIMEOUT,
            account_quota: DEFAULT_ACCOUNT_QUOTA,
            requests_per_second_per_key: crate::rate::DEFAULT_REQUESTS_PER_SECOND,
            request_burst_per_key: crate::rate::DEFAULT_REQUEST_BURST,
        }
    }

    /// The per-key request limit this configuration asks for.
    pub fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: self.requests_per_second_per_key,
            burst: self.request_burst_per_key,
        }
    }
}
