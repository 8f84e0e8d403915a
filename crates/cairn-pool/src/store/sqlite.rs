//! The embedded metadata store: one SQLite file in the pool's data directory, in WAL mode
//! with full fsync, each trait method atomic (a savepoint in a group-committed transaction
//! run on the store's own thread). This file holds the connection and the row helpers the
//! areas share; each area's trait is implemented in `sqlite/{registry,objects,repair,
//! deletions}.rs`, the schema in `sqlite/schema.rs`, the writer thread in `sqlite/writer.rs`.

mod deletions;
mod objects;
mod recovery;
mod registry;
mod repair;
mod schema;
mod shares;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use cairn_core::{AccountId, PeerId, PieceHash, Redundancy, RedundancyPolicy};
use rusqlite::{Connection, OptionalExtension, Row, RowIndex, Transaction, params};

use super::{
    AuditTally, CommitObject, DeletionStore, HeartbeatStats, IndexMark, LevelEntry, NewUpload,
    ObjectId, ObjectRecord, ObjectSegment, ObjectStore, ObjectSummary, PeerHealthUpdate,
    PeerRecord, PeerRegistration, PeerUsage, PiecePlacement, RegistryStore, RepairStore,
    SegmentCommit, StoreError, StoreResult, StoreStats, StoredSegment, UploadRecord,
};
use crate::scoring::PeerScoring;
use crate::state::PeerState;

/// The SQLite metadata store. Cheap to clone; clones share one connection and its thread.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<writer::Writer>,
    /// The pool's scoring judgements, applied as data when scores are written.
    scoring: PeerScoring,
    /// How repairs check invariant 2; tests break it to show that the conformance suite's
    /// races catch a backend that checks wrongly.
    #[cfg(test)]
    invariant_check: InvariantCheck,
}

/// How a (test-only) SQLite store checks invariant 2 when it records a repair.
#[cfg(test)]
#[derive(Clone, Default)]
enum InvariantCheck {
    /// In the repair's own transaction, as the store does.
    #[default]
    InTransaction,
    /// Not at all.
    Skipped,
    /// In a transaction of its own before the repair's, as a backend at a weaker isolation
    /// level effectively does: each racer checks, then waits at the barrier until the other
    /// racers have checked too, then records.
    Apart(Arc<tokio::sync::Barrier>),
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Prepared statements kept per connection (the store runs about seventy distinct ones).
const STATEMENT_CACHE: usize = 128;

/// `execute`, the statement kept in the connection's cache (preparing it again on every
/// call was a fifth of a heartbeat's store time at 10,000 peers).
fn exec<P: rusqlite::Params>(tx: &Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// `query_row`, the statement kept in the connection's cache.
fn query_one<T, P, F>(tx: &Connection, sql: &str, params: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
{
    tx.prepare_cached(sql)?.query_row(params, f)
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Stored integers are SQLite's signed 64 bits; sizes and times fit comfortably.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint<I: RowIndex>(row: &Row<'_>, column: I) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    Ok(u64::try_from(value).unwrap_or(0))
}

fn corrupt(what: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(what.to_string())))
}

fn bytes32<I: RowIndex + std::fmt::Display + Copy>(
    row: &Row<'_>,
    column: I,
) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = row.get(column)?;
    bytes
        .try_into()
        .map_err(|_| corrupt(format!("{column} is not 32 bytes")))
}

fn peer_id<I: RowIndex + std::fmt::Display + Copy>(
    row: &Row<'_>,
    column: I,
) -> rusqlite::Result<PeerId> {
    PeerId::from_bytes(bytes32(row, column)?).map_err(corrupt)
}

fn piece_hash(row: &Row<'_>, column: &str) -> rusqlite::Result<PieceHash> {
    Ok(PieceHash::from_bytes(bytes32(row, column)?))
}

fn object_id(row: &Row<'_>, column: &str) -> rusqlite::Result<ObjectId> {
    let bytes: Vec<u8> = row.get(column)?;
    bytes
        .try_into()
        .map(ObjectId::from_bytes)
        .map_err(|_| corrupt(format!("{column} is not 16 bytes")))
}

fn redundancy(row: &Row<'_>) -> rusqlite::Result<Redundancy> {
    let text: String = row.get("redundancy")?;
    match RedundancyPolicy::from_str(&text) {
        Ok(RedundancyPolicy::Fixed(redundancy)) => Ok(redundancy),
        _ => Err(corrupt(format!(
            "redundancy {text:?} is not a fixed redundancy"
        ))),
    }
}

const PEER_COLUMNS: &str = "id, address, zone, capacity, used, piece_count, load, state, \
    state_since, registered_at, last_heartbeat, availability, rtt_ms, audit_score, \
    audits_passed, audits_failed";

/// A peer read with [`PEER_COLUMNS`], by position (the registry is read whole for every
/// placement, and looking columns up by name was half the cost at 10,000 peers).
fn peer_row(row: &Row<'_>) -> rusqlite::Result<PeerRecord> {
    let state: String = row.get(7)?;
    Ok(PeerRecord {
        id: peer_id(row, 0)?,
        address: row.get(1)?,
        zone: row.get(2)?,
        capacity: uint(row, 3)?,
        used: uint(row, 4)?,
        piece_count: uint(row, 5)?,
        load: u32::try_from(uint(row, 6)?).unwrap_or(u32::MAX),
        state: PeerState::from_str(&state).map_err(corrupt)?,
        state_since: uint(row, 8)?,
        registered_at: uint(row, 9)?,
        last_heartbeat: uint(row, 10)?,
        availability: row.get(11)?,
        rtt_ms: row.get(12)?,
        audit_score: row.get(13)?,
        audits_passed: uint(row, 14)?,
        audits_failed: uint(row, 15)?,
    })
}

fn placement_row(row: &Row<'_>) -> rusqlite::Result<PiecePlacement> {
    Ok(PiecePlacement {
        segment: u32::try_from(uint(row, "segment")?).map_err(corrupt)?,
        fragment: u16::try_from(uint(row, "fragment")?).map_err(corrupt)?,
        hash: piece_hash(row, "hash")?,
        size: uint(row, "size")?,
        peer: peer_id(row, "peer")?,
    })
}

fn get_peer(tx: &Connection, id: &PeerId) -> rusqlite::Result<Option<PeerRecord>> {
    query_one(
        tx,
        &format!("SELECT {PEER_COLUMNS} FROM peers WHERE id = ?1"),
        [id.as_bytes().as_slice()],
        peer_row,
    )
    .optional()
}

fn set_state(tx: &Connection, id: &PeerId, state: PeerState, now: u64) -> rusqlite::Result<usize> {
    exec(
        tx,
        "UPDATE peers SET state_since = CASE WHEN state = ?2 THEN state_since ELSE ?3 END, \
         state = ?2 WHERE id = ?1",
        params![id.as_bytes().as_slice(), state.as_str(), int(now)],
    )
}

/// The `(peer, hash)` pairs an object's pieces and placements occupy.
fn object_refs(
    tx: &Transaction<'_>,
    object: &ObjectId,
) -> rusqlite::Result<BTreeSet<(Vec<u8>, Vec<u8>)>> {
    let mut refs = BTreeSet::new();
    for table in ["pieces", "placements"] {
        let mut stmt =
            tx.prepare_cached(&format!("SELECT peer, hash FROM {table} WHERE object = ?1"))?;
        let rows = stmt.query_map([object.as_bytes().as_slice()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        for pair in rows {
            refs.insert(pair?);
        }
    }
    Ok(refs)
}

/// Queues each pair for deletion unless a piece or placement still references it.
fn queue_unreferenced(
    tx: &Transaction<'_>,
    refs: &BTreeSet<(Vec<u8>, Vec<u8>)>,
    now: u64,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO deletions (peer, hash, queued_at) SELECT ?1, ?2, ?3 \
         WHERE NOT EXISTS (SELECT 1 FROM pieces WHERE peer = ?1 AND hash = ?2) \
         AND NOT EXISTS (SELECT 1 FROM placements WHERE peer = ?1 AND hash = ?2)",
    )?;
    for (peer, hash) in refs {
        stmt.execute(params![peer, hash, int(now)])?;
    }
    Ok(())
}

/// Opens an upload (see [`ObjectStore::begin_upload`]).
fn insert_upload(tx: &Transaction<'_>, upload: &NewUpload) -> StoreResult<()> {
    exec(
        tx,
        "INSERT OR IGNORE INTO accounts (id, created_at) VALUES (?1, ?2)",
        params![upload.account.as_bytes().as_slice(), int(upload.created_at)],
    )
    .sql()?;
    exec(
        tx,
        "INSERT INTO objects (id, account, path, redundancy, committed, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
        params![
            upload.id.as_bytes().as_slice(),
            upload.account.as_bytes().as_slice(),
            upload.path,
            upload.redundancy.to_string(),
            int(upload.created_at),
            int(upload.expires_at)
        ],
    )
    .map_err(|e| match e {
        e if is_constraint(&e) => StoreError::AlreadyExists(format!("upload {}", upload.id)),
        other => backend(other),
    })?;
    Ok(())
}

/// Counts a transaction that records where pieces are (see [`IndexMark`]).
fn advance_generation(tx: &Transaction<'_>) -> StoreResult<()> {
    exec(
        tx,
        "UPDATE store_identity SET generation = generation + 1 WHERE only = 1",
        [],
    )
    .sql()
    .map(drop)
}

/// Records put orders handed out for pieces of open upload `upload` (see
/// [`ObjectStore::record_placement`]); the caller checked the upload is open.
fn insert_placements(
    tx: &Transaction<'_>,
    upload: &ObjectId,
    pieces: Vec<PiecePlacement>,
) -> StoreResult<()> {
    advance_generation(tx)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO placements (object, segment, fragment, peer, hash, size) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .sql()?;
    let mut unqueue = tx
        .prepare_cached("DELETE FROM deletions WHERE peer = ?1 AND hash = ?2")
        .sql()?;
    for p in pieces {
        insert
            .execute(params![
                upload.as_bytes().as_slice(),
                p.segment,
                p.fragment,
                p.peer.as_bytes().as_slice(),
                p.hash.as_bytes().as_slice(),
                int(p.size)
            ])
            .sql()?;
        unqueue
            .execute(params![
                p.peer.as_bytes().as_slice(),
                p.hash.as_bytes().as_slice()
            ])
            .sql()?;
    }
    Ok(())
}

/// Records segment `segment` of open upload `upload` (see
/// [`ObjectStore::commit_segment`]); the caller checked the upload is open.
fn record_segment(
    tx: &Transaction<'_>,
    upload: &ObjectId,
    segment: SegmentCommit,
) -> StoreResult<()> {
    advance_generation(tx)?;
    let id = upload.as_bytes().as_slice();
    exec(
        tx,
        "DELETE FROM pieces WHERE object = ?1 AND segment = ?2",
        params![id, segment.index],
    )
    .sql()?;
    exec(
        tx,
        "INSERT OR REPLACE INTO segments (object, idx, piece_size) VALUES (?1, ?2, ?3)",
        params![id, segment.index, int(segment.piece_size)],
    )
    .sql()?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO pieces (object, segment, fragment, peer, hash, size) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .sql()?;
    let mut unqueue = tx
        .prepare_cached("DELETE FROM deletions WHERE peer = ?1 AND hash = ?2")
        .sql()?;
    for p in segment.pieces {
        // A piece the object now needs must not be deleted.
        unqueue
            .execute(params![
                p.peer.as_bytes().as_slice(),
                p.hash.as_bytes().as_slice()
            ])
            .sql()?;
        insert
            .execute(params![
                id,
                segment.index,
                p.fragment,
                p.peer.as_bytes().as_slice(),
                p.hash.as_bytes().as_slice(),
                int(p.size)
            ])
            .map_err(|e| match e {
                e if is_constraint(&e) => StoreError::Conflict(format!(
                    "fragment {} is listed twice on peer {}",
                    p.fragment, p.peer
                )),
                other => backend(other),
            })?;
    }
    Ok(())
}

/// Makes open upload `upload` a committed object (see
/// [`ObjectStore::commit_object`]); the caller checked the upload is open.
fn commit_upload(
    tx: &Transaction<'_>,
    account: AccountId,
    upload: ObjectId,
    commit: CommitObject,
    now: u64,
) -> StoreResult<Option<ObjectId>> {
    let id = upload.as_bytes().as_slice();
    let committed: BTreeSet<u32> = {
        let mut stmt = tx
            .prepare_cached("SELECT idx FROM segments WHERE object = ?1")
            .sql()?;
        let rows = stmt.query_map([id], |row| row.get::<_, u32>(0)).sql()?;
        rows.collect::<rusqlite::Result<_>>().sql()?
    };
    let wanted: BTreeSet<u32> = (0..commit.segment_count).collect();
    if committed != wanted {
        let missing = wanted.symmetric_difference(&committed).copied().collect();
        return Err(StoreError::Incomplete { missing });
    }
    let path: String = query_one(tx, "SELECT path FROM objects WHERE id = ?1", [id], |row| {
        row.get(0)
    })
    .sql()?;
    let replaced = committed_id(tx, &account, &path).sql()?;
    if let Some(old) = &replaced {
        remove_object(tx, old, now).sql()?;
    }
    // Placed but never committed pieces (spares, failed attempts) go.
    let refs = object_refs(tx, &upload).sql()?;
    exec(tx, "DELETE FROM placements WHERE object = ?1", [id]).sql()?;
    queue_unreferenced(tx, &refs, now).sql()?;
    exec(
        tx,
        "UPDATE objects SET committed = 1, metadata = ?2, size = ?3, committed_at = ?4 WHERE id = ?1",
        params![id, commit.metadata, int(commit.size), int(now)],
    )
    .sql()?;
    Ok(replaced)
}

/// A peer that would hold two pieces of segment `index` of `object` once the `removed`
/// peers' pieces leave and the `added` ones join (invariant 2), if any.
fn doubled_peer(
    tx: &Transaction<'_>,
    object: &[u8],
    index: u32,
    removed: &[PeerId],
    added: &[PiecePlacement],
) -> rusqlite::Result<Option<PeerId>> {
    let mut seen = BTreeSet::new();
    let mut stmt = tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM pieces WHERE object = ?1 AND segment = ?2 AND peer = ?3)",
    )?;
    for piece in added {
        let stays = !removed.contains(&piece.peer)
            && stmt.query_row(
                params![object, index, piece.peer.as_bytes().as_slice()],
                |row| row.get::<_, bool>(0),
            )?;
        if stays || !seen.insert(piece.peer) {
            return Ok(Some(piece.peer));
        }
    }
    Ok(None)
}

/// Removes an object (committed or not) with its segments, pieces and placements, and
/// queues what it occupied for deletion.
fn remove_object(tx: &Transaction<'_>, object: &ObjectId, now: u64) -> rusqlite::Result<()> {
    // A committed object a share still needs is kept under a path of its own, out of its
    // owner's folders, until the last such share ends (see `shares.rs`).
    if shares::needed(tx, object, now)? {
        return shares::keep(tx, object);
    }
    drop_object(tx, object, now)
}

/// The one object `sql` selects (`id`, `path`, `redundancy`, `metadata`, `size`,
/// `committed_at`) with its segments, if any.
fn whole_object<P: rusqlite::Params>(
    tx: &Connection,
    sql: &str,
    params: P,
) -> StoreResult<Option<ObjectRecord>> {
    let Some(mut object) = query_one(tx, sql, params, object_row).optional().sql()? else {
        return Ok(None);
    };
    object.segments = load_segments(tx, &object.id, None).sql()?;
    Ok(Some(object))
}

/// An object's row (`id`, `path`, `redundancy`, `metadata`, `size`, `committed_at`),
/// without its segments.
fn object_row(row: &Row<'_>) -> rusqlite::Result<ObjectRecord> {
    Ok(ObjectRecord {
        id: object_id(row, "id")?,
        path: row.get("path")?,
        redundancy: redundancy(row)?,
        metadata: row.get("metadata")?,
        size: uint(row, "size")?,
        committed_at: uint(row, "committed_at")?,
        segments: Vec::new(),
    })
}

/// Removes `object` with its segments, pieces and placements, and queues for deletion the
/// pieces nothing else references.
fn drop_object(tx: &Transaction<'_>, object: &ObjectId, now: u64) -> rusqlite::Result<()> {
    let refs = object_refs(tx, object)?;
    let id = object.as_bytes().as_slice();
    exec(tx, "DELETE FROM pieces WHERE object = ?1", [id])?;
    exec(tx, "DELETE FROM placements WHERE object = ?1", [id])?;
    exec(tx, "DELETE FROM segments WHERE object = ?1", [id])?;
    exec(tx, "DELETE FROM objects WHERE id = ?1", [id])?;
    queue_unreferenced(tx, &refs, now)
}

/// The segments of `object` (only segment `only`, if given) with their pieces and which of
/// those are known damaged.
fn load_segments(
    tx: &Connection,
    object: &ObjectId,
    only: Option<u32>,
) -> rusqlite::Result<Vec<StoredSegment>> {
    let id = object.as_bytes().as_slice();
    let only = only.map(i64::from).unwrap_or(-1);
    let mut segments: Vec<StoredSegment> = {
        let mut stmt = tx.prepare_cached(
            "SELECT idx, piece_size FROM segments WHERE object = ?1 AND (?2 < 0 OR idx = ?2) \
             ORDER BY idx",
        )?;
        let rows = stmt.query_map(params![id, only], |row| {
            Ok(StoredSegment {
                index: row.get("idx")?,
                piece_size: uint(row, "piece_size")?,
                pieces: Vec::new(),
                corrupt: Vec::new(),
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut stmt = tx.prepare_cached(
        "SELECT segment, fragment, peer, hash, size, corrupt FROM pieces \
         WHERE object = ?1 AND (?2 < 0 OR segment = ?2) ORDER BY segment, fragment, peer",
    )?;
    let rows = stmt.query_map(params![id, only], |row| {
        Ok((placement_row(row)?, row.get::<_, i64>("corrupt")? != 0))
    })?;
    for row in rows {
        let (piece, corrupt) = row?;
        if let Some(segment) = segments.iter_mut().find(|s| s.index == piece.segment) {
            if corrupt {
                segment.corrupt.push(piece.peer);
            }
            segment.pieces.push(piece);
        }
    }
    Ok(segments)
}

/// The given segments, each with its object's id and redundancy and all its pieces.
fn object_segments(
    tx: &Connection,
    found: Vec<(ObjectId, u32, Redundancy)>,
) -> StoreResult<Vec<ObjectSegment>> {
    let mut out = Vec::with_capacity(found.len());
    for (object, index, redundancy) in found {
        for segment in load_segments(tx, &object, Some(index)).sql()? {
            out.push(ObjectSegment {
                object,
                redundancy,
                segment,
            });
        }
    }
    Ok(out)
}

/// The id of this account's open upload, if it is one.
/// [`StoreError::NotFound`] unless `upload` is `account`'s and still open.
fn require_open(tx: &Connection, account: &AccountId, upload: &ObjectId) -> StoreResult<()> {
    query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM objects WHERE id = ?1 AND account = ?2 AND committed = 0)",
        params![upload.as_bytes().as_slice(), account.as_bytes().as_slice()],
        |row| row.get::<_, bool>(0),
    )
    .sql()?
    .then_some(())
    .ok_or_else(|| StoreError::NotFound(format!("upload {upload}")))
}

fn committed_id(
    tx: &Connection,
    account: &AccountId,
    path: &str,
) -> rusqlite::Result<Option<ObjectId>> {
    query_one(
        tx,
        "SELECT id FROM objects WHERE account = ?1 AND path = ?2 AND committed = 1",
        params![account.as_bytes().as_slice(), path],
        |row| object_id(row, "id"),
    )
    .optional()
}

/// Paths starting with `?2`, given `?3 = prefix_end(?2)`: a range on the path index. SQLite
/// compares text with `memcmp`, and UTF-8 byte order is code point order, so the range holds
/// exactly the byte-wise prefix matches (no `LIKE`, whose `%` and `_` are wildcards).
const UNDER_PREFIX: &str = "path >= ?2 AND (?3 IS NULL OR path < ?3)";

/// The least string greater than every string starting with `prefix`, if any.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The code point after U+D7FF is U+E000: surrogates are not characters.
        let next = match u32::from(last) {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date,
    /// scoring peers as the pool does by default ([`PeerScoring::default`]).
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, PeerScoring::default())
    }

    /// [`open`](Self::open), scoring peers by `scoring`.
    pub fn open_with(path: &Path, scoring: PeerScoring) -> StoreResult<Self> {
        let mut conn = Connection::open(path).map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "cannot use WAL mode (got {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(backend)?;
        schema::migrate(&mut conn)?;
        // Room for every statement the store runs, so none is prepared twice.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self {
            writer: Arc::new(writer::Writer::start(conn)?),
            scoring,
            #[cfg(test)]
            invariant_check: InvariantCheck::default(),
        })
    }

    /// Runs `work` atomically (all or nothing) and returns once it is durable.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.writer.run(work).await
    }
}

/// Maps a plain SQLite error into the store's error (closures return `StoreResult`).
trait Sql<T> {
    fn sql(self) -> StoreResult<T>;
}

impl<T> Sql<T> for rusqlite::Result<T> {
    fn sql(self) -> StoreResult<T> {
        self.map_err(|e| match e {
            rusqlite::Error::ToSqlConversionFailure(inner)
            | rusqlite::Error::FromSqlConversionFailure(_, _, inner) => {
                StoreError::Corrupt(inner.to_string())
            }
            e @ (rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)) => StoreError::Corrupt(e.to_string()),
            other => backend(other),
        })
    }
}
