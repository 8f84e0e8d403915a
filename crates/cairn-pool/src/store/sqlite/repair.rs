//! SQLite's repair and migration: [`RepairStore`] for [`SqliteStore`].

use super::*;

impl RepairStore for SqliteStore {
    async fn degraded_segments(&self) -> StoreResult<u64> {
        self.write(|tx| {
            // The redundancy is stored as text; parse each distinct one here rather than in SQL.
            let redundancies: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached("SELECT DISTINCT redundancy FROM objects WHERE committed = 1")
                    .sql()?;
                let rows = stmt.query_map([], |row| row.get(0)).sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            // Per segment: how many fragments of the redundancy have at least `r` pieces on
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
            for text in redundancies {
                let redundancy = match RedundancyPolicy::from_str(&text) {
                    Ok(RedundancyPolicy::Fixed(redundancy)) => redundancy,
                    _ => {
                        return Err(StoreError::Corrupt(format!(
                            "redundancy {text:?} is not a fixed redundancy"
                        )));
                    }
                };
                let count: i64 = stmt
                    .query_row(
                        params![
                            text,
                            redundancy.fragments(),
                            redundancy.r(),
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
            let found: Vec<(ObjectId, u32, Redundancy)> = {
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
                        Ok((object_id(row, "id")?, row.get("segment")?, redundancy(row)?))
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
        object: ObjectId,
        index: u32,
        removed: Vec<PeerId>,
        added: Vec<PiecePlacement>,
        now: u64,
    ) -> StoreResult<()> {
        #[cfg(test)]
        let check = match &self.invariant_check {
            InvariantCheck::InTransaction => true,
            InvariantCheck::Skipped => false,
            InvariantCheck::Apart(barrier) => {
                let (early_removed, early_added) = (removed.clone(), added.clone());
                let doubled = self
                    .write(move |tx| {
                        doubled_peer(
                            tx,
                            object.as_bytes().as_slice(),
                            index,
                            &early_removed,
                            &early_added,
                        )
                        .sql()
                    })
                    .await?;
                barrier.wait().await;
                // A refusal found early is made in the transaction, as usual.
                doubled.is_some()
            }
        };
        #[cfg(not(test))]
        let check = true;
        self.write(move |tx| {
            let id = object.as_bytes().as_slice();
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
            let doubled = match check {
                true => doubled_peer(tx, id, index, &removed, &added).sql()?,
                false => None,
            };
            if let Some(peer) = doubled {
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
            if !added.is_empty() {
                advance_generation(tx)?;
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
            let found: Vec<(ObjectId, u32, Redundancy)> = {
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
                        |row| Ok((object_id(row, "id")?, row.get("segment")?, redundancy(row)?)),
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
        after: Option<(ObjectId, u32)>,
        limit: u32,
    ) -> StoreResult<Vec<ObjectSegment>> {
        self.write(move |tx| {
            let (object, index) = after.map_or((Vec::new(), -1), |(o, i)| {
                (o.as_bytes().to_vec(), i64::from(i))
            });
            let found: Vec<(ObjectId, u32, Redundancy)> = {
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
                        Ok((object_id(row, "id")?, row.get("segment")?, redundancy(row)?))
                    })
                    .sql()?;
                rows.collect::<rusqlite::Result<_>>().sql()?
            };
            object_segments(tx, found)
        })
        .await
    }
}
