//! `pool-scale`: the pool at scale. A real pool (`RunningPool`, its SQLite store in a
//! temporary data directory) runs in this process with a million pieces recorded, while ten
//! thousand simulated peers — Ed25519 identities sharing one HTTP connection pool, with no
//! piece stores — register and heartbeat, and accounts place and commit segments as the
//! client does. Prints requests per second, latency percentiles, and the pool's CPU time
//! per request (the pool runs on threads of its own, so its CPU time is told apart).
//!
//! `cargo run --release -p cairn-bench --bin pool-scale [-- --quick] [-- --json]`

mod costs;
mod cpu;
mod fleet;
mod http;
mod latency;
mod load;
mod recovery;
mod report;
mod seed;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_core::{Redundancy, RedundancyPolicy};
use cairn_pool::daemon::DATABASE_FILE;
use cairn_pool::health::HealthTimers;
use cairn_pool::placement::{ASSUMED_AVAILABILITY, DEFAULT_DURABILITY_TARGET, auto_redundancy};
use cairn_pool::store::SqliteStore;
use cairn_pool::{PoolConfig, RunningPool};
use cairn_proto::api::{self as paths, MAX_IMPORT, NetworkStatus};
use clap::Parser;

use crate::costs::QueryCost;
use crate::cpu::CpuTime;
use crate::fleet::Fleet;
use crate::http::Api;
use crate::latency::Tally;
use crate::load::Load;
use crate::report::{Phase, Records, Report, ScaleReport, SeedingReport};
use crate::seed::Seeding;

/// Measure the pool with thousands of simulated peers and a million recorded pieces.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// A smoke run: 500 peers, 20,000 pieces, 3 s phases.
    #[arg(long)]
    quick: bool,
    /// Simulated peers [default: 10000; 500 with --quick].
    #[arg(long)]
    peers: Option<usize>,
    /// Pieces recorded before measuring, at least [default: 1000000; 20000 with --quick].
    #[arg(long)]
    pieces: Option<u64>,
    /// Seconds of each timed phase [default: 20; 3 with --quick].
    #[arg(long)]
    seconds: Option<f64>,
    /// Accounts owning the recorded objects; uploaders are the first ones [default: 100;
    /// 20 with --quick].
    #[arg(long)]
    accounts: Option<usize>,
    /// Requests the simulated peers keep in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Accounts uploading at once, one request in flight each.
    #[arg(long, default_value_t = 16)]
    uploaders: usize,
    /// The redundancy uploads ask for (the client's default is `auto`).
    #[arg(long, default_value = "auto")]
    redundancy: RedundancyPolicy,
    /// The pool's heartbeat interval, seconds, which also paces its repair checker and
    /// rebalancer; a long one (600) keeps those passes out of the measured phases.
    #[arg(long, default_value_t = 10.0)]
    pool_interval: f64,
    /// How often each simulated peer heartbeats while accounts upload, seconds.
    #[arg(long, default_value_t = 10.0)]
    beat_every: f64,
    /// Print one JSON object with every figure instead of the table.
    #[arg(long)]
    json: bool,
    /// Keep the pool's data in DIR; if an earlier run seeded DIR at the same size, measure
    /// its records again instead of seeding (default: a temporary directory, removed).
    #[arg(long)]
    data: Option<PathBuf>,
}

/// The pool's data directory inside the run's directory.
const POOL_DIR: &str = "pool";
/// The data directory of the pool that lost its store, for the recovery phases.
const LOST_POOL_DIR: &str = "pool-lost";
/// The pool's identity file: all an operator keeps when the store is lost.
const KEY_FILE: &str = "pool.key";
/// The audit interval: an audit round runs as the pool starts and not again during a run
/// (the simulated peers do not serve, so audits could only find them unreachable).
const AUDIT_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// What one run does.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Simulated peers.
    pub peers: usize,
    /// Pieces recorded before measuring, at least.
    pub pieces: u64,
    /// Accounts owning the recorded objects.
    pub accounts: usize,
    /// Length of each timed phase.
    pub phase: Duration,
    /// Requests the simulated peers keep in flight.
    pub connections: usize,
    /// Accounts uploading at once.
    pub uploaders: usize,
    /// The redundancy uploads ask for.
    pub redundancy: RedundancyPolicy,
    /// The pool's heartbeat interval (it also paces the repair checker and rebalancer).
    pub pool_interval: Duration,
    /// How often each peer heartbeats in the background of the upload phases.
    pub beat_every: Duration,
}

impl Scale {
    fn of(args: &Args) -> Self {
        let (peers, pieces, seconds, accounts) = if args.quick {
            (500, 20_000, 3.0, 20)
        } else {
            (10_000, 1_000_000, 20.0, 100)
        };
        let uploaders = args.uploaders.max(1);
        Self {
            peers: args.peers.unwrap_or(peers),
            pieces: args.pieces.unwrap_or(pieces),
            accounts: args.accounts.unwrap_or(accounts).max(uploaders),
            phase: Duration::from_secs_f64(args.seconds.unwrap_or(seconds).max(0.1)),
            connections: args.connections.max(1),
            uploaders,
            redundancy: args.redundancy,
            pool_interval: Duration::from_secs_f64(args.pool_interval.max(0.05)),
            beat_every: Duration::from_secs_f64(args.beat_every.max(0.05)),
        }
    }

    /// The pool's health timers: the default ones, stretched with a longer interval.
    fn timers(&self) -> HealthTimers {
        let default = HealthTimers::default();
        let offline_after = default.offline_after.max(self.pool_interval * 3);
        HealthTimers {
            heartbeat_interval: self.pool_interval,
            offline_after,
            repair_after: default.repair_after.max(offline_after * 2),
        }
    }

    /// The redundancy the recorded segments take: the one asked for, or what `auto` picks on
    /// this many new peers (as the pool would).
    fn seeded_redundancy(&self) -> anyhow::Result<Redundancy> {
        Ok(match self.redundancy {
            RedundancyPolicy::Fixed(fixed) => fixed,
            RedundancyPolicy::Auto => {
                auto_redundancy(self.peers, ASSUMED_AVAILABILITY, DEFAULT_DURABILITY_TARGET)?
            }
        })
    }
}

/// A progress line on standard error.
pub fn progress(line: &str) {
    eprintln!("pool-scale: {line}");
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scale = Scale::of(&args);
    let temp = match &args.data {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("cairn-pool-scale-")
                .tempdir()
                .context("cannot create a temporary directory")?,
        ),
    };
    let dir = match (&args.data, &temp) {
        (Some(dir), _) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        (None, Some(temp)) => temp.path().to_owned(),
        (None, None) => bail!("no directory to work in"),
    };
    progress(&format!("working in {}", dir.display()));
    let report = run(&scale, &dir)?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", report.table())?;
    }
    drop(stdout);
    if let Some(temp) = temp {
        progress("removing the temporary directory");
        temp.close()
            .context("cannot remove the temporary directory")?;
    }
    Ok(())
}

/// Seeds `dir` (or reuses what an earlier run seeded there), starts a pool on it and
/// measures. The pool gets a runtime of its own, named so its CPU time can be told apart.
pub fn run(scale: &Scale, dir: &Path) -> anyhow::Result<Report> {
    let pool_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(cpu::POOL_THREADS)
        // SQLite runs on blocking threads; keeping them alive keeps their CPU time counted.
        .thread_keep_alive(Duration::from_secs(24 * 60 * 60))
        .enable_all()
        .build()
        .context("cannot start the pool's runtime")?;
    let simulation = tokio::runtime::Builder::new_multi_thread()
        .thread_name("simulation")
        .enable_all()
        .build()
        .context("cannot start the simulation's runtime")?;
    let prepared = simulation.block_on(prepare(scale, dir))?;
    let mut config = PoolConfig::new(dir.join(POOL_DIR), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.audit_interval = AUDIT_INTERVAL;
    config.timers = scale.timers();
    progress("starting the pool");
    let pool = pool_runtime
        .block_on(RunningPool::start(config))
        .context("cannot start the pool")?;
    let url = pool.url().to_owned();
    let result = simulation.block_on(measure(scale, prepared, &url));
    progress("stopping the pool");
    pool_runtime.block_on(pool.shutdown());
    let (mut report, fleet) = result?;
    let recovered = recover(scale, dir, fleet, &pool_runtime, &simulation)?;
    report.phases.extend(recovered);
    Ok(report)
}

/// The recovery phases (see `recovery.rs`), on a pool that starts on an empty store with
/// the measured pool's key; the measured store is left as it was, so a later run can
/// measure it again.
fn recover(
    scale: &Scale,
    dir: &Path,
    fleet: Arc<Fleet>,
    pool_runtime: &tokio::runtime::Runtime,
    simulation: &tokio::runtime::Runtime,
) -> anyhow::Result<Vec<Phase>> {
    progress("reading every account's records for the recovery phases");
    let database = dir.join(POOL_DIR).join(DATABASE_FILE);
    let records = simulation.block_on(async {
        let store = SqliteStore::open(&database)
            .with_context(|| format!("cannot open {}", database.display()))?;
        recovery::records(&store, &fleet).await
    })?;
    let objects: usize = records.iter().map(|(_, r)| r.len()).sum();
    let piece_bytes: u64 = (records.iter().flat_map(|(_, r)| r))
        .map(|o| {
            let copies = cairn_core::RedundancyPolicy::from_str(&o.redundancy)
                .ok()
                .and_then(|p| match p {
                    RedundancyPolicy::Fixed(r) => Some(u64::from(r.r())),
                    RedundancyPolicy::Auto => None,
                })
                .unwrap_or(1);
            (o.segments.iter())
                .map(|s| s.piece_size * s.fragments.len() as u64 * copies)
                .sum::<u64>()
        })
        .sum();
    progress("sealing every account's ledger (one snapshot of its records) onto the peers");
    let ledgers = Arc::new(recovery::seal_ledgers(&records, &fleet)?);
    let ledger_bytes: u64 = ledgers.iter().map(|l| l.bytes).sum();
    let lost = dir.join(LOST_POOL_DIR);
    if lost.exists() {
        std::fs::remove_dir_all(&lost)
            .with_context(|| format!("cannot remove {}", lost.display()))?;
    }
    std::fs::create_dir_all(&lost).with_context(|| format!("cannot create {}", lost.display()))?;
    std::fs::copy(dir.join(POOL_DIR).join(KEY_FILE), lost.join(KEY_FILE))
        .context("cannot copy the pool's key")?;
    let mut config = PoolConfig::new(lost.clone(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.audit_interval = AUDIT_INTERVAL;
    config.timers = scale.timers();
    progress("starting a pool that lost its store (the same key, nothing else)");
    let pool = pool_runtime
        .block_on(RunningPool::start(config))
        .context("cannot start the pool again")?;
    let url = pool.url().to_owned();
    let connections = scale.connections;
    let phases = simulation.block_on(async {
        let load = Load {
            api: Api::new(&url)?,
            fleet,
        };
        let mut phases = Vec::new();
        progress(&format!(
            "{} peers register with it, holding their pieces",
            scale.peers
        ));
        let watch = Stopwatch::start();
        let registered = load.register(connections).await?;
        phases.push(watch.phase(
            "recover: register",
            format!(
                "every peer again, {connections} at a time: every piece it holds is unknown to the new store and remembered as held"
            ),
            vec![("register", registered)],
        ));
        progress(&format!("{} accounts find their ledgers", scale.accounts));
        let watch = Stopwatch::start();
        let found = load.find_ledgers(ledgers, connections).await?;
        let find_seconds = watch.started.elapsed().as_secs_f64();
        phases.push(watch.phase(
            "recover: find ledger",
            format!(
                "{} accounts find their ledgers by locator, {connections} at a time: {} pieces found with {} holders; fetching one copy of each is {:.1} MB from the peers (not timed: the simulated peers serve no bytes)",
                scale.accounts,
                found.pieces,
                found.holders,
                ledger_bytes as f64 / 1e6,
            ),
            vec![("find", found.tally)],
        ));
        progress(&format!(
            "{} accounts give back {objects} records",
            scale.accounts
        ));
        let watch = Stopwatch::start();
        let imported = load.import(Arc::new(records), connections).await?;
        let seconds = watch.started.elapsed().as_secs_f64();
        phases.push(watch.phase(
            "recover: import",
            format!(
                "{} accounts give back {objects} records, {MAX_IMPORT} a request, {connections} accounts at a time: {} taken back ({:.0} records/s), {} pieces placed, {} awaited; {:.1} MB sent, where uploading the same objects afresh moves {:.1} MB of pieces",
                scale.accounts,
                imported.records,
                imported.records as f64 / seconds.max(1e-9),
                imported.placed,
                imported.awaited,
                imported.bytes as f64 / 1e6,
                piece_bytes as f64 / 1e6,
            ),
            vec![("import", imported.tally)],
        ));
        phases.push(Stopwatch::start().phase(
            "recover: total",
            format!(
                "finding the ledgers and giving back every record: {:.1} s of requests and {:.1} MB moved ({:.1} MB of ledger pieces fetched, {:.1} MB of records sent), where uploading the same objects afresh moves {:.1} MB of pieces ({:.4}x the bytes)",
                find_seconds + seconds,
                (ledger_bytes + imported.bytes) as f64 / 1e6,
                ledger_bytes as f64 / 1e6,
                imported.bytes as f64 / 1e6,
                piece_bytes as f64 / 1e6,
                (ledger_bytes + imported.bytes) as f64 / (piece_bytes as f64).max(1.0),
            ),
            Vec::new(),
        ));
        anyhow::Ok(phases)
    });
    pool_runtime.block_on(pool.shutdown());
    std::fs::remove_dir_all(&lost).with_context(|| format!("cannot remove {}", lost.display()))?;
    phases
}

/// The records and peers a run measures against, ready before the pool starts.
struct Prepared {
    fleet: Fleet,
    seeding: Seeding,
    reused: bool,
    registry_seconds: f64,
    costs: Vec<QueryCost>,
}

async fn prepare(scale: &Scale, dir: &Path) -> anyhow::Result<Prepared> {
    let pool_dir = dir.join(POOL_DIR);
    let database = pool_dir.join(DATABASE_FILE);
    let found = Seeding::load(dir)?;
    let seed = match &found {
        Some(found) => {
            if found.peers != scale.peers
                || found.accounts != scale.accounts
                || found.pieces < scale.pieces
            {
                bail!(
                    "{} was seeded with {} peers, {} accounts and {} pieces; this run wants {}, {} and {}: use another --data directory",
                    dir.display(),
                    found.peers,
                    found.accounts,
                    found.pieces,
                    scale.peers,
                    scale.accounts,
                    scale.pieces
                );
            }
            progress(&format!(
                "reusing the records seeded in {} ({} pieces, {})",
                dir.display(),
                found.pieces,
                found.redundancy
            ));
            found.seed
        }
        None if database.exists() => bail!(
            "{} holds a pool whose seeding did not finish; remove it or use another --data directory",
            dir.display()
        ),
        None => rand::random(),
    };
    std::fs::create_dir_all(&pool_dir)
        .with_context(|| format!("cannot create {}", pool_dir.display()))?;
    progress(&format!(
        "deriving {} peer and {} account identities",
        scale.peers, scale.accounts
    ));
    let mut fleet = Fleet::new(seed, scale.peers, scale.accounts);
    let store = SqliteStore::open(&database)
        .with_context(|| format!("cannot open {}", database.display()))?;
    let (seeding, reused) = match found {
        Some(found) => (found, true),
        None => {
            let seeded = scale.seeded_redundancy()?;
            progress(&format!(
                "seeding at least {} pieces as one-segment objects of {seeded} over {} peers",
                scale.pieces, scale.peers
            ));
            let seeding = seed::seed(
                &store,
                &fleet,
                seed,
                scale.pieces,
                seeded,
                load::piece_size(seeded),
            )
            .await?;
            seeding.save(dir)?;
            progress(&format!(
                "seeded {} pieces in {:.1} s",
                seeding.pieces, seeding.seconds
            ));
            (seeding, false)
        }
    };
    progress("reading every peer's inventory from the records");
    seed::load_inventories(&store, &mut fleet, seeding.piece_size).await?;
    progress("putting every peer in the registry");
    let started = Instant::now();
    seed::register_in_store(&store, &fleet).await?;
    let registry_seconds = started.elapsed().as_secs_f64();
    progress("timing the store's calls alone");
    let costs = costs::measure(&store, &fleet).await?;
    Ok(Prepared {
        fleet,
        seeding,
        reused,
        registry_seconds,
        costs,
    })
}

/// Wall-clock and CPU time since a phase began.
struct Stopwatch {
    started: Instant,
    cpu: CpuTime,
}

impl Stopwatch {
    fn start() -> Self {
        Self {
            started: Instant::now(),
            cpu: CpuTime::now(),
        }
    }

    /// The phase `name` that ran `what` and made `requests`.
    fn phase(&self, name: &str, what: String, requests: Vec<(&str, Tally)>) -> Phase {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = CpuTime::now().since(self.cpu);
        Phase {
            name: name.to_owned(),
            what,
            seconds,
            requests: requests
                .into_iter()
                .map(|(kind, tally)| tally.summary(kind, seconds))
                .collect(),
            pool_cpu_s: cpu.pool,
            harness_cpu_s: cpu.harness,
        }
    }
}

/// `cairn_pieces` from the pool's `/metrics`, and how long asking took.
async fn pieces_recorded(api: &Api) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let metrics = api.get_text(paths::METRICS).await?;
    let took = started.elapsed().as_secs_f64() * 1e3;
    let pieces = metrics
        .lines()
        .find_map(|line| line.strip_prefix("cairn_pieces "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .context("the pool's /metrics has no cairn_pieces")?;
    Ok((pieces as u64, took))
}

async fn measure(
    scale: &Scale,
    prepared: Prepared,
    url: &str,
) -> anyhow::Result<(Report, Arc<Fleet>)> {
    let Prepared {
        fleet,
        seeding,
        reused,
        registry_seconds,
        costs,
    } = prepared;
    let held = fleet.peers.iter().map(|p| p.inventory.len()).sum::<usize>() / scale.peers.max(1);
    let load = Load {
        api: Api::new(url)?,
        fleet: Arc::new(fleet),
    };
    let connections = scale.connections;
    let mut phases = Vec::new();

    progress(&format!("{} peers register over HTTP", scale.peers));
    let watch = Stopwatch::start();
    let registered = load.register(connections).await?;
    phases.push(watch.phase(
        "register",
        format!("every peer once, with its inventory (~{held} pieces), {connections} at a time"),
        vec![("register", registered)],
    ));

    progress("asking the pool what it holds");
    let started = Instant::now();
    let status_text = load.api.get_text(paths::STATUS).await?;
    let status_ms = started.elapsed().as_secs_f64() * 1e3;
    let status: NetworkStatus =
        serde_json::from_str(&status_text).context("the pool's status is not valid")?;
    let mut peer_states = BTreeMap::new();
    for peer in &status.peers {
        *peer_states.entry(peer.state.to_string()).or_insert(0) += 1;
    }
    let peers_online = peer_states.get("online").copied().unwrap_or(0);
    // A peer just heard from cannot be silent enough for the timers to take it down: if it
    // is down anyway, a health tick overwrote its registration with an older verdict.
    let fresh_ms = 3 * u64::try_from(scale.pool_interval.as_millis()).unwrap_or(u64::MAX);
    let now = seed::now_ms();
    let down_though_heard = (status.peers.iter())
        .filter(|p| p.state.is_timed() && p.state != cairn_proto::PeerState::Online)
        .filter(|p| now.saturating_sub(p.last_heartbeat_ms) < fresh_ms)
        .count();
    let (pieces_before, metrics_ms) = pieces_recorded(&load.api).await?;
    progress(&format!(
        "the pool records {pieces_before} pieces and {} objects; {peers_online} of {} peers online",
        status.objects, scale.peers
    ));
    if peers_online < scale.peers || pieces_before < seeding.pieces {
        progress("warning: the pool holds fewer peers or pieces than were seeded");
    }

    let seconds = scale.phase.as_secs_f64();
    progress(&format!(
        "heartbeats: every peer, {connections} in flight, for {seconds:.0} s"
    ));
    let watch = Stopwatch::start();
    let beats = load
        .heartbeats(connections, Instant::now() + scale.phase)
        .await?;
    phases.push(watch.phase(
        "heartbeats",
        format!("peers round-robin, {connections} in flight, no pause"),
        vec![("heartbeat", beats)],
    ));

    let every = scale.beat_every.as_secs_f64();
    progress(&format!(
        "place: {} accounts begin and place segments for {seconds:.0} s, peers heartbeating every {every:.0} s",
        scale.uploaders
    ));
    let watch = Stopwatch::start();
    let background = load.background(scale.beat_every, connections);
    let redundancy = scale.redundancy.to_string();
    let placements = load
        .place(
            scale.uploaders,
            scale.redundancy,
            Instant::now() + scale.phase,
        )
        .await?;
    let beats = background.finish().await?;
    let chosen: std::collections::BTreeSet<String> = (placements.placed.iter())
        .map(|p| p.redundancy.to_string())
        .collect();
    let chosen = chosen.into_iter().collect::<Vec<_>>().join(", ");
    let placed = placements.placed.len();
    let mut requests = vec![("begin", placements.begin)];
    let calls = match scale.redundancy {
        RedundancyPolicy::Auto => {
            requests.push(("place", placements.place));
            "begin + place one segment"
        }
        RedundancyPolicy::Fixed(_) => "begin placing one segment",
    };
    requests.push(("heartbeat (bg)", beats));
    phases.push(watch.phase(
        "place",
        format!(
            "{} accounts: {calls} ({redundancy} → {chosen}), back to back; every peer heartbeats each {every:.0} s",
            scale.uploaders
        ),
        requests,
    ));

    progress(&format!(
        "commit: the {placed} placed uploads, each with its segment's receipts"
    ));
    let watch = Stopwatch::start();
    let background = load.background(scale.beat_every, connections);
    let commits = load.commit(placements.placed).await?;
    let beats = background.finish().await?;
    phases.push(watch.phase(
        "commit",
        format!(
            "the same accounts: commit each of the {placed} objects with its segment's peer-signed receipts, one call; heartbeats as above"
        ),
        vec![("commit", commits), ("heartbeat (bg)", beats)],
    ));

    let (pieces_after, _) = pieces_recorded(&load.api).await?;
    let report = Report {
        scale: ScaleReport {
            peers: scale.peers,
            accounts: scale.accounts,
            connections,
            uploaders: scale.uploaders,
            phase_seconds: seconds,
            redundancy,
            pool_interval_s: scale.pool_interval.as_secs_f64(),
            beat_every_s: every,
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
        },
        seeding: SeedingReport {
            seeding,
            reused,
            registry_seconds,
        },
        records: Records {
            pieces_before,
            pieces_after,
            objects_before: status.objects,
            peers_online,
            peer_states,
            down_though_heard,
            status_ms,
            status_bytes: status_text.len(),
            metrics_ms,
        },
        store_costs: costs,
        phases,
        peak_rss_mib: cpu::status_mib("VmHWM"),
    };
    Ok((report, load.fleet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale() -> Scale {
        Scale {
            peers: 24,
            pieces: 300,
            accounts: 3,
            phase: Duration::from_millis(300),
            connections: 4,
            uploaders: 2,
            // Fixed, so the test knows each segment's pieces (`auto` is the real runs').
            redundancy: RedundancyPolicy::Fixed(Redundancy::ec(4, 2).unwrap()),
            pool_interval: Duration::from_secs(10),
            beat_every: Duration::from_secs(10),
        }
    }

    fn kind<'a>(report: &'a Report, phase: &str, kind: &str) -> &'a latency::KindSummary {
        report
            .phases
            .iter()
            .find(|p| p.name == phase)
            .and_then(|p| p.requests.iter().find(|k| k.kind == kind))
            .unwrap_or_else(|| panic!("no {kind} in {phase}"))
    }

    /// The whole run against a real pool, small: every peer registers and heartbeats,
    /// every placed segment commits with its receipts, and the pool's records grow by
    /// exactly the committed pieces; a second run measures the same records again.
    #[test]
    fn a_small_run_records_every_commit_and_can_be_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let first = run(&scale(), dir.path()).unwrap();
        assert!(!first.seeding.reused);
        assert!(first.records.pieces_before >= 300);
        assert_eq!(first.records.pieces_before, first.seeding.seeding.pieces);
        // Every peer registered; a health tick racing a registration may have put one back
        // down (the pool's lost update the report counts), never a peer that never came.
        assert_eq!(
            first.records.peers_online + first.records.down_though_heard,
            24
        );
        for phase in &first.phases {
            for k in &phase.requests {
                assert_eq!(k.failed(), 0, "{} {}: {:?}", phase.name, k.kind, k.errors);
            }
        }
        assert_eq!(kind(&first, "register", "register").ok, 24);
        assert!(kind(&first, "heartbeats", "heartbeat").ok > 0);
        // Under a concrete redundancy, begin places the segment itself.
        let placed = kind(&first, "place", "begin").ok;
        assert!(placed > 0);
        assert_eq!(kind(&first, "commit", "commit").ok, placed);
        assert_eq!(first.seeding.seeding.redundancy, "ec:4+2");
        assert_eq!(
            first.records.pieces_after,
            first.records.pieces_before + placed * 6
        );
        // A pool that lost its store takes every record back from its accounts, each
        // finding its ledger (two pieces, three holders each) by locator.
        assert_eq!(kind(&first, "recover: register", "register").ok, 24);
        assert!(kind(&first, "recover: find ledger", "find").ok >= 3);
        let find = first
            .phases
            .iter()
            .find(|p| p.name == "recover: find ledger")
            .unwrap();
        assert!(
            find.what.contains("6 pieces found with 18 holders"),
            "{}",
            find.what
        );
        assert!(kind(&first, "recover: import", "import").ok > 0);
        let import = first
            .phases
            .iter()
            .find(|p| p.name == "recover: import")
            .unwrap();
        let objects = first.records.objects_before + placed;
        assert!(
            import.what.contains(&format!("{objects} taken back")),
            "{}",
            import.what
        );

        // Again on the same records, under `auto`: begin, then place.
        let auto = Scale {
            redundancy: RedundancyPolicy::Auto,
            ..scale()
        };
        let second = run(&auto, dir.path()).unwrap();
        assert!(second.seeding.reused);
        assert_eq!(second.records.pieces_before, first.records.pieces_after);
        assert_eq!(kind(&second, "register", "register").ok, 24);
        let placed = kind(&second, "place", "place").ok;
        assert!(placed > 0);
        assert_eq!(kind(&second, "place", "begin").ok, placed);
        assert_eq!(kind(&second, "commit", "commit").ok, placed);
    }
}
