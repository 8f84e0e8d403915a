//! The recovery phases: the pool's store is lost (a new pool starts on an empty store with
//! the same `pool.key`), every simulated peer registers with it holding its pieces and the
//! accounts' ledger pieces, every account finds its ledger by locator (`POST
//! /v1/ledger/find`), and gives its records back (`POST /v1/objects/import`, 256 at a
//! time), as its client does after reading its ledger. The simulated peers serve no bytes,
//! so fetching the ledger is counted in bytes (one copy of each piece), not timed. Read
//! beside the upload phases of the same run: a fresh upload of the same objects costs a
//! begin and a commit each, and moves their pieces.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::Context;
use cairn_core::ledger::{LedgerEntry, LedgerOp, Locator};
use cairn_core::{MasterSecret, ObjectId, PieceHash};
use cairn_pool::store::{ObjectStore, SqliteStore};
use cairn_proto::api::{
    self as paths, FindLedger, ImportObject, ImportObjects, ImportSegment, LedgerFound,
    LedgerPiece, MAX_IMPORT, ObjectsImported,
};
use data_encoding::BASE64URL_NOPAD;
use tokio::task::JoinSet;

use crate::fleet::Fleet;
use crate::latency::Tally;
use crate::load::Load;

/// Objects listed from the store per page.
const PAGE: u32 = 10_000;

/// Every account's records as its client would give them back: (account index, records).
pub type Records = Vec<(usize, Vec<ImportObject>)>;

/// Reads every account's committed records from `store`.
pub async fn records(store: &SqliteStore, fleet: &Fleet) -> anyhow::Result<Records> {
    let mut all = Vec::with_capacity(fleet.accounts.len());
    for (index, account) in fleet.account_ids().into_iter().enumerate() {
        let mut records = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_objects(account, String::new(), after.take(), PAGE)
                .await?;
            for summary in &page {
                let Some(object) = store.object(account, summary.path.clone()).await? else {
                    continue;
                };
                let fragments = usize::from(object.redundancy.fragments());
                let segments = object
                    .segments
                    .iter()
                    .map(|segment| {
                        let mut hashes = vec![None; fragments];
                        for piece in &segment.pieces {
                            if let Some(slot) = hashes.get_mut(usize::from(piece.fragment)) {
                                *slot = Some(piece.hash);
                            }
                        }
                        let fragments = hashes
                            .into_iter()
                            .collect::<Option<Vec<_>>>()
                            .context("a recorded segment lacks a fragment")?;
                        Ok(ImportSegment {
                            index: segment.index,
                            piece_size: segment.piece_size,
                            fragments,
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                records.push(ImportObject {
                    object: object.id,
                    path: object.path,
                    redundancy: object.redundancy.to_string(),
                    size: object.size,
                    metadata: BASE64URL_NOPAD.encode(&object.metadata),
                    segments,
                });
            }
            if page.len() < PAGE as usize {
                break;
            }
            after = page.last().map(|o| o.path.clone());
        }
        all.push((index, records));
    }
    Ok(all)
}

/// Copies of each ledger piece on the peers (`rep:2x3`).
const LEDGER_COPIES: usize = 3;

/// One account's ledger as a recovery finds it.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// The locator its pieces start with.
    pub locator: String,
    /// Bytes a recovery fetches: one copy of each piece.
    pub bytes: u64,
}

/// Seals each account's records as one ledger snapshot, as its client leaves the ledger
/// once folded, under a ledger key of its own, and gives each of its pieces to
/// [`LEDGER_COPIES`] simulated peers (never two pieces of one account on a peer).
pub fn seal_ledgers(records: &Records, fleet: &Fleet) -> anyhow::Result<Vec<Ledger>> {
    let mut ledgers = Vec::with_capacity(records.len());
    let mut next_peer = 0usize;
    for (_, objects) in records {
        let key = MasterSecret::generate(&mut rand::rng()).ledger_key();
        let ops = objects
            .iter()
            .map(|o| {
                Ok(LedgerOp::Put {
                    object: o.object,
                    path: o.path.clone(),
                    size: o.size,
                    metadata: BASE64URL_NOPAD
                        .decode(o.metadata.as_bytes())
                        .context("a record's metadata")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let snapshot = LedgerEntry {
            object: ObjectId::random(&mut rand::rng()),
            written_ms: cairn_proto::clock::now_ms(),
            covers: Some(Vec::new()),
            ops,
        };
        let pieces = snapshot.seal(&key, &mut rand::rng())?;
        let locator = Locator::of(&key).to_string();
        let mut bytes = 0;
        for piece in pieces {
            bytes += piece.len() as u64;
            let held = LedgerPiece {
                hash: PieceHash::of(&piece),
                locator: locator.clone(),
                size: piece.len() as u64,
            };
            for _ in 0..LEDGER_COPIES {
                let peer = &fleet.peers[next_peer % fleet.peers.len()];
                next_peer += 1;
                (peer.ledger.lock().unwrap_or_else(|p| p.into_inner())).push(held.clone());
            }
        }
        ledgers.push(Ledger { locator, bytes });
    }
    Ok(ledgers)
}

/// What the accounts' ledger lookups found.
#[derive(Debug, Default)]
pub struct Found {
    /// Each request's outcome.
    pub tally: Tally,
    /// Ledger pieces found.
    pub pieces: u64,
    /// Holders named for them, each with a get order.
    pub holders: u64,
}

/// What the accounts' imports did.
#[derive(Debug, Default)]
pub struct Imported {
    /// Each request's outcome.
    pub tally: Tally,
    /// Records the pool took back.
    pub records: u64,
    /// Pieces it placed on the peers that reported them.
    pub placed: u64,
    /// Fragments no peer reported.
    pub awaited: u64,
    /// Bytes of the requests' bodies.
    pub bytes: u64,
}

impl Load {
    /// Every account finds its ledger by locator, `connections` accounts at a time, a
    /// page after another as its client does.
    pub async fn find_ledgers(
        &self,
        ledgers: Arc<Vec<Ledger>>,
        connections: usize,
    ) -> anyhow::Result<Found> {
        let next = Arc::new(AtomicUsize::new(0));
        let (pieces, holders) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let (load, next, ledgers) = (self.clone(), next.clone(), ledgers.clone());
            let (pieces, holders) = (pieces.clone(), holders.clone());
            tasks.spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(ledger) = ledgers.get(i) else {
                        return tally;
                    };
                    let key = &load.fleet.accounts[i];
                    let mut after = None;
                    loop {
                        let body = FindLedger {
                            locator: ledger.locator.clone(),
                            after,
                        };
                        let started = std::time::Instant::now();
                        let sent = load
                            .api
                            .post::<_, LedgerFound>(key, paths::LEDGER_FIND, &body)
                            .await;
                        match sent {
                            Ok(found) => {
                                tally.ok(started.elapsed());
                                pieces.fetch_add(found.pieces.len() as u64, Ordering::Relaxed);
                                let named: usize =
                                    found.pieces.iter().map(|p| p.holders.len()).sum();
                                holders.fetch_add(named as u64, Ordering::Relaxed);
                                after = found.pieces.last().map(|p| p.hash);
                                if !found.more || after.is_none() {
                                    break;
                                }
                            }
                            Err(e) => {
                                tally.failed(e.reason());
                                break;
                            }
                        }
                    }
                }
            });
        }
        let mut total = Tally::default();
        while let Some(done) = tasks.join_next().await {
            total.merge(done.context("a ledger lookup task stopped")?);
        }
        Ok(Found {
            tally: total,
            pieces: pieces.load(Ordering::Relaxed),
            holders: holders.load(Ordering::Relaxed),
        })
    }

    /// Every account gives its records back, `connections` accounts at a time, each in
    /// requests of [`MAX_IMPORT`].
    pub async fn import(
        &self,
        records: Arc<Records>,
        connections: usize,
    ) -> anyhow::Result<Imported> {
        let next = Arc::new(AtomicUsize::new(0));
        let (taken, placed, awaited, bytes) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let (load, next, records) = (self.clone(), next.clone(), records.clone());
            let (taken, placed, awaited, bytes) = (
                taken.clone(),
                placed.clone(),
                awaited.clone(),
                bytes.clone(),
            );
            tasks.spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((account, objects)) = records.get(i) else {
                        return tally;
                    };
                    let key = &load.fleet.accounts[*account];
                    for chunk in objects.chunks(MAX_IMPORT) {
                        let body = ImportObjects {
                            objects: chunk.to_vec(),
                        };
                        let size = serde_json::to_vec(&body).map_or(0, |b| b.len() as u64);
                        bytes.fetch_add(size, Ordering::Relaxed);
                        let started = std::time::Instant::now();
                        let sent = load
                            .api
                            .post::<_, ObjectsImported>(key, paths::OBJECTS_IMPORT, &body)
                            .await;
                        match sent {
                            Ok(answer) => {
                                tally.ok(started.elapsed());
                                for outcome in &answer.objects {
                                    if outcome.state == "imported" {
                                        taken.fetch_add(1, Ordering::Relaxed);
                                    }
                                    placed.fetch_add(outcome.placed, Ordering::Relaxed);
                                    awaited.fetch_add(outcome.awaited, Ordering::Relaxed);
                                }
                            }
                            Err(e) => tally.failed(e.reason()),
                        }
                    }
                }
            });
        }
        let mut total = Tally::default();
        while let Some(done) = tasks.join_next().await {
            total.merge(done.context("an import task stopped")?);
        }
        Ok(Imported {
            tally: total,
            records: taken.load(Ordering::Relaxed),
            placed: placed.load(Ordering::Relaxed),
            awaited: awaited.load(Ordering::Relaxed),
            bytes: bytes.load(Ordering::Relaxed),
        })
    }
}
