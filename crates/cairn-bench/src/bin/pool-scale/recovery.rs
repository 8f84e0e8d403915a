//! The recovery phases: the pool's store is lost (a new pool starts on an empty store with
//! the same `pool.key`), every simulated peer registers with it holding its pieces, and
//! every account gives its records back (`POST /v1/objects/import`, 256 at a time), as
//! its client does after reading its ledger. Read beside the upload phases of the same
//! run: a fresh upload of the same objects costs a begin and a commit each, and moves
//! their pieces.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::Context;
use cairn_pool::store::{ObjectStore, SqliteStore};
use cairn_proto::api::{
    self as paths, ImportObject, ImportObjects, ImportSegment, MAX_IMPORT, ObjectsImported,
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
