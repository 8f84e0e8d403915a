//! Recording the pieces before the pool starts: through the pool's own `MetadataStore` (the
//! SQLite store in its data directory) each object is begun, then committed with its one
//! segment's pieces on distinct random peers — the transactions the API's `begin` and
//! `commit` run for a one-segment file, without HTTP, signatures or placement. Each peer's inventory is
//! then read back from the records, and every peer put in the registry.
//!
//! A marker file remembers what a data directory was seeded with, so `--data DIR` can
//! measure the same records again without seeding them again.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use cairn_core::{AccountId, PeerId, PieceHash, Redundancy};
use cairn_pool::store::{
    CommitObject, DeletionStore, NewUpload, ObjectId, ObjectStore, PeerHealthUpdate,
    PeerRegistration, PiecePlacement, RegistryStore, SegmentCommit, SqliteStore,
};
use cairn_proto::PeerState;
use data_encoding::BASE64URL_NOPAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::fleet::{CAPACITY, Fleet};

/// The marker file beside the pool's data directory.
pub const MARKER: &str = "pool-scale.json";
/// Objects recorded at once: the store runs one transaction at a time, so this only keeps
/// the next transaction ready while one commits.
const SEEDERS: usize = 4;
/// How long uploads begun while seeding could stay open (they are committed at once).
const UPLOAD_TTL_MS: u64 = 6 * 60 * 60 * 1000;

pub use cairn_proto::clock::now_ms;

/// What a data directory holds, as written to [`MARKER`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seeding {
    /// The seed the peers' and accounts' keys derive from.
    pub seed: u64,
    /// Peers in the registry.
    pub peers: usize,
    /// Accounts owning the objects.
    pub accounts: usize,
    /// The redundancy of every seeded segment.
    pub redundancy: String,
    /// Every seeded piece's size.
    pub piece_size: u64,
    /// Objects recorded (one segment each).
    pub objects: u64,
    /// Pieces recorded.
    pub pieces: u64,
    /// Seconds seeding took.
    pub seconds: f64,
}

impl Seeding {
    /// The marker in `dir`, if there is one.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = dir.join(MARKER);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not a pool-scale marker", path.display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the marker into `dir`.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(MARKER);
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Random bytes.
fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A random encrypted path, shaped like the client's (one AES-SIV component, base64url).
pub fn random_path() -> String {
    BASE64URL_NOPAD.encode(&random::<32>())
}

/// Sealed metadata of a one-segment object, as long as the client's: a fixed part and
/// every fragment's hash.
pub fn random_metadata(redundancy: Redundancy) -> Vec<u8> {
    let len = 160 + 32 * usize::from(redundancy.fragments());
    (0..len).map(|_| rand::random::<u8>()).collect()
}

/// The pieces of one segment: every fragment's `r` copies, each on its own random peer.
fn segment_pieces(
    peers: &[PeerId],
    redundancy: Redundancy,
    piece_size: u64,
) -> Vec<PiecePlacement> {
    let copies = usize::from(redundancy.r());
    let chosen = rand::seq::index::sample(
        &mut rand::rng(),
        peers.len(),
        usize::from(redundancy.pieces()),
    );
    let hashes: Vec<PieceHash> = (0..redundancy.fragments())
        .map(|_| PieceHash::from_bytes(random()))
        .collect();
    chosen
        .into_iter()
        .enumerate()
        .map(|(slot, peer)| {
            let fragment = slot / copies;
            PiecePlacement {
                segment: 0,
                fragment: fragment as u16,
                hash: hashes[fragment],
                size: piece_size,
                peer: peers[peer],
            }
        })
        .collect()
}

/// Records one object of one segment for `account` in the two transactions the API's
/// `begin` and `commit` (carrying the last segment's pieces) run.
async fn record_object(
    store: &SqliteStore,
    account: AccountId,
    pieces: Vec<PiecePlacement>,
    redundancy: Redundancy,
    piece_size: u64,
) -> anyhow::Result<()> {
    let id = ObjectId::random(&mut rand::rng());
    let now = now_ms();
    let size = piece_size * pieces.len() as u64;
    store
        .begin_upload(NewUpload {
            id,
            account,
            path: random_path(),
            redundancy,
            created_at: now,
            expires_at: now + UPLOAD_TTL_MS,
        })
        .await?;
    store
        .commit_with_segment(
            account,
            id,
            SegmentCommit {
                index: 0,
                piece_size,
                pieces,
            },
            CommitObject {
                metadata: random_metadata(redundancy),
                size,
                segment_count: 1,
            },
            now,
        )
        .await?;
    Ok(())
}

/// Records at least `pieces` pieces in segments of `redundancy` spread over the fleet's peers
/// and accounts; answers the marker to save.
pub async fn seed(
    store: &SqliteStore,
    fleet: &Fleet,
    seed: u64,
    pieces: u64,
    redundancy: Redundancy,
    piece_size: u64,
) -> anyhow::Result<Seeding> {
    let per_object = u64::from(redundancy.pieces());
    if fleet.peers.len() < usize::from(redundancy.pieces()) {
        bail!(
            "{redundancy} needs {per_object} peers per segment; there are only {}",
            fleet.peers.len()
        );
    }
    let objects = pieces.div_ceil(per_object);
    let peers = Arc::new(fleet.peer_ids());
    let accounts = Arc::new(fleet.account_ids());
    let started = Instant::now();
    let recorded = Arc::new(AtomicU64::new(0));
    let step = (objects / 20).max(1);
    let mut seeders = JoinSet::new();
    for worker in 0..SEEDERS as u64 {
        let (store, peers, accounts) = (store.clone(), peers.clone(), accounts.clone());
        let recorded = recorded.clone();
        seeders.spawn(async move {
            let mut object = worker;
            while object < objects {
                let account = accounts[(object % accounts.len() as u64) as usize];
                let pieces = segment_pieces(&peers, redundancy, piece_size);
                record_object(&store, account, pieces, redundancy, piece_size).await?;
                let done = recorded.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(step) {
                    let rate = (done * per_object) as f64 / started.elapsed().as_secs_f64();
                    crate::progress(&format!(
                        "seeding: {} of {} pieces ({rate:.0} pieces/s)",
                        done * per_object,
                        objects * per_object
                    ));
                }
                object += SEEDERS as u64;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = seeders.join_next().await {
        done.context("a seeding task stopped")??;
    }
    Ok(Seeding {
        seed,
        peers: fleet.peers.len(),
        accounts: fleet.accounts.len(),
        redundancy: redundancy.to_string(),
        piece_size,
        objects,
        pieces: objects * per_object,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads every peer's inventory back from the records into the fleet.
pub async fn load_inventories(
    store: &SqliteStore,
    fleet: &mut Fleet,
    piece_size: u64,
) -> anyhow::Result<()> {
    for peer in &mut fleet.peers {
        peer.inventory = store.pieces_on_peer(peer.id).await?;
        peer.used = peer.inventory.len() as u64 * piece_size;
    }
    Ok(())
}

/// Puts every peer in the registry, `offline` since now: as a pool finds its peers after a
/// restart that they have not yet noticed. Each comes online when it registers over HTTP;
/// until then the repair checker leaves its pieces alone (they are not on unknown or lost
/// peers), and the audit round and round-trip probes that run as the pool starts skip it
/// (they would only find a simulated peer's address unreachable).
pub async fn register_in_store(store: &SqliteStore, fleet: &Fleet) -> anyhow::Result<()> {
    let now = now_ms();
    for peer in &fleet.peers {
        store
            .register_peer(
                PeerRegistration {
                    id: peer.id,
                    address: peer.address.to_string(),
                    zone: None,
                    capacity: CAPACITY,
                    used: peer.used,
                    piece_count: peer.inventory.len() as u64,
                },
                now,
            )
            .await?;
    }
    let records = store.peers().await?;
    let offline = records
        .into_iter()
        .map(|p| PeerHealthUpdate {
            id: p.id,
            state: PeerState::Offline,
            state_since: now,
            availability: p.availability,
            read_state: p.state,
            read_heartbeat: p.last_heartbeat,
        })
        .collect();
    store.update_health(offline).await?;
    Ok(())
}
