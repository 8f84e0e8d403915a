//! The embedded metadata store: one SQLite file in the pool's data directory, in WAL mode
//! with full fsync, each trait method atomic (a savepoint in a group-committed transaction
//! run on the store's own thread).

mod schema;
mod writer;

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use cairn_core::{AccountId, PeerId, PieceHash, Redundancy, RedundancyPolicy};
use rusqlite::{Connection, OptionalExtension, Row, RowIndex, Transaction, params};

use super::{
    AuditTally, CommitObject, HeartbeatStats, LevelEntry, MetadataStore, NewUpload, ObjectRecord,
    ObjectSegment, ObjectSummary, PeerHealthUpdate, PeerRecord, PeerRegistration, PeerUsage,
    PiecePlacement, SegmentCommit, StoreError, StoreResult, StoreStats, StoredSegment, UploadId,
    UploadRecord,
};
use crate::state::PeerState;

/// The SQLite metadata store. Cheap to clone; clones share one connection and its thread.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<writer::Writer>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

/// How much one audit moves a peer's audit score (an exponentially weighted average).
const AUDIT_SCORE_WEIGHT: f64 = 0.1;

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

fn upload_id(row: &Row<'_>, column: &str) -> rusqlite::Result<UploadId> {
    let bytes: Vec<u8> = row.get(column)?;
    bytes
        .try_into()
        .map(UploadId)
        .map_err(|_| corrupt(format!("{column} is not 16 bytes")))
}

fn redundancy(row: &Row<'_>) -> rusqlite::Result<Redundancy> {
    let text: String = row.get("redundancy")?;
    match RedundancyPolicy::from_str(&text) {
        Ok(RedundancyPolicy::Fixed(shape)) => Ok(shape),
        _ => Err(corrupt(format!("redundancy {text:?} is not a fixed shape"))),
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
    object: &UploadId,
) -> rusqlite::Result<BTreeSet<(Vec<u8>, Vec<u8>)>> {
    let mut refs = BTreeSet::new();
    for table in ["pieces", "placements"] {
        let mut stmt =
            tx.prepare_cached(&format!("SELECT peer, hash FROM {table} WHERE object = ?1"))?;
        let rows = stmt.query_map([object.0.as_slice()], |row| Ok((row.get(0)?, row.get(1)?)))?;
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

/// Opens an upload (see [`MetadataStore::begin_upload`]).
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
            upload.id.0.as_slice(),
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

/// Records put orders handed out for pieces of open upload `upload` (see
/// [`MetadataStore::record_placement`]); the caller checked the upload is open.
fn insert_placements(
    tx: &Transaction<'_>,
    upload: &UploadId,
    pieces: Vec<PiecePlacement>,
) -> StoreResult<()> {
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
                upload.0.as_slice(),
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
/// [`MetadataStore::commit_segment`]); the caller checked the upload is open.
fn record_segment(
    tx: &Transaction<'_>,
    upload: &UploadId,
    segment: SegmentCommit,
) -> StoreResult<()> {
    let id = upload.0.as_slice();
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
/// [`MetadataStore::commit_object`]); the caller checked the upload is open.
fn commit_upload(
    tx: &Transaction<'_>,
    account: AccountId,
    upload: UploadId,
    commit: CommitObject,
    now: u64,
) -> StoreResult<Option<UploadId>> {
    let id = upload.0.as_slice();
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
fn remove_object(tx: &Transaction<'_>, object: &UploadId, now: u64) -> rusqlite::Result<()> {
    let refs = object_refs(tx, object)?;
    let id = object.0.as_slice();
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
    object: &UploadId,
    only: Option<u32>,
) -> rusqlite::Result<Vec<StoredSegment>> {
    let id = object.0.as_slice();
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

/// The given segments, each with its object's id and shape and all its pieces.
fn object_segments(
    tx: &Connection,
    found: Vec<(UploadId, u32, Redundancy)>,
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
fn require_open(tx: &Connection, account: &AccountId, upload: &UploadId) -> StoreResult<()> {
    query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM objects WHERE id = ?1 AND account = ?2 AND committed = 0)",
        params![upload.0.as_slice(), account.as_bytes().as_slice()],
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
) -> rusqlite::Result<Option<UploadId>> {
    query_one(
        tx,
        "SELECT id FROM objects WHERE account = ?1 AND path = ?2 AND committed = 1",
        params![account.as_bytes().as_slice(), path],
        |row| upload_id(row, "id"),
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
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
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

impl MetadataStore for SqliteStore {
    async fn register_peer(&self, reg: PeerRegistration, now: u64) -> StoreResult<PeerRecord> {
        self.write(move |tx| {
            let id = reg.id.as_bytes().as_slice();
            match get_peer(tx, &reg.id).sql()? {
                None => {
                    exec(
                        tx,
                        &format!("INSERT INTO peers ({PEER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?8, ?8, ?9, NULL, 1.0, 0, 0)"),
                        params![
                            id,
                            reg.address,
                            reg.zone,
                            int(reg.capacity),
                            int(reg.used),
                            int(reg.piece_count),
                            PeerState::Online.as_str(),
                            int(now),
                            crate::placement::ASSUMED_AVAILABILITY,
                        ],
                    )
                    .sql()?;
                }
                Some(existing) => {
                    exec(
                        tx,
                        "UPDATE peers SET address = ?2, zone = ?3, capacity = ?4, used = ?5, \
                         piece_count = ?6, last_heartbeat = ?7 WHERE id = ?1",
                        params![
                            id,
                            reg.address,
                            reg.zone,
                            int(reg.capacity),
                            int(reg.used),
                            int(reg.piece_count),
                            int(now)
                        ],
                    )
                    .sql()?;
                    if existing.state != PeerState::Disqualified {
                        set_state(tx, &reg.id, PeerState::Online, now).sql()?;
                    }
                }
            }
            get_peer(tx, &reg.id)
                .sql()?
                .ok_or_else(|| StoreError::Backend("a registered peer vanished".to_owned()))
        })
        .await
    }

    async fn heartbeat(
        &self,
        id: PeerId,
        stats: HeartbeatStats,
        now: u64,
    ) -> StoreResult<PeerRecord> {
        self.write(move |tx| {
            let existing = get_peer(tx, &id)
                .sql()?
                .ok_or_else(|| StoreError::NotFound(format!("peer {id}")))?;
            exec(
                tx,
                "UPDATE peers SET used = ?2, piece_count = ?3, load = ?4, last_heartbeat = ?5 WHERE id = ?1",
                params![
                    id.as_bytes().as_slice(),
                    int(stats.used),
                    int(stats.piece_count),
                    i64::from(stats.load),
                    int(now)
                ],
            )
            .sql()?;
            if matches!(
                existing.state,
                PeerState::Suspect | PeerState::Offline | PeerState::Lost
            ) {
                set_state(tx, &id, PeerState::Online, now).sql()?;
            }
            get_peer(tx, &id)
                .sql()?
                .ok_or_else(|| StoreError::NotFound(format!("peer {id}")))
        })
        .await
    }

    async fn peer(&self, id: PeerId) -> StoreResult<Option<PeerRecord>> {
        self.write(move |tx| get_peer(tx, &id).sql()).await
    }

    async fn peers(&self) -> StoreResult<Vec<PeerRecord>> {
        self.write(|tx| {
            let mut stmt = tx
                .prepare_cached(&format!("SELECT {PEER_COLUMNS} FROM peers ORDER BY id"))
                .sql()?;
            let rows = stmt.query_map([], peer_row).sql()?;
            rows.collect::<rusqlite::Result<Vec<_>>>().sql()
        })
        .await
    }

    async fn update_health(&self, updates: Vec<PeerHealthUpdate>) -> StoreResult<()> {
        self.write(move |tx| {
            let mut score = tx
                .prepare_cached("UPDATE peers SET availability = ?2 WHERE id = ?1")
                .sql()?;
            let mut state = tx
                .prepare_cached(
                    "UPDATE peers SET state = ?2, state_since = ?3 \
                     WHERE id = ?1 AND state = ?4 AND last_heartbeat = ?5",
                )
                .sql()?;
            for u in updates {
                let id = u.id.as_bytes().as_slice();
                score.execute(params![id, u.availability]).sql()?;
                state
                    .execute(params![
                        id,
                        u.state.as_str(),
                        int(u.state_since),
                        u.read_state.as_str(),
                        int(u.read_heartbeat)
                    ])
                    .sql()?;
            }
            Ok(())
        })
        .await
    }

    async fn set_peer_rtt(&self, id: PeerId, rtt_ms: f64) -> StoreResult<()> {
        self.write(move |tx| {
            exec(
                tx,
                "UPDATE peers SET rtt_ms = ?2 WHERE id = ?1",
                params![id.as_bytes().as_slice(), rtt_ms],
            )
            .sql()?;
            Ok(())
        })
        .await
    }

    async fn set_peer_state(&self, id: PeerId, state: PeerState, now: u64) -> StoreResult<()> {
        self.write(move |tx| match set_state(tx, &id, state, now).sql()? {
            0 => Err(StoreError::NotFound(format!("peer {id}"))),
            _ => Ok(()),
        })
        .await
    }

    async fn ensure_account(&self, id: AccountId, now: u64) -> StoreResult<bool> {
        self.write(move |tx| {
            let inserted = exec(
                tx,
                "INSERT OR IGNORE INTO accounts (id, created_at) VALUES (?1, ?2)",
                params![id.as_bytes().as_slice(), int(now)],
            )
            .sql()?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn begin_upload(&self, upload: NewUpload) -> StoreResult<()> {
        self.write(move |tx| insert_upload(tx, &upload)).await
    }

    async fn begin_with_placement(
        &self,
        upload: NewUpload,
        pieces: Vec<PiecePlacement>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            insert_upload(tx, &upload)?;
            insert_placements(tx, &upload.id, pieces)
        })
        .await
    }

    async fn upload(&self, account: AccountId, id: UploadId) -> StoreResult<Option<UploadRecord>> {
        self.write(move |tx| {
            let found = query_one(
                tx,
                "SELECT id, account, path, redundancy, created_at, expires_at FROM objects \
                     WHERE id = ?1 AND account = ?2 AND committed = 0",
                params![id.0.as_slice(), account.as_bytes().as_slice()],
                |row| {
                    Ok(UploadRecord {
                        id: upload_id(row, "id")?,
                        account,
                        path: row.get("path")?,
                        redundancy: redundancy(row)?,
                        created_at: uint(row, "created_at")?,
                        expires_at: uint(row, "expires_at")?,
                        committed_segments: Vec::new(),
                    })
                },
            )
            .optional()
            .sql()?;
            let Some(mut record) = found else {
                return Ok(None);
            };
            let mut stmt = tx
                .prepare_cached("SELECT idx FROM segments WHERE object = ?1 ORDER BY idx")
                .sql()?;
            let rows = stmt
                .query_map([id.0.as_slice()], |row| row.get::<_, u32>(0))
                .sql()?;
            record.committed_segments = rows.collect::<rusqlite::Result<_>>().sql()?;
            Ok(Some(record))
        })
        .await
    }

    async fn record_placement(
        &self,
        upload: UploadId,
        pieces: Vec<PiecePlacement>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let open: bool = query_one(
                tx,
                "SELECT EXISTS (SELECT 1 FROM objects WHERE id = ?1 AND committed = 0)",
                [upload.0.as_slice()],
                |row| row.get(0),
            )
            .sql()?;
            if !open {
                return Err(StoreError::NotFound(format!("upload {upload}")));
            }
            insert_placements(tx, &upload, pieces)
        })
        .await
    }

    async fn placements(&self, upload: UploadId, segment: u32) -> StoreResult<Vec<PiecePlacement>> {
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT segment, fragment, peer, hash, size FROM placements \
                     WHERE object = ?1 AND segment = ?2 ORDER BY fragment, peer",
                )
                .sql()?;
            let rows = stmt
                .query_map(params![upload.0.as_slice(), segment], placement_row)
                .sql()?;
            rows.collect::<rusqlite::Result<_>>().sql()
        })
        .await
    }

    async fn commit_segment(
        &self,
        account: AccountId,
        upload: UploadId,
        segment: SegmentCommit,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            require_open(tx, &account, &upload)?;
            record_segment(tx, &upload, segment)
        })
        .await
    }

    async fn commit_with_segment(
        &self,
        account: AccountId,
        upload: UploadId,
        segment: SegmentCommit,
        commit: CommitObject,
        now: u64,
    ) -> StoreResult<Option<UploadId>> {
        self.write(move |tx| {
            require_open(tx, &account, &upload)?;
            record_segment(tx, &upload, segment)?;
            commit_upload(tx, account, upload, commit, now)
        })
        .await
    }

    async fn commit_object(
        &self,
        account: AccountId,
        upload: UploadId,
        commit: CommitObject,
        now: u64,
    ) -> StoreResult<Option<UploadId>> {
        self.write(move |tx| {
            require_open(tx, &account, &upload)?;
            commit_upload(tx, account, upload, commit, now)
        })
        .await
    }

    async fn abort_upload(
        &self,
        account: AccountId,
        upload: UploadId,
        now: u64,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            require_open(tx, &account, &upload)?;
            remove_object(tx, &upload, now).sql()
        })
        .await
    }

    async fn expire_uploads(&self, now: u64) -> StoreResult<u64> {
        self.write(move |tx| {
            let expired: Vec<UploadId> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT id FROM objects WHERE committed = 0 AND expires_at <= ?1",
                    )
                    .sql()?;
                let rows = stmt
                    .query_map([int(now)], |row| upload_id(row, "id"))
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            for upload in &expired {
                remove_object(tx, upload, now).sql()?;
            }
            Ok(expired.len() as u64)
        })
        .await
    }

    async fn list_objects(
        &self,
        account: AccountId,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<ObjectSummary>> {
        self.write(move |tx| {
            let end = prefix_end(&prefix);
            let mut stmt = tx.prepare_cached(&format!(
                    "SELECT path, size, committed_at, metadata FROM objects \
                     WHERE account = ?1 AND committed = 1 AND {UNDER_PREFIX} AND (?4 IS NULL OR path > ?4) \
                     ORDER BY path LIMIT ?5"
                ))
                .sql()?;
            let rows = stmt
                .query_map(
                    params![account.as_bytes().as_slice(), prefix, end, after, limit],
                    |row| {
                        Ok(ObjectSummary {
                            path: row.get("path")?,
                            size: uint(row, "size")?,
                            committed_at: uint(row, "committed_at")?,
                            metadata: row.get("metadata")?,
                        })
                    },
                )
                .sql()?;
            let found: Vec<ObjectSummary> = rows.collect::<rusqlite::Result<_>>().sql()?;
            // The range is exact (see `UNDER_PREFIX`); the check guards the invariant.
            Ok(found
                .into_iter()
                .filter(|o| o.path.starts_with(&prefix))
                .collect())
        })
        .await
    }

    async fn list_level(
        &self,
        account: AccountId,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<LevelEntry>> {
        self.write(move |tx| {
            let end = prefix_end(&prefix);
            // Rows come from `lower` on (inclusive) and after `strict`; a sub-folder moves
            // `lower` past everything in it, so its contents are never read.
            let mut lower = prefix.clone();
            let mut strict = None;
            match after {
                Some(after) if after.ends_with('/') => match prefix_end(&after) {
                    Some(past) => lower = lower.max(past),
                    None => return Ok(Vec::new()),
                },
                after => strict = after,
            }
            let mut stmt = tx
                .prepare_cached(
                    "SELECT path, size, committed_at, metadata FROM objects \
                     WHERE account = ?1 AND committed = 1 AND path >= ?2 \
                     AND (?3 IS NULL OR path < ?3) AND (?4 IS NULL OR path > ?4) \
                     ORDER BY path LIMIT ?5",
                )
                .sql()?;
            let limit = limit as usize;
            let mut found = Vec::new();
            'scan: while found.len() < limit {
                let asked = limit - found.len();
                let mut rows = stmt
                    .query(params![
                        account.as_bytes().as_slice(),
                        lower,
                        end,
                        strict,
                        asked as i64
                    ])
                    .sql()?;
                let mut read = 0;
                while let Some(row) = rows.next().sql()? {
                    read += 1;
                    let path: String = row.get("path").sql()?;
                    // The range is exact (see `UNDER_PREFIX`); the check guards the invariant.
                    let Some(rest) = path.strip_prefix(prefix.as_str()) else {
                        break 'scan;
                    };
                    if let Some(slash) = rest.find('/') {
                        let folder = path[..prefix.len() + slash + 1].to_owned();
                        let past = prefix_end(&folder);
                        found.push(LevelEntry::Folder(folder));
                        match past {
                            Some(past) => {
                                lower = past;
                                strict = None;
                                continue 'scan;
                            }
                            None => break 'scan,
                        }
                    }
                    found.push(LevelEntry::Object(ObjectSummary {
                        size: uint(row, "size").sql()?,
                        committed_at: uint(row, "committed_at").sql()?,
                        metadata: row.get("metadata").sql()?,
                        path: path.clone(),
                    }));
                    strict = Some(path);
                }
                if read < asked {
                    break;
                }
            }
            Ok(found)
        })
        .await
    }

    async fn object(&self, account: AccountId, path: String) -> StoreResult<Option<ObjectRecord>> {
        self.write(move |tx| {
            let found = query_one(
                tx,
                "SELECT id, path, redundancy, metadata, size, committed_at FROM objects \
                     WHERE account = ?1 AND path = ?2 AND committed = 1",
                params![account.as_bytes().as_slice(), path],
                |row| {
                    Ok(ObjectRecord {
                        id: upload_id(row, "id")?,
                        path: row.get("path")?,
                        redundancy: redundancy(row)?,
                        metadata: row.get("metadata")?,
                        size: uint(row, "size")?,
                        committed_at: uint(row, "committed_at")?,
                        segments: Vec::new(),
                    })
                },
            )
            .optional()
            .sql()?;
            let Some(mut object) = found else {
                return Ok(None);
            };
            object.segments = load_segments(tx, &object.id, None).sql()?;
            Ok(Some(object))
        })
        .await
    }

    async fn rename_object(
        &self,
        account: AccountId,
        from: String,
        to: String,
        _now: u64,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let id = committed_id(tx, &account, &from)
                .sql()?
                .ok_or_else(|| StoreError::NotFound(format!("object {from}")))?;
            if from == to {
                return Ok(());
            }
            if committed_id(tx, &account, &to).sql()?.is_some() {
                return Err(StoreError::AlreadyExists(format!("object {to}")));
            }
            exec(
                tx,
                "UPDATE objects SET path = ?2 WHERE id = ?1",
                params![id.0.as_slice(), to],
            )
            .sql()?;
            Ok(())
        })
        .await
    }

    async fn rename_prefix(
        &self,
        account: AccountId,
        from_prefix: String,
        to_prefix: String,
        _now: u64,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            let moving: Vec<(UploadId, String)> = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT id, path FROM objects WHERE account = ?1 AND committed = 1 \
                         AND {UNDER_PREFIX}"
                    ))
                    .sql()?;
                let rows = stmt
                    .query_map(
                        params![
                            account.as_bytes().as_slice(),
                            from_prefix,
                            prefix_end(&from_prefix)
                        ],
                        |row| Ok((upload_id(row, "id")?, row.get::<_, String>("path")?)),
                    )
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            let moving_ids: BTreeSet<UploadId> = moving.iter().map(|(id, _)| *id).collect();
            let mut targets = Vec::with_capacity(moving.len());
            for (id, path) in &moving {
                let Some(rest) = path.strip_prefix(from_prefix.as_str()) else {
                    continue;
                };
                let target = format!("{to_prefix}{rest}");
                // A target held by an object that moves away too is free afterwards.
                if let Some(holder) = committed_id(tx, &account, &target).sql()?
                    && !moving_ids.contains(&holder)
                {
                    return Err(StoreError::AlreadyExists(format!("object {target}")));
                }
                targets.push((*id, target));
            }
            // Two steps so that no intermediate state collides on the unique path index.
            for (id, _) in &targets {
                exec(
                    tx,
                    "UPDATE objects SET path = char(0) || hex(id) WHERE id = ?1",
                    [id.0.as_slice()],
                )
                .sql()?;
            }
            for (id, target) in &targets {
                exec(
                    tx,
                    "UPDATE objects SET path = ?2 WHERE id = ?1",
                    params![id.0.as_slice(), target],
                )
                .sql()?;
            }
            Ok(targets.len() as u64)
        })
        .await
    }

    async fn delete_object(&self, account: AccountId, path: String, now: u64) -> StoreResult<()> {
        self.write(move |tx| {
            let id = committed_id(tx, &account, &path)
                .sql()?
                .ok_or_else(|| StoreError::NotFound(format!("object {path}")))?;
            remove_object(tx, &id, now).sql()
        })
        .await
    }

    async fn pending_deletes(&self, peer: PeerId, limit: u32) -> StoreResult<Vec<PieceHash>> {
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT hash FROM deletions WHERE peer = ?1 ORDER BY queued_at, hash LIMIT ?2",
                )
                .sql()?;
            let rows = stmt
                .query_map(params![peer.as_bytes().as_slice(), limit], |row| {
                    piece_hash(row, "hash")
                })
                .sql()?;
            rows.collect::<rusqlite::Result<_>>().sql()
        })
        .await
    }

    async fn ack_deletes(&self, peer: PeerId, hashes: Vec<PieceHash>) -> StoreResult<()> {
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached("DELETE FROM deletions WHERE peer = ?1 AND hash = ?2")
                .sql()?;
            for hash in hashes {
                stmt.execute(params![
                    peer.as_bytes().as_slice(),
                    hash.as_bytes().as_slice()
                ])
                .sql()?;
            }
            Ok(())
        })
        .await
    }

    async fn pieces_on_peer(&self, peer: PeerId) -> StoreResult<Vec<PieceHash>> {
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT hash FROM pieces WHERE peer = ?1 \
                     UNION SELECT hash FROM placements WHERE peer = ?1 ORDER BY hash",
                )
                .sql()?;
            let rows = stmt
                .query_map([peer.as_bytes().as_slice()], |row| piece_hash(row, "hash"))
                .sql()?;
            rows.collect::<rusqlite::Result<_>>().sql()
        })
        .await
    }

    async fn stats(&self) -> StoreResult<StoreStats> {
        self.write(|tx| {
            let mut stmt = tx
                .prepare_cached("SELECT state, count(*) FROM peers GROUP BY state ORDER BY state")
                .sql()?;
            let rows = stmt
                .query_map([], |row| {
                    let state: String = row.get(0)?;
                    let count: i64 = row.get(1)?;
                    Ok((PeerState::from_str(&state).map_err(corrupt)?, count as u64))
                })
                .sql()?;
            let peers_by_state = rows.collect::<rusqlite::Result<_>>().sql()?;
            drop(stmt);
            let count = |sql: &str| -> StoreResult<u64> {
                query_one(tx, sql, [], |row| row.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .sql()
            };
            Ok(StoreStats {
                peers_by_state,
                accounts: count("SELECT count(*) FROM accounts")?,
                objects: count("SELECT count(*) FROM objects WHERE committed = 1")?,
                // `total` is a float and cannot overflow; the cast saturates.
                bytes: count(
                    "SELECT CAST(total(size) AS INTEGER) FROM objects WHERE committed = 1",
                )?,
                pieces: count("SELECT count(*) FROM pieces")?,
                pending_uploads: count("SELECT count(*) FROM objects WHERE committed = 0")?,
            })
        })
        .await
    }

    async fn degraded_segments(&self) -> StoreResult<u64> {
        self.write(|tx| {
            // The shape is stored as text; parse each distinct one here rather than in SQL.
            let shapes: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached("SELECT DISTINCT redundancy FROM objects WHERE committed = 1")
                    .sql()?;
                let rows = stmt.query_map([], |row| row.get(0)).sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            // Per segment: how many fragments of the shape have at least `r` pieces on
            // online peers; fewer than `k + m` such fragments is below full redundancy.
            let mut stmt = tx
                .prepare_cached(
                    "SELECT count(*) FROM segments s JOIN objects o ON o.id = s.object \
                     WHERE o.committed = 1 AND o.redundancy = ?1 AND ( \
                       SELECT count(*) FROM ( \
                         SELECT p.fragment FROM pieces p JOIN peers e ON e.id = p.peer \
                         WHERE p.object = s.object AND p.segment = s.idx AND p.corrupt = 0 \
                         AND p.fragment >= 0 AND p.fragment < ?2 AND e.state = ?4 \
                         GROUP BY p.fragment HAVING count(*) >= ?3 \
                       ) \
                     ) < ?2",
                )
                .sql()?;
            let mut degraded = 0u64;
            for text in shapes {
                let shape = match RedundancyPolicy::from_str(&text) {
                    Ok(RedundancyPolicy::Fixed(shape)) => shape,
                    _ => {
                        return Err(StoreError::Corrupt(format!(
                            "redundancy {text:?} is not a fixed shape"
                        )));
                    }
                };
                let count: i64 = stmt
                    .query_row(
                        params![
                            text,
                            shape.fragments(),
                            shape.r(),
                            PeerState::Online.as_str()
                        ],
                        |row| row.get(0),
                    )
                    .sql()?;
                degraded = degraded.saturating_add(u64::try_from(count).unwrap_or(0));
            }
            Ok(degraded)
        })
        .await
    }

    async fn damaged_segments(&self, limit: u32) -> StoreResult<Vec<ObjectSegment>> {
        self.write(move |tx| {
            let found: Vec<(UploadId, u32, Redundancy)> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT DISTINCT p.object AS id, p.segment AS segment, o.redundancy \
                         FROM pieces p JOIN objects o ON o.id = p.object AND o.committed = 1 \
                         LEFT JOIN peers e ON e.id = p.peer \
                         WHERE p.corrupt = 1 OR e.id IS NULL \
                            OR e.state IN ('lost', 'left', 'disqualified') \
                         ORDER BY p.object, p.segment LIMIT ?1",
                    )
                    .sql()?;
                let rows = stmt
                    .query_map([i64::from(limit)], |row| {
                        Ok((upload_id(row, "id")?, row.get("segment")?, redundancy(row)?))
                    })
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            object_segments(tx, found)
        })
        .await
    }

    async fn repair_segment(
        &self,
        object: UploadId,
        index: u32,
        removed: Vec<PeerId>,
        added: Vec<PiecePlacement>,
        now: u64,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let id = object.0.as_slice();
            let live: bool = query_one(
                tx,
                "SELECT EXISTS (SELECT 1 FROM segments s JOIN objects o ON o.id = s.object \
                     WHERE s.object = ?1 AND s.idx = ?2 AND o.committed = 1)",
                params![id, index],
                |row| row.get(0),
            )
            .sql()?;
            let added_refs: BTreeSet<(Vec<u8>, Vec<u8>)> = added
                .iter()
                .map(|p| (p.peer.as_bytes().to_vec(), p.hash.as_bytes().to_vec()))
                .collect();
            // A refusal still commits: the added pieces are stored on their peers and
            // must be collected.
            if !live {
                queue_unreferenced(tx, &added_refs, now).sql()?;
                return Ok(Err(StoreError::NotFound(format!(
                    "segment {index} of object {object}"
                ))));
            }
            if let Some(peer) = doubled_peer(tx, id, index, &removed, &added).sql()? {
                queue_unreferenced(tx, &added_refs, now).sql()?;
                return Ok(Err(StoreError::Conflict(format!(
                    "peer {peer} would hold two pieces of segment {index} of object {object}"
                ))));
            }
            let mut gone = BTreeSet::new();
            for peer in &removed {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT hash FROM pieces WHERE object = ?1 AND segment = ?2 AND peer = ?3",
                    )
                    .sql()?;
                let hashes = stmt
                    .query_map(params![id, index, peer.as_bytes().as_slice()], |row| {
                        row.get::<_, Vec<u8>>(0)
                    })
                    .sql()?;
                for hash in hashes {
                    gone.insert((peer.as_bytes().to_vec(), hash.sql()?));
                }
                exec(
                    tx,
                    "DELETE FROM pieces WHERE object = ?1 AND segment = ?2 AND peer = ?3",
                    params![id, index, peer.as_bytes().as_slice()],
                )
                .sql()?;
            }
            for piece in &added {
                exec(
                    tx,
                    "INSERT OR REPLACE INTO pieces (object, segment, fragment, peer, hash, size) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        id,
                        index,
                        piece.fragment,
                        piece.peer.as_bytes().as_slice(),
                        piece.hash.as_bytes().as_slice(),
                        int(piece.size)
                    ],
                )
                .sql()?;
                exec(
                    tx,
                    "DELETE FROM deletions WHERE peer = ?1 AND hash = ?2",
                    params![
                        piece.peer.as_bytes().as_slice(),
                        piece.hash.as_bytes().as_slice()
                    ],
                )
                .sql()?;
            }
            queue_unreferenced(tx, &gone, now).sql()?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn mark_corrupt(&self, peer: PeerId, hash: PieceHash) -> StoreResult<u64> {
        self.write(move |tx| {
            let changed = exec(
                tx,
                "UPDATE pieces SET corrupt = 1 WHERE peer = ?1 AND hash = ?2 AND corrupt = 0",
                params![peer.as_bytes().as_slice(), hash.as_bytes().as_slice()],
            )
            .sql()?;
            Ok(changed as u64)
        })
        .await
    }

    async fn record_audit(&self, peer: PeerId, passed: bool) -> StoreResult<AuditTally> {
        self.write(move |tx| {
            let weight = AUDIT_SCORE_WEIGHT;
            let changed = exec(
                tx,
                "UPDATE peers SET \
                       audits_passed = audits_passed + ?2, \
                       audits_failed = audits_failed + (1 - ?2), \
                       audit_failures_in_a_row = CASE WHEN ?2 = 1 THEN 0 \
                         ELSE audit_failures_in_a_row + 1 END, \
                       audit_score = audit_score * (1.0 - ?3) + ?2 * ?3 \
                     WHERE id = ?1",
                params![peer.as_bytes().as_slice(), i64::from(passed), weight],
            )
            .sql()?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("peer {peer}")));
            }
            query_one(
                tx,
                "SELECT audits_passed, audits_failed, audit_failures_in_a_row, audit_score \
                 FROM peers WHERE id = ?1",
                [peer.as_bytes().as_slice()],
                |row| {
                    Ok(AuditTally {
                        passed: uint(row, "audits_passed")?,
                        failed: uint(row, "audits_failed")?,
                        failed_in_a_row: u32::try_from(uint(row, "audit_failures_in_a_row")?)
                            .unwrap_or(u32::MAX),
                        score: row.get("audit_score")?,
                    })
                },
            )
            .sql()
        })
        .await
    }

    async fn random_piece(&self, peer: PeerId) -> StoreResult<Option<(PieceHash, u64)>> {
        self.write(move |tx| {
            query_one(
                tx,
                "SELECT p.hash AS hash, p.size AS size FROM pieces p \
                 JOIN objects o ON o.id = p.object AND o.committed = 1 \
                 WHERE p.peer = ?1 AND p.corrupt = 0 ORDER BY random() LIMIT 1",
                [peer.as_bytes().as_slice()],
                |row| Ok((piece_hash(row, "hash")?, uint(row, "size")?)),
            )
            .optional()
            .sql()
        })
        .await
    }

    async fn peer_usage(&self) -> StoreResult<std::collections::HashMap<PeerId, PeerUsage>> {
        self.write(move |tx| {
            let mut usage: std::collections::HashMap<PeerId, PeerUsage> =
                std::collections::HashMap::new();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT p.peer AS peer, CAST(total(p.size) AS INTEGER) AS bytes, \
                         count(*) AS pieces FROM pieces p \
                         JOIN segments s ON s.object = p.object AND s.idx = p.segment \
                         GROUP BY p.peer",
                    )
                    .sql()?;
                let rows = stmt
                    .query_map([], |row| {
                        Ok((
                            peer_id(row, "peer")?,
                            uint(row, "bytes")?,
                            uint(row, "pieces")?,
                        ))
                    })
                    .sql()?;
                for row in rows {
                    let (peer, bytes, pieces) = row.sql()?;
                    let entry = usage.entry(peer).or_default();
                    entry.bytes = bytes;
                    entry.pieces = pieces;
                }
            }
            let mut stmt = tx
                .prepare_cached("SELECT peer, count(*) AS n FROM deletions GROUP BY peer")
                .sql()?;
            let rows = stmt
                .query_map([], |row| Ok((peer_id(row, "peer")?, uint(row, "n")?)))
                .sql()?;
            for row in rows {
                let (peer, n) = row.sql()?;
                usage.entry(peer).or_default().pending_deletes = n;
            }
            Ok(usage)
        })
        .await
    }

    async fn segments_on_peer(&self, peer: PeerId, limit: u32) -> StoreResult<Vec<ObjectSegment>> {
        self.write(move |tx| {
            let found: Vec<(UploadId, u32, Redundancy)> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT p.object AS id, p.segment AS segment, o.redundancy \
                         FROM pieces p JOIN objects o ON o.id = p.object AND o.committed = 1 \
                         WHERE p.peer = ?1 AND p.corrupt = 0 \
                         ORDER BY p.object, p.segment LIMIT ?2",
                    )
                    .sql()?;
                let rows = stmt
                    .query_map(
                        params![peer.as_bytes().as_slice(), i64::from(limit)],
                        |row| Ok((upload_id(row, "id")?, row.get("segment")?, redundancy(row)?)),
                    )
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            object_segments(tx, found)
        })
        .await
    }

    async fn segments_after(
        &self,
        after: Option<(UploadId, u32)>,
        limit: u32,
    ) -> StoreResult<Vec<ObjectSegment>> {
        self.write(move |tx| {
            let (object, index) =
                after.map_or((Vec::new(), -1), |(o, i)| (o.0.to_vec(), i64::from(i)));
            let found: Vec<(UploadId, u32, Redundancy)> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT s.object AS id, s.idx AS segment, o.redundancy \
                         FROM segments s JOIN objects o ON o.id = s.object AND o.committed = 1 \
                         WHERE s.object > ?1 OR (s.object = ?1 AND s.idx > ?2) \
                         ORDER BY s.object, s.idx LIMIT ?3",
                    )
                    .sql()?;
                let rows = stmt
                    .query_map(params![object, index, i64::from(limit)], |row| {
                        Ok((upload_id(row, "id")?, row.get("segment")?, redundancy(row)?))
                    })
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            object_segments(tx, found)
        })
        .await
    }

    async fn account_usage(&self, account: AccountId) -> StoreResult<u64> {
        self.write(move |tx| {
            // `total` is a float and cannot overflow; the casts saturate.
            query_one(
                tx,
                "SELECT CAST(total(size) AS INTEGER) FROM ( \
                 SELECT p.size AS size FROM objects o \
                 JOIN pieces p ON p.object = o.id WHERE o.account = ?1 \
                 UNION ALL \
                 SELECT pl.size AS size FROM objects o \
                 JOIN placements pl ON pl.object = o.id \
                 WHERE o.account = ?1 AND o.committed = 0 AND NOT EXISTS \
                 (SELECT 1 FROM segments s WHERE s.object = pl.object AND s.idx = pl.segment))",
                [account.as_bytes().as_slice()],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .sql()
        })
        .await
    }

    async fn account_has_piece(
        &self,
        account: AccountId,
        peer: PeerId,
        hash: PieceHash,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            query_one(
                tx,
                "SELECT EXISTS (SELECT 1 FROM pieces p \
                 JOIN objects o ON o.id = p.object AND o.committed = 1 AND o.account = ?1 \
                 WHERE p.peer = ?2 AND p.hash = ?3)",
                params![
                    account.as_bytes().as_slice(),
                    peer.as_bytes().as_slice(),
                    hash.as_bytes().as_slice()
                ],
                |row| row.get(0),
            )
            .sql()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::store::conformance as c;

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("pool.sqlite")).unwrap()
    }

    crate::store::conformance::suite!(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        (store, dir)
    });

    #[tokio::test]
    async fn wal_mode_full_sync_foreign_keys_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store
            .write(|conn| {
                check_pragmas(conn);
                Ok(())
            })
            .await
            .unwrap();
    }

    fn check_pragmas(conn: &Connection) {
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Integer(i) => i.to_string(),
                other => format!("{other:?}"),
            })
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "2", "FULL");
        assert_eq!(pragma("foreign_keys"), "1");
        assert!(pragma("busy_timeout").parse::<u32>().unwrap() > 0);
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::VERSION);
    }

    #[test]
    fn reopening_applies_no_migration_twice_and_newer_schemas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(&dir));
        drop(open(&dir));
        let path = dir.path().join("pool.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", schema::VERSION + 1)
            .unwrap();
        drop(conn);
        assert_eq!(
            SqliteStore::open(&path).unwrap_err(),
            StoreError::SchemaTooNew {
                found: schema::VERSION + 1,
                known: schema::VERSION
            }
        );
    }

    #[tokio::test]
    async fn everything_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (upload, account, open_upload, peers, object, pending) = {
            let store = open(&dir);
            let (upload, account) = crate::store::conformance::committed_object(&store).await;
            // An open upload with placements, and a deleted object's queued pieces.
            let open_upload = NewUpload {
                id: UploadId::random(),
                account,
                path: "open".to_owned(),
                redundancy: Redundancy::ec(2, 2).unwrap(),
                created_at: 30,
                expires_at: 5000,
            };
            store.begin_upload(open_upload.clone()).await.unwrap();
            let placed = PiecePlacement {
                segment: 0,
                fragment: 1,
                hash: PieceHash::of(b"open"),
                size: 9,
                peer: c::peer(2),
            };
            store
                .record_placement(open_upload.id, vec![placed])
                .await
                .unwrap();
            crate::store::conformance::commit_at(&store, account, "gone", 40).await;
            store
                .delete_object(account, "gone".to_owned(), 50)
                .await
                .unwrap();
            let pending = store.pending_deletes(c::peer(3), 10).await.unwrap();
            assert_eq!(pending.len(), 0, "a/b still holds the same pieces");
            store
                .delete_object(account, "a/b".to_owned(), 60)
                .await
                .unwrap();
            crate::store::conformance::commit_at(&store, account, "a/b", 70).await;
            let pending = (store.pending_deletes(c::peer(3), 10).await.unwrap(),);
            let object = store.object(account, "a/b".to_owned()).await.unwrap();
            (
                upload,
                account,
                open_upload,
                store.peers().await.unwrap(),
                object,
                pending,
            )
        };
        let store = open(&dir);
        assert_eq!(store.peers().await.unwrap(), peers);
        let reopened = store.object(account, "a/b".to_owned()).await.unwrap();
        assert_eq!(reopened, object);
        assert_ne!(reopened.unwrap().id, upload);
        let record = store
            .upload(account, open_upload.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.path, "open");
        assert_eq!(
            store.placements(open_upload.id, 0).await.unwrap().len(),
            1,
            "placements survive"
        );
        assert!(
            store
                .pieces_on_peer(c::peer(2))
                .await
                .unwrap()
                .contains(&PieceHash::of(b"open"))
        );
        assert_eq!(
            (store.pending_deletes(c::peer(3), 10).await.unwrap(),),
            pending
        );
        // The reopened upload is still collected when it expires.
        assert_eq!(store.expire_uploads(5000).await.unwrap(), 1);
        assert_eq!(
            store.pending_deletes(c::peer(2), 10).await.unwrap(),
            vec![PieceHash::of(b"open")]
        );
    }

    #[tokio::test]
    async fn clones_share_one_database_under_concurrent_calls() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut tasks = tokio::task::JoinSet::new();
        for n in 1..=32u8 {
            let store = store.clone();
            tasks.spawn(async move {
                let registration = PeerRegistration {
                    id: c::peer(n),
                    address: format!("http://peer{n}"),
                    zone: None,
                    capacity: 1,
                    used: 0,
                    piece_count: 0,
                };
                store
                    .register_peer(registration, u64::from(n))
                    .await
                    .unwrap();
                store.ensure_account(c::account(n % 4), 1).await.unwrap()
            });
        }
        let created = tasks.join_all().await.into_iter().filter(|c| *c).count();
        assert_eq!(created, 4, "each account is created exactly once");
        assert_eq!(store.peers().await.unwrap().len(), 32);
    }

    #[tokio::test]
    async fn undecodable_rows_are_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let (_, account) = c::committed_object(&store).await;
        store
            .write(|conn| {
                conn.execute("UPDATE peers SET state = 'sleeping'", [])
                    .sql()?;
                conn.execute("UPDATE objects SET redundancy = 'auto'", [])
                    .sql()
            })
            .await
            .unwrap();
        assert!(matches!(store.peers().await, Err(StoreError::Corrupt(_))));
        assert!(matches!(
            store.object(account, "a/b".to_owned()).await,
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_panicking_call_leaves_the_store_usable() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let failed = store
            .write(|tx| -> StoreResult<()> {
                tx.execute(
                    "INSERT INTO accounts (id, created_at) VALUES (x'00', 0)",
                    [],
                )
                .sql()?;
                panic!("a bug in a store method");
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Backend(_))));
        assert!(store.ensure_account(c::account(1), 1).await.unwrap());
        assert_eq!(
            store.stats().await.unwrap().accounts,
            1,
            "the panicking call rolled back"
        );
    }

    fn path_text() -> impl Strategy<Value = String> {
        // Separators, LIKE wildcards, and characters around the UTF-8 length and
        // surrogate boundaries.
        let alphabet = prop::sample::select(vec![
            'a',
            'b',
            '/',
            '%',
            '_',
            '\0',
            '\u{7f}',
            '\u{80}',
            'é',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFF}',
            '\u{10FFFF}',
        ]);
        prop::collection::vec(alphabet, 0..4).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn paging_by_prefix_matches_a_sorted_model(
            paths in prop::collection::btree_set(path_text(), 0..12),
            prefix in path_text(),
            after in prop::option::of(path_text()),
            limit in 0u32..5,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let store = open(&dir);
            runtime.block_on(c::listing_matches_model(
                store,
                paths.into_iter().collect(),
                prefix,
                after,
                limit,
            ));
        }

        #[test]
        fn the_prefix_range_is_exact(prefix in path_text(), other in path_text()) {
            let end = prefix_end(&prefix);
            let in_range = other >= prefix && end.as_ref().is_none_or(|end| &other < end);
            prop_assert_eq!(in_range, other.starts_with(&prefix));
        }
    }

    #[test]
    fn prefix_end_is_the_next_string() {
        assert_eq!(prefix_end("ab/"), Some("ab0".to_owned()));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{D7FF}"), Some("a\u{E000}".to_owned()));
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".to_owned()));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }
}
