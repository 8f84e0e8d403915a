//! `cairn peer leave`: a peer's graceful exit. Asks the pool (signed with the peer's own
//! key, read from its data directory while the peer keeps running) to drain the peer, then
//! follows the pool's status until every piece has moved elsewhere and the peer has left.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_client::pool::PoolClient;
use cairn_core::{PeerId, PoolId};
use cairn_net::signed::Method;
use cairn_net::{PoolCallError, SignedClient};
use cairn_peer::daemon::{POOL_FILE, POOL_URL_FILE};
use cairn_proto::PeerState;
use cairn_proto::api::{self, NetworkStatus};
use cairn_proto::clock::now_ms;
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressStyle};

/// How often the pool's status is read while waiting.
const POLL: Duration = Duration::from_secs(1);
/// How often a plain progress line is printed when not on a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// Silence from the peer after which the wait reminds the operator to keep it running.
const QUIET_PEER: Duration = Duration::from_secs(60);
/// How long one request to the pool may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `cairn peer leave`.
#[derive(Debug, clap::Args)]
pub struct LeaveArgs {
    /// The peer's data directory (its identity, and the pool it last reached).
    #[arg(long)]
    data: PathBuf,
    /// The pool's URL, if not the one the peer remembers in DIR/pool.url.
    #[arg(long)]
    pool: Option<String>,
}

/// Where the peer stands in one reading of the pool's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The pool does not list the peer.
    Unknown,
    /// The peer is in `state` and holds `pieces` pieces (as its last heartbeat said).
    Holding { state: PeerState, pieces: u64 },
    /// The pool has let the peer go and it holds nothing.
    Left,
}

/// The stage of `peer` in the pool's status.
fn stage(status: &NetworkStatus, peer: PeerId) -> Stage {
    stage_of(
        status
            .peers
            .iter()
            .find(|p| p.peer == peer)
            .map(|p| (p.state, p.piece_count)),
    )
}

/// The stage of a peer the pool lists in `state` with `pieces`, or does not list.
fn stage_of(listed: Option<(PeerState, u64)>) -> Stage {
    match listed {
        None => Stage::Unknown,
        Some((PeerState::Left, 0)) => Stage::Left,
        Some((state, pieces)) => Stage::Holding { state, pieces },
    }
}

/// `cairn peer leave`.
pub fn leave(args: LeaveArgs) -> anyhow::Result<()> {
    let key = cairn_node::read_key(&args.data, "peer")?;
    let peer = PeerId::from_verifying_key(&key.verifying_key());
    let pool = match args.pool {
        Some(url) => url,
        None => remembered_url(&args.data)?,
    };
    let pool = pool.trim().trim_end_matches('/').to_owned();
    let runtime = crate::session::runtime()?;
    runtime.block_on(async {
        tokio::select! {
            result = drain_and_wait(&args.data, &pool, &key, peer) => result,
            _ = tokio::signal::ctrl_c() => bail!(
                "stopped waiting; the pool goes on moving this peer's pieces (keep the peer running), and `cairn peer leave --data {}` follows it again",
                args.data.display()
            ),
        }
    })?;
    say!(
        "Peer {peer} has left the pool: you can stop the peer process and delete its data directory {}.",
        args.data.display()
    );
    Ok(())
}

/// The pool URL the peer wrote when it last reached its pool.
fn remembered_url(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join(POOL_URL_FILE);
    match std::fs::read_to_string(&path) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
        Ok(_) => bail!(
            "{} is empty; pass the pool's URL with --pool",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} does not say which pool this peer serves (the peer writes {POOL_URL_FILE} when it reaches its pool); pass the pool's URL with --pool",
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The pool id the peer pinned, if it has reached a pool yet.
fn remembered_pool(dir: &Path) -> anyhow::Result<Option<PoolId>> {
    let path = dir.join(POOL_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("{} is damaged", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

async fn drain_and_wait(
    dir: &Path,
    pool: &str,
    key: &SigningKey,
    peer: PeerId,
) -> anyhow::Result<()> {
    let client = PoolClient::anonymous(pool)?;
    let info = client.info().await?;
    if let Some(expected) = remembered_pool(dir)?
        && expected != info.pool
    {
        bail!(
            "the pool at {pool} is {}, but this peer belongs to pool {expected}; pass the right --pool",
            info.pool
        );
    }
    // A peer that has already left is not drained again.
    let first = client.network().await?;
    let already_left = matches!(
        first.peers.iter().find(|p| p.peer == peer),
        Some(p) if p.state == PeerState::Left
    );
    let mut status = if already_left {
        first
    } else {
        request_drain(pool, key).await?;
        client.network().await?
    };
    let mut progress = Progress::new(peer);
    loop {
        match stage(&status, peer) {
            Stage::Left => {
                progress.finish();
                return Ok(());
            }
            Stage::Unknown => bail!("the pool at {pool} no longer lists peer {peer}"),
            Stage::Holding {
                state: PeerState::Disqualified,
                ..
            } => bail!(
                "the pool disqualified peer {peer} (failed audits) while it was leaving; its pieces are rebuilt elsewhere"
            ),
            Stage::Holding { state, pieces } => {
                let quiet = status
                    .peers
                    .iter()
                    .find(|p| p.peer == peer)
                    .map(|p| since_ms(p.last_heartbeat_ms))
                    .filter(|silence| *silence >= QUIET_PEER);
                progress.show(state, pieces, quiet);
            }
        }
        tokio::time::sleep(POLL).await;
        // The pool may restart or blip during a long drain: keep waiting, and say so.
        status = loop {
            match client.network().await {
                Ok(status) => break status,
                Err(e) => {
                    progress.note(&format!("{e}; still waiting"));
                    tokio::time::sleep(POLL).await;
                }
            }
        };
    }
}

/// `POST /v1/peers/drain`, signed by the peer; draining twice is fine.
async fn request_drain(pool: &str, key: &SigningKey) -> anyhow::Result<()> {
    let builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
    let client = SignedClient::connect(pool, builder, Some(key.clone()))?;
    // An empty body, as the route takes none.
    let drained = client.call::<(), ()>(Method::POST, api::PEER_DRAIN, None);
    match drained.await {
        Ok(()) => Ok(()),
        Err(PoolCallError::Refused { error, .. }) => {
            bail!("the pool refused to let this peer leave: {}", error.message)
        }
        Err(PoolCallError::Unreachable { source, .. }) => {
            bail!("cannot reach the pool at {pool}: {source}; is it running?")
        }
        Err(e) => bail!("the pool at {pool} answered strangely: {e}"),
    }
}

/// How long ago `then_ms` was by this machine's clock.
fn since_ms(then_ms: u64) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(then_ms))
}

/// What the wait shows: a bar of pieces moved on a terminal, a plain line now and then
/// otherwise (both on stderr; stdout carries only the closing sentence).
struct Progress {
    peer: PeerId,
    bar: Option<ProgressBar>,
    most: u64,
    last_line: Option<Instant>,
}

impl Progress {
    fn new(peer: PeerId) -> Self {
        eprintln!(
            "peer {peer} is draining: its pieces move to other peers, then the pool lets it go (keep the peer running; Ctrl-C stops waiting, not the drain)"
        );
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{bar:30}] {msg} ({elapsed})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            peer,
            bar,
            most: 0,
            last_line: None,
        }
    }

    fn show(&mut self, state: PeerState, pieces: u64, quiet: Option<Duration>) {
        self.most = self.most.max(pieces);
        let mut message = format!("{pieces} pieces left on this peer");
        if state != PeerState::Draining && state != PeerState::Left {
            message.push_str(&format!(" (the pool sees it {state})"));
        }
        if let Some(silence) = quiet {
            message.push_str(&format!(
                "; no heartbeat for {}s — is the peer running?",
                silence.as_secs()
            ));
        }
        match &self.bar {
            Some(bar) => {
                bar.set_length(self.most);
                bar.set_position(self.most - pieces);
                bar.set_message(message);
            }
            None => {
                if self.last_line.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
                    eprintln!("peer {}: {message}", self.peer);
                    self.last_line = Some(Instant::now());
                }
            }
        }
    }

    fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_has_left_only_when_left_and_empty() {
        assert_eq!(stage_of(None), Stage::Unknown);
        assert_eq!(
            stage_of(Some((PeerState::Draining, 0))),
            Stage::Holding {
                state: PeerState::Draining,
                pieces: 0
            }
        );
        // Let go, but its last heartbeat still counted pieces it has yet to delete.
        assert_eq!(
            stage_of(Some((PeerState::Left, 3))),
            Stage::Holding {
                state: PeerState::Left,
                pieces: 3
            }
        );
        assert_eq!(stage_of(Some((PeerState::Left, 0))), Stage::Left);
    }

    #[test]
    fn a_directory_without_a_pool_url_asks_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = remembered_url(dir.path()).unwrap_err().to_string();
        assert!(err.contains("--pool"), "{err}");
        std::fs::write(dir.path().join(POOL_URL_FILE), "http://127.0.0.1:7700\n").unwrap();
        assert_eq!(remembered_url(dir.path()).unwrap(), "http://127.0.0.1:7700");
    }
}
