//! `cairn local`: a whole network on this machine — a pool and N peers in one process,
//! data under one directory, and a client home that needs no passphrase — until Ctrl-C.
//! Run again, it resumes on the same port with the same files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_client::{Drive, DriveOptions, Home, Protection};
use cairn_core::MasterSecret;
use cairn_peer::{PeerConfig, RunningPeer};
use cairn_pool::health::HealthTimers;
use cairn_pool::{PoolConfig, RunningPool};
use serde::{Deserialize, Serialize};

use crate::serve::{announce, shutdown_signal};
use crate::session::{human, runtime};

/// Options of `cairn local`.
#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// How many peers to run.
    #[arg(long, default_value_t = 6)]
    peers: usize,
    /// Where the pool's, the peers' and the client's data live.
    #[arg(long, default_value = "cairn-local")]
    dir: PathBuf,
    /// Disk space each peer lends (e.g. `2GiB`).
    #[arg(long, default_value = "2GiB", value_parser = crate::parse_size)]
    capacity: u64,
    /// The probability that a segment survives which `auto` redundancy aims for (lower it
    /// to run fewer than 6 peers with `auto`).
    #[arg(long, default_value_t = cairn_pool::placement::DEFAULT_DURABILITY_TARGET, value_parser = crate::serve::parse_probability)]
    durability_target: f64,
    /// Serve HTTPS between everyone, as a real network does (loopback is plain by default).
    #[arg(long)]
    tls: bool,
    /// Where to serve the drive's web page (a loopback address; default a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    ui_listen: SocketAddr,
    /// Print the drive's address without opening a browser.
    #[arg(long)]
    no_open: bool,
}

/// What a run remembers for the next: the pool's port, which the client home records.
#[derive(Debug, Serialize, Deserialize)]
struct LocalState {
    port: u16,
}

const STATE: &str = "local.json";
const READY: Duration = Duration::from_secs(60);

fn load_state(dir: &Path) -> anyhow::Result<Option<LocalState>> {
    match std::fs::read(dir.join(STATE)) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged; remove it to start afresh",
                dir.join(STATE).display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.join(STATE).display())),
    }
}

/// `cairn local`.
pub fn local(args: LocalArgs) -> anyhow::Result<()> {
    if args.peers == 0 {
        bail!("--peers must be at least 1 (6 gives `auto` redundancy room to work)");
    }
    crate::serve::init_logging_default("warn");
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("cannot use {}", args.dir.display()))?;
    let state = load_state(&dir)?;
    let port = state.as_ref().map_or(0, |s| s.port);
    runtime()?.block_on(async {
        let mut config =
            PoolConfig::new(dir.join("pool"), SocketAddr::from(([127, 0, 0, 1], port)));
        config.timers = HealthTimers {
            heartbeat_interval: Duration::from_secs(2),
            offline_after: Duration::from_secs(10),
            repair_after: Duration::from_secs(120),
        };
        config.durability_target = args.durability_target;
        config.tls = args.tls;
        config.audit_interval = Duration::from_secs(60);
        let pool = RunningPool::start(config).await.with_context(|| {
            format!(
                "cannot start the pool on 127.0.0.1:{port} (is another `cairn local` using {}?)",
                dir.display()
            )
        })?;
        let addr = pool.local_addr();
        if state.is_none() {
            let text = serde_json::to_vec(&LocalState { port: addr.port() })?;
            std::fs::write(dir.join(STATE), text)
                .with_context(|| format!("cannot write {}", dir.join(STATE).display()))?;
        }
        let url = pool.url().to_owned();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut peers = tokio::task::JoinSet::new();
        for i in 1..=args.peers {
            let mut config = PeerConfig::new(
                url.clone(),
                dir.join(format!("peer-{i}")),
                SocketAddr::from(([127, 0, 0, 1], 0)),
                args.capacity,
            );
            config.tls = args.tls;
            let peer = RunningPeer::start(config)
                .await
                .with_context(|| format!("cannot start peer {i}"))?;
            let mut stopped = stopped.clone();
            peers.spawn(async move {
                peer.run_until(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
            });
        }
        wait_for_peers(&url, args.peers).await?;
        let home = dir.join("home");
        if Home::exists(&home) {
            let opened = Home::open(&home)?;
            if opened.pool() != url {
                bail!(
                    "the client home {} uses {}, not {url}; remove {} to start afresh",
                    home.display(),
                    opened.pool(),
                    dir.display()
                );
            }
        } else {
            let secret = MasterSecret::generate(&mut rand::rng());
            Drive::new(&url, &secret, DriveOptions::default())?
                .register()
                .await?;
            Home::create(
                &home,
                &url,
                &secret,
                Protection::Playground,
                &mut rand::rng(),
            )?;
        }
        print_tour(&dir, &home, &url, args.peers, args.capacity)?;
        let mut ui_config = cairn_web::UiConfig::new(&home);
        ui_config.listen = args.ui_listen;
        let ui = crate::ui::start(ui_config, !args.no_open).await?;
        announce(pool.url())?;
        shutdown_signal().await;
        ui.shutdown().await;
        eprintln!("stopping the peers and the pool…");
        let _ = stop.send(true);
        while let Some(done) = peers.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!("a peer stopped with an error: {e}");
            }
        }
        pool.shutdown().await;
        Ok(())
    })
}

async fn wait_for_peers(url: &str, want: usize) -> anyhow::Result<()> {
    let client = cairn_client::pool::PoolClient::anonymous(url)?;
    let online = client.wait_for_online(want, READY).await?;
    if online < want {
        bail!("only {online} of {want} peers came online within {READY:?}");
    }
    Ok(())
}

fn print_tour(
    dir: &Path,
    home: &Path,
    url: &str,
    peers: usize,
    capacity: u64,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "cairn".into());
    say!(
        "Cairn is running on this machine: a pool at {url} and {peers} peers lending {} each.",
        human(capacity)
    );
    say!(
        "Data lives in {}; the client home is {} (no passphrase: a playground).",
        dir.display(),
        home.display()
    );
    say!();
    say!("Open the drive's address below in your browser (it signs this browser in once),");
    say!("or, in another terminal, try:");
    say!();
    say!("  export CAIRN_HOME={}", home.display());
    say!("  alias cairn={exe}");
    say!("  cairn put README.md            # encrypt, split and spread a file");
    say!("  cairn ls                       # list the drive");
    say!("  cairn get /README.md copy.md   # fetch it back");
    say!("  cairn status /README.md        # where its pieces are");
    say!("  cairn share /README.md         # a link anyone can open with `cairn get LINK`");
    say!("  cairn network                  # the peers");
    say!();
    say!("Ctrl-C stops everything; run `cairn local` again to carry on with the same files.");
    Ok(())
}
