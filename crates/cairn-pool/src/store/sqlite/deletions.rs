//! SQLite's the deletion queue: [`DeletionStore`] for [`SqliteStore`].

use super::*;

impl DeletionStore for SqliteStore {
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
}
