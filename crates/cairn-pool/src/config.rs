//! How a pool runs: where it keeps its state, where it listens, its timers and limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::health::HealthTimers;

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
        }
    }
}
