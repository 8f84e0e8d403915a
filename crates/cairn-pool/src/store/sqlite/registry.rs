//! SQLite's the peer registry: [`RegistryStore`] for [`SqliteStore`].

use super::*;

impl RegistryStore for SqliteStore {
    async fn register_peer(&self, reg: PeerRegistration, now: u64) -> StoreResult<PeerRecord> {
        let availability = self.scoring.initial_availability;
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
                            availability,
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

    async fn index_mark(&self) -> StoreResult<IndexMark> {
        self.write(|tx| {
            let (id, generation): (Vec<u8>, u64) = query_one(
                tx,
                "SELECT id, generation FROM store_identity WHERE only = 1",
                [],
                |row| Ok((row.get(0)?, uint(row, 1)?)),
            )
            .sql()?;
            let id = id
                .try_into()
                .map_err(|_| StoreError::Corrupt("the index's identity is not 16 bytes".into()))?;
            Ok(IndexMark { id, generation })
        })
        .await
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

    async fn record_audit(&self, peer: PeerId, passed: bool) -> StoreResult<AuditTally> {
        let weight = self.scoring.audit_weight;
        self.write(move |tx| {
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
}
