//! SQLite's the object index: [`ObjectStore`] for [`SqliteStore`].

use super::*;

impl ObjectStore for SqliteStore {
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

    async fn upload(&self, account: AccountId, id: ObjectId) -> StoreResult<Option<UploadRecord>> {
        self.write(move |tx| {
            let found = query_one(
                tx,
                "SELECT id, account, path, redundancy, created_at, expires_at FROM objects \
                     WHERE id = ?1 AND account = ?2 AND committed = 0",
                params![id.as_bytes().as_slice(), account.as_bytes().as_slice()],
                |row| {
                    Ok(UploadRecord {
                        id: object_id(row, "id")?,
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
                .query_map([id.as_bytes().as_slice()], |row| row.get::<_, u32>(0))
                .sql()?;
            record.committed_segments = rows.collect::<rusqlite::Result<_>>().sql()?;
            Ok(Some(record))
        })
        .await
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

    async fn record_placement(
        &self,
        upload: ObjectId,
        pieces: Vec<PiecePlacement>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let open: bool = query_one(
                tx,
                "SELECT EXISTS (SELECT 1 FROM objects WHERE id = ?1 AND committed = 0)",
                [upload.as_bytes().as_slice()],
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

    async fn placements(&self, upload: ObjectId, segment: u32) -> StoreResult<Vec<PiecePlacement>> {
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT segment, fragment, peer, hash, size FROM placements \
                     WHERE object = ?1 AND segment = ?2 ORDER BY fragment, peer",
                )
                .sql()?;
            let rows = stmt
                .query_map(
                    params![upload.as_bytes().as_slice(), segment],
                    placement_row,
                )
                .sql()?;
            rows.collect::<rusqlite::Result<_>>().sql()
        })
        .await
    }

    async fn commit_segment(
        &self,
        account: AccountId,
        upload: ObjectId,
        segment: SegmentCommit,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            require_open(tx, &account, &upload)?;
            record_segment(tx, &upload, segment)
        })
        .await
    }

    async fn commit_object(
        &self,
        account: AccountId,
        upload: ObjectId,
        commit: CommitObject,
        now: u64,
    ) -> StoreResult<Option<ObjectId>> {
        self.write(move |tx| {
            require_open(tx, &account, &upload)?;
            commit_upload(tx, account, upload, commit, now)
        })
        .await
    }

    async fn commit_with_segment(
        &self,
        account: AccountId,
        upload: ObjectId,
        segment: SegmentCommit,
        commit: CommitObject,
        now: u64,
    ) -> StoreResult<Option<ObjectId>> {
        self.write(move |tx| {
            require_open(tx, &account, &upload)?;
            record_segment(tx, &upload, segment)?;
            commit_upload(tx, account, upload, commit, now)
        })
        .await
    }

    async fn abort_upload(
        &self,
        account: AccountId,
        upload: ObjectId,
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
            let expired: Vec<ObjectId> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT id FROM objects WHERE committed = 0 AND expires_at <= ?1",
                    )
                    .sql()?;
                let rows = stmt
                    .query_map([int(now)], |row| object_id(row, "id"))
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
            whole_object(
                tx,
                "SELECT id, path, redundancy, metadata, size, committed_at FROM objects \
                     WHERE account = ?1 AND path = ?2 AND committed = 1",
                params![account.as_bytes().as_slice(), path],
            )
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
                params![id.as_bytes().as_slice(), to],
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
            let moving: Vec<(ObjectId, String)> = {
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
                        |row| Ok((object_id(row, "id")?, row.get::<_, String>("path")?)),
                    )
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            let moving_ids: BTreeSet<ObjectId> = moving.iter().map(|(id, _)| *id).collect();
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
                    [id.as_bytes().as_slice()],
                )
                .sql()?;
            }
            for (id, target) in &targets {
                exec(
                    tx,
                    "UPDATE objects SET path = ?2 WHERE id = ?1",
                    params![id.as_bytes().as_slice(), target],
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
