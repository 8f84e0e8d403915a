//! Tests of the SQLite backend itself; the conformance suite runs against it in
//! `tests/conformance_sqlite.rs`.

use proptest::prelude::*;

use super::*;
use crate::store::conformance as c;

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("pool.sqlite")).unwrap()
}

// The conformance suite runs against SQLite in `tests/conformance_sqlite.rs`.

/// The concurrent conformance cases catch a backend that records a repair without checking
/// invariant 2, or that checks it outside the repair's transaction (as a weaker isolation
/// level lets two racers both pass the check): each fails against SQLite broken either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_race_cases_fail_when_the_invariant_check_is_skipped_or_apart() {
    type Case = fn(SqliteStore) -> futures_util::future::BoxFuture<'static, ()>;
    let cases: [(&str, Case); 2] = [
        ("two_repairs_racing_for_one_peer", |s| {
            Box::pin(c::two_repairs_racing_for_one_peer(s))
        }),
        ("a_repair_and_a_migration_racing_for_one_peer", |s| {
            Box::pin(c::a_repair_and_a_migration_racing_for_one_peer(s))
        }),
    ];
    for (name, case) in cases {
        assert!(c::CASES.contains(&name));
        let dir = tempfile::tempdir().unwrap();
        tokio::spawn(case(open(&dir))).await.unwrap();
        // Each race has two racers.
        let broken = [
            InvariantCheck::Skipped,
            InvariantCheck::Apart(Arc::new(tokio::sync::Barrier::new(2))),
        ];
        for check in broken {
            let dir = tempfile::tempdir().unwrap();
            let mut store = open(&dir);
            store.invariant_check = check;
            let outcome = tokio::spawn(case(store)).await;
            assert!(
                outcome.is_err_and(|e| e.is_panic()),
                "{name} passes a store that checks invariant 2 wrongly"
            );
        }
    }
}

#[tokio::test]
async fn scores_follow_the_pools_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let scoring = PeerScoring {
        initial_availability: 0.5,
        audit_weight: 0.25,
    };
    let store = SqliteStore::open_with(&dir.path().join("pool.sqlite"), scoring).unwrap();
    let (_, _) = c::committed_object(&store).await;
    let record = store.peer(c::peer(1)).await.unwrap().unwrap();
    assert_eq!(record.availability, 0.5);
    let mut expected = record.audit_score;
    for passed in [false, false, true] {
        let tally = store.record_audit(c::peer(1), passed).await.unwrap();
        expected = crate::health::next_audit_score(expected, passed, 0.25);
        assert!((tally.score - expected).abs() < 1e-12);
    }
    // The default is the pool's own.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (_, _) = c::committed_object(&store).await;
    let record = store.peer(c::peer(1)).await.unwrap().unwrap();
    assert_eq!(
        record.availability,
        PeerScoring::default().initial_availability
    );
    let tally = store.record_audit(c::peer(1), false).await.unwrap();
    assert!((tally.score - (1.0 - crate::health::AUDIT_SCORE_WEIGHT)).abs() < 1e-12);
}

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

/// The index's identity is the store's: kept across a reopen, another for a store made
/// anew in its place (what peers see when a pool loses its disk).
#[tokio::test]
async fn the_index_identity_is_kept_by_a_reopen_and_new_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = open(&dir);
        crate::store::conformance::committed_object(&store).await;
        store.index_mark().await.unwrap()
    };
    assert!(first.generation > 0);
    assert_eq!(open(&dir).index_mark().await.unwrap(), first);
    for file in ["pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    let anew = open(&dir).index_mark().await.unwrap();
    assert_ne!(anew.id, first.id);
    assert_eq!(anew.generation, 0);
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (upload, account, open_upload, peers, object, pending) = {
        let store = open(&dir);
        let (upload, account) = crate::store::conformance::committed_object(&store).await;
        // An open upload with placements, and a deleted object's queued pieces.
        let open_upload = NewUpload {
            id: ObjectId::random(&mut rand::rng()),
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
