//! The metadata-store conformance suite run against the SQLite backend from outside the
//! crate, as any other backend crate runs it; and a pool started on a store it was given.

use cairn_pool::store::SqliteStore;

/// A fresh SQLite store in a temp dir (the guard).
fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("pool.sqlite")).unwrap();
    (store, dir)
}

cairn_pool::store_conformance_tests!(sqlite);

#[test]
fn every_case_is_generated_once() {
    let cases = cairn_pool::store::conformance::CASES;
    let mut unique = cases.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), cases.len());
    assert!(cases.len() >= 27);
}

/// A pool started with a store serves from that store, and opens no database of its own.
#[tokio::test]
async fn a_pool_serves_from_the_store_it_is_given() {
    use cairn_pool::store::{PeerRegistration, RegistryStore};
    use cairn_pool::{PoolConfig, RunningPool};

    let (store, _guard) = sqlite();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let peer = cairn_core::PeerId::from_verifying_key(&key.verifying_key());
    let registration = PeerRegistration {
        id: peer,
        address: "http://127.0.0.1:9".to_owned(),
        zone: None,
        capacity: 1 << 30,
        used: 0,
        piece_count: 0,
    };
    let now = cairn_proto::clock::now_ms();
    store.register_peer(registration, now).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = PoolConfig::new(dir.path().to_owned(), "127.0.0.1:0".parse().unwrap());
    let running = RunningPool::start_with(config, store.clone())
        .await
        .unwrap();
    let status: serde_json::Value = reqwest::get(format!(
        "http://{}{}",
        running.local_addr(),
        cairn_proto::api::STATUS
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let peers = status["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1, "{status}");
    assert!(!dir.path().join(cairn_pool::daemon::DATABASE_FILE).exists());
    running.shutdown().await;
}
