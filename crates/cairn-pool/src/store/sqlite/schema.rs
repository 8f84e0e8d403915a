//! The SQLite schema as an ordered list of migrations; `PRAGMA user_version` records how
//! many have been applied. Append new migrations; never edit a published one.

use rusqlite::Connection;

use crate::store::StoreError;

/// Every migration, in order; version `n` is the state after the first `n`.
const MIGRATIONS: &[&str] = &[
    // 1: registry, accounts, object index, delete queue.
    r#"
    CREATE TABLE peers (
        id BLOB PRIMARY KEY,
        address TEXT NOT NULL,
        zone TEXT,
        capacity INTEGER NOT NULL,
        used INTEGER NOT NULL,
        piece_count INTEGER NOT NULL,
        load INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        state_since INTEGER NOT NULL,
        registered_at INTEGER NOT NULL,
        last_heartbeat INTEGER NOT NULL,
        availability REAL NOT NULL,
        rtt_ms REAL
    ) STRICT;
    CREATE TABLE accounts (
        id BLOB PRIMARY KEY,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE objects (
        id BLOB PRIMARY KEY,
        account BLOB NOT NULL REFERENCES accounts(id),
        path TEXT NOT NULL,
        redundancy TEXT NOT NULL,
        committed INTEGER NOT NULL DEFAULT 0,
        metadata BLOB,
        size INTEGER,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        committed_at INTEGER
    ) STRICT;
    CREATE UNIQUE INDEX objects_by_path ON objects(account, path) WHERE committed = 1;
    CREATE INDEX objects_open_by_expiry ON objects(expires_at) WHERE committed = 0;
    CREATE TABLE segments (
        object BLOB NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        piece_size INTEGER NOT NULL,
        PRIMARY KEY (object, idx)
    ) STRICT;
    CREATE TABLE pieces (
        object BLOB NOT NULL,
        segment INTEGER NOT NULL,
        fragment INTEGER NOT NULL,
        peer BLOB NOT NULL,
        hash BLOB NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (object, segment, fragment, peer),
        FOREIGN KEY (object, segment) REFERENCES segments(object, idx) ON DELETE CASCADE
    ) STRICT;
    CREATE INDEX pieces_by_peer ON pieces(peer, hash);
    CREATE TABLE placements (
        object BLOB NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
        segment INTEGER NOT NULL,
        fragment INTEGER NOT NULL,
        peer BLOB NOT NULL,
        hash BLOB NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (object, segment, fragment, peer)
    ) STRICT;
    CREATE INDEX placements_by_peer ON placements(peer, hash);
    CREATE TABLE deletions (
        peer BLOB NOT NULL,
        hash BLOB NOT NULL,
        queued_at INTEGER NOT NULL,
        PRIMARY KEY (peer, hash)
    ) STRICT;
    "#,
    // 2: self-healing: pieces known bad, audit tallies per peer.
    r#"
    ALTER TABLE pieces ADD COLUMN corrupt INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE peers ADD COLUMN audits_passed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE peers ADD COLUMN audits_failed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE peers ADD COLUMN audit_failures_in_a_row INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE peers ADD COLUMN audit_score REAL NOT NULL DEFAULT 1.0;
    CREATE INDEX pieces_corrupt ON pieces(object, segment) WHERE corrupt = 1;
    "#,
    // 3: an account's objects, committed or not, found without a scan (usage for quotas).
    r#"
    CREATE INDEX objects_by_account ON objects(account);
    "#,
    // 4: the index's identity, made once with the store, and its generation, counting the
    // transactions that record where pieces are: a peer that meets another identity, or a
    // lower generation than it saw, knows the pool may have forgotten pieces it holds (a
    // lost disk, a store restored from an older copy).
    r#"
    CREATE TABLE store_identity (
        only INTEGER PRIMARY KEY CHECK (only = 1),
        id BLOB NOT NULL CHECK (length(id) = 16),
        generation INTEGER NOT NULL
    ) STRICT;
    INSERT INTO store_identity (only, id, generation) VALUES (1, randomblob(16), 0);
    "#,
    // 5: what peers hold that the records do not place (said at registration), their
    // ledger pieces by locator, and the fragments of records given back that no peer has
    // reported yet.
    r#"
    CREATE TABLE held (
        hash BLOB NOT NULL,
        peer BLOB NOT NULL,
        PRIMARY KEY (hash, peer)
    ) STRICT;
    CREATE INDEX held_by_peer ON held(peer);
    CREATE TABLE ledger_held (
        locator BLOB NOT NULL,
        hash BLOB NOT NULL,
        peer BLOB NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (locator, hash, peer)
    ) STRICT;
    CREATE INDEX ledger_held_by_peer ON ledger_held(peer);
    CREATE TABLE awaited (
        hash BLOB NOT NULL,
        object BLOB NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
        segment INTEGER NOT NULL,
        fragment INTEGER NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (hash, object, segment, fragment)
    ) STRICT;
    CREATE INDEX awaited_by_object ON awaited(object);
    "#,
    // 6: shares (issue 17): what an owner left for a link (the token's hash, the manifest
    // and a label, both sealed elsewhere), its limits, and the objects it shares.
    r#"
    CREATE TABLE shares (
        id BLOB PRIMARY KEY CHECK (length(id) = 16),
        account BLOB NOT NULL REFERENCES accounts(id),
        token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
        manifest BLOB NOT NULL,
        label BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        max_downloads INTEGER,
        downloads INTEGER NOT NULL DEFAULT 0,
        revoked_ms INTEGER
    ) STRICT;
    CREATE INDEX shares_by_account ON shares(account, created_ms);
    CREATE TABLE share_objects (
        share BLOB NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
        object BLOB NOT NULL,
        PRIMARY KEY (share, object)
    ) STRICT;
    CREATE INDEX share_objects_by_object ON share_objects(object);
    "#,
];

/// The newest schema version this code knows.
pub(super) const VERSION: u32 = MIGRATIONS.len() as u32;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Applies every migration not yet applied, each in its own transaction; refuses a
/// database from a newer version.
pub(super) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let found: u32 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend)?;
    if found > VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: VERSION,
        });
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", done as u32 + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(VERSION)
}
