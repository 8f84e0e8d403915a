//! `cairn pool` and `cairn peer`: start a daemon, print where it listens, run until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cairn_peer::{PeerConfig, RunningPeer};
use cairn_pool::health::HealthTimers;
use cairn_pool::{PoolConfig, RunningPool};

/// Options of `cairn pool`.
#[derive(Debug, clap::Args)]
pub struct PoolArgs {
    /// Data directory: the pool's identity and its SQLite metadata store.
    #[arg(long, default_value = "cairn-pool")]
    data: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// How often peers heartbeat (e.g. `2s`, `10s`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    heartbeat_interval: Duration,
    /// Silence after which a peer counts as offline (e.g. `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    offline_after: Duration,
    /// Silence after which a peer counts as lost and its pieces are repaired (e.g. `1h`).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    repair_after: Duration,
    /// How long an upload may stay open before it is abandoned and collected.
    #[arg(long, default_value = "6h", value_parser = parse_duration)]
    upload_ttl: Duration,
    /// Serve HTTPS even on a loopback address (any other address always gets HTTPS, with
    /// a certificate made from the pool's identity; give peers and clients the printed
    /// `https://HOST:PORT#ID` address).
    #[arg(long)]
    tls: bool,
    /// The probability that a segment survives which `auto` redundancy aims for.
    #[arg(long, default_value_t = cairn_pool::placement::DEFAULT_DURABILITY_TARGET, value_parser = parse_probability)]
    durability_target: f64,
    /// How often every online peer is audited: a random slice of a random piece it holds.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    audit_interval: Duration,
    /// Audit failures in a row after which a peer is disqualified (its pieces are then
    /// repaired elsewhere).
    #[arg(long, default_value_t = 3)]
    disqualify_after: u32,
    /// Repair a segment once this many of its pieces are gone (1 repairs at the first loss;
    /// higher waits to rebuild several pieces in one job).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    repair_threshold: u16,
    /// Rebalance until online peers' utilisation (used / capacity) differs by at most this
    /// much between the fullest and the emptiest.
    #[arg(long, default_value_t = 0.05, value_parser = parse_fraction)]
    rebalance_tolerance: f64,
    /// Pieces moving between peers at once, across the pool (rebalancing's rate limit).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    max_migrations: u64,
    /// Bytes of pieces one account may store, every fragment and copy counted (e.g.
    /// `500GiB`); placing past it is refused.
    #[arg(long, default_value = "1TiB", value_parser = crate::parse_size)]
    account_quota: u64,
    /// Signed requests one key (an account's or a peer's) may make a second on average;
    /// past it the pool answers `429` with a `Retry-After`. `0` turns the limit off.
    #[arg(long, default_value_t = cairn_pool::rate::DEFAULT_REQUESTS_PER_SECOND)]
    requests_per_second: u32,
    /// Signed requests one idle key may make at once before the rate applies.
    #[arg(long, default_value_t = cairn_pool::rate::DEFAULT_REQUEST_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    request_burst: u32,
}

/// Parses a fraction from 0 to 1, like `0.05`.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "`{text}` is not a fraction between 0 and 1, like 0.05"
        )),
    }
}

/// Parses a probability strictly between 0 and 1, like `0.999999`.
pub fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 1.0 => Ok(p),
        _ => Err(format!(
            "`{text}` is not a probability between 0 and 1, like 0.999999"
        )),
    }
}

/// Options of `cairn peer`: run flags, or a subcommand.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PeerArgs {
    #[command(subcommand)]
    subcommand: Option<PeerCommand>,
    /// The pool's URL, e.g. `http://127.0.0.1:7700` (required to run a peer).
    #[arg(long)]
    pool: Option<String>,
    /// Data directory: the peer's identity, its pieces and their index.
    #[arg(long, default_value = "cairn-peer")]
    data: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Disk space to lend (e.g. `10GiB`, `500MB`); never exceeded (required to run a peer).
    #[arg(long, value_parser = crate::parse_size)]
    capacity: Option<u64>,
    /// Failure domain (a site or rack name); without it the pool uses the /24 or /64.
    #[arg(long)]
    zone: Option<String>,
    /// URL other machines reach this peer at (default: http:// and the bound address).
    #[arg(long)]
    advertise: Option<String>,
    /// Serve HTTPS even on a loopback address (any other address always gets HTTPS, with
    /// a certificate made from the peer's identity).
    #[arg(long)]
    tls: bool,
    /// Join the pool at --pool though this peer belongs to another, whose pool.key is lost
    /// for good; every piece held is kept for the new pool to recover.
    #[arg(long)]
    join_new_pool: bool,
    /// How long pieces are kept for their owners to recover after the pool lost its store
    /// or was restored from an older copy; past it, pieces nobody claimed are deleted.
    #[arg(long, value_parser = parse_duration, default_value = "30days")]
    recovery_window: Duration,
}

/// What `cairn peer` can do besides running.
#[derive(Debug, clap::Subcommand)]
pub enum PeerCommand {
    /// Leave the pool gracefully: the pool moves every piece off this peer (keep it
    /// running meanwhile); waits until it has, then says the data directory may go.
    Leave(crate::leave::LeaveArgs),
}

/// Parses `2s`, `500ms`, `10m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. 2s, 500ms, 10m or 1h"))
}

/// Logs go to stderr (`RUST_LOG` filters them; default `info`); stdout carries only the
/// `listening on` line, which scripts and tests wait for. Colour only on a terminal: a log
/// written to a file or pipe carries no escape sequences.
pub fn init_logging() {
    init_logging_default("info");
}

/// Like [`init_logging`], with `default` as the filter when `RUST_LOG` is unset.
pub fn init_logging_default(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Prints the ready line and flushes it.
pub fn announce(url: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {url}")?;
    stdout.flush()?;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `cairn pool`.
pub fn run_pool(args: PoolArgs) -> anyhow::Result<()> {
    init_logging();
    let mut config = PoolConfig::new(args.data, args.listen);
    config.timers = HealthTimers {
        heartbeat_interval: args.heartbeat_interval,
        offline_after: args.offline_after,
        repair_after: args.repair_after,
    };
    config.upload_ttl = args.upload_ttl;
    config.tls = args.tls;
    config.durability_target = args.durability_target;
    config.audit_interval = args.audit_interval;
    config.disqualify_after = args.disqualify_after;
    config.repair_threshold = args.repair_threshold;
    config.rebalance_tolerance = args.rebalance_tolerance;
    config.max_migrations = usize::try_from(args.max_migrations).unwrap_or(usize::MAX);
    config.account_quota = args.account_quota;
    config.requests_per_second_per_key = args.requests_per_second;
    config.request_burst_per_key = args.request_burst;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let pool = RunningPool::start(config).await?;
        announce(pool.url())?;
        shutdown_signal().await;
        tracing::info!("shutting down");
        pool.shutdown().await;
        Ok(())
    })
}

/// `cairn peer` and its subcommands.
pub fn run_peer(args: PeerArgs) -> anyhow::Result<()> {
    if let Some(PeerCommand::Leave(leave)) = args.subcommand {
        return crate::leave::leave(leave);
    }
    let Some(pool) = args.pool else {
        anyhow::bail!("a peer needs its pool: pass --pool URL (and --capacity SIZE)");
    };
    let Some(capacity) = args.capacity else {
        anyhow::bail!("a peer needs the disk space it lends: pass --capacity SIZE, like 10GiB");
    };
    init_logging();
    let mut config = PeerConfig::new(
        pool.trim_end_matches('/').to_owned(),
        args.data,
        args.listen,
        capacity,
    );
    config.zone = args.zone;
    config.advertise = args.advertise;
    config.tls = args.tls;
    config.join_new_pool = args.join_new_pool;
    config.recovery_window = args.recovery_window;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let peer = RunningPeer::start(config).await?;
        announce(peer.url())?;
        peer.run_until(shutdown_signal()).await?;
        Ok(())
    })
}
