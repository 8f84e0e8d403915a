//! SQLite's memory of what peers hold that the records do not place, and records given
//! back: [`RecoveryStore`] for [`SqliteStore`].

use std::collections::HashSet;

use super::*;
use crate::store::{ImportState, Imported, ImportedObject, RecoveryStore};

impl RecoveryStore for SqliteStore {
    async fn record_held(
        &self,
        peer: PeerId,
        unknown: Vec<PieceHash>,
        ledger: Vec<([u8; 16], PieceHash, u64)>,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            let who = peer.as_bytes().as_slice();
            exec(tx, "DELETE FROM held WHERE peer = ?1", [who]).sql()?;
            exec(tx, "DELETE FROM ledger_held WHERE peer = ?1", [who]).sql()?;
            let mut placed = 0u64;
            {
                let mut awaiting = tx
                    .prepare_cached(
                        "SELECT object, segment, fragment, size FROM awaited WHERE hash = ?1",
                    )
                    .sql()?;
                let mut hold = tx
                    .prepare_cached("INSERT OR IGNORE INTO held (hash, peer) VALUES (?1, ?2)")
                    .sql()?;
                for hash in &unknown {
                    let waits: Vec<(Vec<u8>, u32, u16, u64)> = awaiting
                        .query_map([hash.as_bytes().as_slice()], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, uint(row, 3)?))
                        })
                        .sql()?
                        .collect::<rusqlite::Result<_>>()
                        .sql()?;
                    if waits.is_empty() {
                        hold.execute(params![hash.as_bytes().as_slice(), who])
                            .sql()?;
                        continue;
                    }
                    for (object, segment, fragment, size) in waits {
                        if place(tx, &object, segment, fragment, &peer, hash, size)? {
                            exec(
                                tx,
                                "DELETE FROM awaited WHERE hash = ?1 AND object = ?2 \
                                 AND segment = ?3 AND fragment = ?4",
                                params![hash.as_bytes().as_slice(), object, segment, fragment],
                            )
                            .sql()?;
                            placed += 1;
                        }
                    }
                }
            }
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO ledger_held (locator, hash, peer, size) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )
                    .sql()?;
                for (locator, hash, size) in &ledger {
                    insert
                        .execute(params![
                            locator.as_slice(),
                            hash.as_bytes().as_slice(),
                            who,
                            int(*size)
                        ])
                        .sql()?;
                }
            }
            if placed > 0 {
                advance_generation(tx)?;
            }
            Ok(placed)
        })
        .await
    }

    async fn ledger_held(
        &self,
        locator: [u8; 16],
        after: Option<PieceHash>,
        limit: u32,
    ) -> StoreResult<Vec<(PieceHash, u64, PeerId)>> {
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT hash, size, peer FROM ledger_held \
                     WHERE locator = ?1 AND (?2 IS NULL OR hash > ?2) ORDER BY hash, peer LIMIT ?3",
                )
                .sql()?;
            let rows = stmt
                .query_map(
                    params![
                        locator.as_slice(),
                        after.as_ref().map(|h| h.as_bytes().as_slice()),
                        limit
                    ],
                    |row| Ok((piece_hash(row, "hash")?, uint(row, 1)?, peer_id(row, 2)?)),
                )
                .sql()?;
            rows.collect::<rusqlite::Result<_>>().sql()
        })
        .await
    }

    async fn import_objects(
        &self,
        account: AccountId,
        objects: Vec<ImportedObject>,
        now: u64,
    ) -> StoreResult<Vec<Imported>> {
        self.write(move |tx| {
            objects
                .into_iter()
                .map(|object| import_one(tx, account, object, now))
                .collect()
        })
        .await
    }
}

/// Gives one record back (see [`RecoveryStore::import_objects`]).
fn import_one(
    tx: &Transaction<'_>,
    account: AccountId,
    object: ImportedObject,
    now: u64,
) -> StoreResult<Imported> {
    let id = object.id.as_bytes().as_slice();
    let nothing = |state| Imported {
        state,
        placed: 0,
        awaited: 0,
    };
    let known: bool = query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM objects WHERE id = ?1)",
        [id],
        |row| row.get(0),
    )
    .sql()?;
    if known {
        return Ok(nothing(ImportState::Known));
    }
    if committed_id(tx, &account, &object.path).sql()?.is_some() {
        return Ok(nothing(ImportState::Taken));
    }
    exec(
        tx,
        "INSERT OR IGNORE INTO accounts (id, created_at) VALUES (?1, ?2)",
        params![account.as_bytes().as_slice(), int(now)],
    )
    .sql()?;
    exec(
        tx,
        "INSERT INTO objects (id, account, path, redundancy, committed, metadata, size, \
         created_at, expires_at, committed_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?7, ?7)",
        params![
            id,
            account.as_bytes().as_slice(),
            object.path,
            object.redundancy.to_string(),
            object.metadata,
            int(object.size),
            int(now)
        ],
    )
    .sql()?;
    let copies = usize::from(object.redundancy.r());
    let (mut placed, mut awaited) = (0u64, 0u64);
    for segment in &object.segments {
        exec(
            tx,
            "INSERT INTO segments (object, idx, piece_size) VALUES (?1, ?2, ?3)",
            params![id, segment.index, int(segment.piece_size)],
        )
        .map_err(|e| match e {
            e if is_constraint(&e) => {
                StoreError::Conflict(format!("segment {} is listed twice", segment.index))
            }
            other => backend(other),
        })?;
        for (fragment, hash) in segment.fragments.iter().enumerate() {
            let fragment = u16::try_from(fragment).map_err(|_| {
                StoreError::Conflict(format!("segment {} has too many fragments", segment.index))
            })?;
            let holders: Vec<PeerId> = {
                let mut stmt = tx
                    .prepare_cached("SELECT peer FROM held WHERE hash = ?1 ORDER BY peer")
                    .sql()?;
                let rows = stmt
                    .query_map([hash.as_bytes().as_slice()], |row| peer_id(row, 0))
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            let mut here = 0;
            for peer in holders {
                if here == copies {
                    break;
                }
                if place(
                    tx,
                    id,
                    segment.index,
                    fragment,
                    &peer,
                    hash,
                    segment.piece_size,
                )? {
                    here += 1;
                }
            }
            if here == 0 {
                exec(
                    tx,
                    "INSERT OR IGNORE INTO awaited (hash, object, segment, fragment, size) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        hash.as_bytes().as_slice(),
                        id,
                        segment.index,
                        fragment,
                        int(segment.piece_size)
                    ],
                )
                .sql()?;
                awaited += 1;
            }
            placed += here as u64;
        }
    }
    advance_generation(tx)?;
    Ok(Imported {
        state: ImportState::Imported,
        placed,
        awaited,
    })
}

/// Places fragment `fragment` of segment `segment` of `object` on `peer`, which said it
/// holds `hash`, unless that peer holds another fragment of the segment already
/// (invariant 2); the piece is no longer merely held. Returns whether it was placed.
fn place(
    tx: &Transaction<'_>,
    object: &[u8],
    segment: u32,
    fragment: u16,
    peer: &PeerId,
    hash: &PieceHash,
    size: u64,
) -> StoreResult<bool> {
    let who = peer.as_bytes().as_slice();
    let doubled: HashSet<u16> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT fragment FROM pieces WHERE object = ?1 AND segment = ?2 AND peer = ?3",
            )
            .sql()?;
        let rows = stmt
            .query_map(params![object, segment, who], |row| row.get::<_, u16>(0))
            .sql()?;
        rows.collect::<rusqlite::Result<_>>().sql()?
    };
    if !doubled.is_empty() {
        return Ok(false);
    }
    exec(
        tx,
        "INSERT INTO pieces (object, segment, fragment, peer, hash, size) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            object,
            segment,
            fragment,
            who,
            hash.as_bytes().as_slice(),
            int(size)
        ],
    )
    .sql()?;
    exec(
        tx,
        "DELETE FROM held WHERE hash = ?1 AND peer = ?2",
        params![hash.as_bytes().as_slice(), who],
    )
    .sql()?;
    Ok(true)
}
