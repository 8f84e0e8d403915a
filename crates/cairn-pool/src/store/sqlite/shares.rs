//! SQLite's shares: [`ShareStore`] for [`SqliteStore`], and the keeping of shared objects
//! their owner removed: such an object moves to `kept/<id>` (a path no client lists) while
//! a share that is neither revoked, expired nor spent names it, and goes once none does.

use cairn_core::ShareId;

use super::*;
use crate::store::{KEPT_FOLDER, NewShare, ShareRecord, ShareStore};

/// The condition, on a `shares` row `h` at time `?2`, that it still opens.
const LIVE: &str = "h.revoked_ms IS NULL AND (h.expires_ms IS NULL OR h.expires_ms > ?2) \
     AND (h.max_downloads IS NULL OR h.downloads < h.max_downloads)";

/// Whether a live share names committed object `object` at `now`.
pub(super) fn needed(tx: &Connection, object: &ObjectId, now: u64) -> rusqlite::Result<bool> {
    let found: Option<i64> = query_one(
        tx,
        &format!(
            "SELECT 1 FROM share_objects s JOIN shares h ON h.id = s.share \
             JOIN objects o ON o.id = s.object \
             WHERE s.object = ?1 AND o.committed = 1 AND {LIVE} LIMIT 1"
        ),
        params![object.as_bytes().as_slice(), int(now)],
        |row| row.get(0),
    )
    .optional()?;
    Ok(found.is_some())
}

/// Moves `object` out of its owner's folders, to `kept/<id>`.
pub(super) fn keep(tx: &Connection, object: &ObjectId) -> rusqlite::Result<()> {
    exec(
        tx,
        "UPDATE objects SET path = ?2 WHERE id = ?1",
        params![object.as_bytes().as_slice(), kept_path(object)],
    )
    .map(drop)
}

fn kept_path(object: &ObjectId) -> String {
    format!("{KEPT_FOLDER}/{object}")
}

/// Removes the kept objects no live share names any more; answers how many.
fn sweep(tx: &Transaction<'_>, now: u64) -> rusqlite::Result<u64> {
    let kept: Vec<Vec<u8>> = {
        let mut statement = tx.prepare_cached(
            "SELECT id FROM objects WHERE committed = 1 AND path >= ?1 AND path < ?2",
        )?;
        let from = format!("{KEPT_FOLDER}/");
        let to = format!("{KEPT_FOLDER}0");
        statement
            .query_map(params![from, to], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut removed = 0;
    for id in kept {
        let Ok(id) = <[u8; 16]>::try_from(id.as_slice()) else {
            continue;
        };
        let object = ObjectId::from_bytes(id);
        if !needed(tx, &object, now)? {
            drop_object(tx, &object, now)?;
            removed += 1;
        }
    }
    Ok(removed)
}

const SHARE_COLUMNS: &str = "id, account, token_hash, manifest, label, created_ms, expires_ms, \
     max_downloads, downloads, revoked_ms, \
     (SELECT COUNT(*) FROM share_objects WHERE share = shares.id) AS objects";

fn share_row(row: &Row<'_>) -> rusqlite::Result<ShareRecord> {
    let id: Vec<u8> = row.get("id")?;
    let id: [u8; 16] = id
        .try_into()
        .map_err(|_| corrupt("a share id is not 16 bytes"))?;
    let optional = |column: &str| -> rusqlite::Result<Option<u64>> {
        let value: Option<i64> = row.get(column)?;
        Ok(value.map(|v| u64::try_from(v).unwrap_or(0)))
    };
    Ok(ShareRecord {
        id: ShareId::from_bytes(id),
        account: AccountId::from_bytes(bytes32(row, "account")?).map_err(corrupt)?,
        token_hash: bytes32(row, "token_hash")?,
        manifest: row.get("manifest")?,
        label: row.get("label")?,
        objects: uint(row, "objects")?,
        created_ms: uint(row, "created_ms")?,
        expires_ms: optional("expires_ms")?,
        max_downloads: optional("max_downloads")?,
        downloads: uint(row, "downloads")?,
        revoked_ms: optional("revoked_ms")?,
    })
}

impl ShareStore for SqliteStore {
    async fn create_share(&self, share: NewShare) -> StoreResult<()> {
        self.write(move |tx| {
            let id = share.id.as_bytes().as_slice();
            let taken: Option<i64> =
                query_one(tx, "SELECT 1 FROM shares WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .optional()
                .sql()?;
            if taken.is_some() {
                return Err(StoreError::AlreadyExists(format!("share {}", share.id)));
            }
            let account = share.account.as_bytes().as_slice();
            for object in &share.objects {
                let owned: Option<i64> = query_one(
                    tx,
                    "SELECT 1 FROM objects WHERE id = ?1 AND account = ?2 AND committed = 1",
                    params![object.as_bytes().as_slice(), account],
                    |row| row.get(0),
                )
                .optional()
                .sql()?;
                if owned.is_none() {
                    return Err(StoreError::NotFound(format!("object {object}")));
                }
            }
            exec(
                tx,
                "INSERT INTO shares (id, account, token_hash, manifest, label, created_ms, \
                 expires_ms, max_downloads, downloads) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
                params![
                    id,
                    account,
                    share.token_hash.as_slice(),
                    share.manifest,
                    share.label,
                    int(share.created_ms),
                    share.expires_ms.map(int),
                    share.max_downloads.map(int),
                ],
            )
            .map_err(|e| {
                if is_constraint(&e) {
                    // The owner's account is not open (a share of nothing, by a stranger).
                    StoreError::NotFound(format!("account {}", share.account))
                } else {
                    backend(e)
                }
            })?;
            for object in &share.objects {
                exec(
                    tx,
                    "INSERT OR IGNORE INTO share_objects (share, object) VALUES (?1, ?2)",
                    params![id, object.as_bytes().as_slice()],
                )
                .sql()?;
            }
            Ok(())
        })
        .await
    }

    async fn share(&self, id: ShareId) -> StoreResult<Option<ShareRecord>> {
        self.write(move |tx| {
            query_one(
                tx,
                &format!("SELECT {SHARE_COLUMNS} FROM shares WHERE id = ?1"),
                [id.as_bytes().as_slice()],
                share_row,
            )
            .optional()
            .sql()
        })
        .await
    }

    async fn shares(&self, account: AccountId) -> StoreResult<Vec<ShareRecord>> {
        self.write(move |tx| {
            let mut statement = tx
                .prepare_cached(&format!(
                    "SELECT {SHARE_COLUMNS} FROM shares WHERE account = ?1 \
                     ORDER BY created_ms DESC, id"
                ))
                .sql()?;
            let rows = statement
                .query_map([account.as_bytes().as_slice()], share_row)
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_share(&self, account: AccountId, id: ShareId, now: u64) -> StoreResult<()> {
        self.write(move |tx| {
            let found = exec(
                tx,
                "UPDATE shares SET revoked_ms = COALESCE(revoked_ms, ?3) \
                 WHERE id = ?1 AND account = ?2",
                params![
                    id.as_bytes().as_slice(),
                    account.as_bytes().as_slice(),
                    int(now)
                ],
            )
            .sql()?;
            if found == 0 {
                return Err(StoreError::NotFound(format!("share {id}")));
            }
            // What only this share kept goes now.
            sweep(tx, now).sql()?;
            Ok(())
        })
        .await
    }

    async fn count_download(&self, id: ShareId, now: u64) -> StoreResult<bool> {
        self.write(move |tx| {
            let counted = exec(
                tx,
                "UPDATE shares SET downloads = downloads + 1 WHERE id = ?1 \
                 AND revoked_ms IS NULL AND (expires_ms IS NULL OR expires_ms > ?2) \
                 AND (max_downloads IS NULL OR downloads < max_downloads)",
                params![id.as_bytes().as_slice(), int(now)],
            )
            .sql()?;
            Ok(counted == 1)
        })
        .await
    }

    async fn sweep_kept(&self, now: u64) -> StoreResult<u64> {
        self.write(move |tx| sweep(tx, now).sql()).await
    }

    async fn shared_object(
        &self,
        id: ShareId,
        object: ObjectId,
    ) -> StoreResult<Option<ObjectRecord>> {
        self.write(move |tx| {
            whole_object(
                tx,
                "SELECT o.id, o.path, o.redundancy, o.metadata, o.size, o.committed_at \
                 FROM share_objects s JOIN objects o ON o.id = s.object \
                 WHERE s.share = ?1 AND s.object = ?2 AND o.committed = 1",
                params![id.as_bytes().as_slice(), object.as_bytes().as_slice()],
            )
        })
        .await
    }
}
