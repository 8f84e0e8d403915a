//! The services without HTTP: a pool's state over a SQLite store in a temporary directory,
//! called directly, with time held still by a manual clock.

use std::sync::{Arc, Mutex};

use cairn_core::{AccountId, PeerId, PieceHash};
use cairn_proto::api::{
    BeginUpload, CommitUpload, CommittedPiece, FragmentInfo, Heartbeat, LastSegment, PlaceSegment,
    RegisterPeer, RepairReport, SegmentPlaced,
};
use cairn_proto::clock::ManualClock;
use cairn_proto::{OrderSigner, Receipt, RequestVerifier};
use ed25519_dalek::SigningKey;

use super::*;
use crate::app::App;
use crate::config::PoolConfig;
use crate::repair::RepairError;
use crate::state::PeerState;
use crate::store::{
    ObjectId, ObjectStore, PeerRegistration, RegistryStore, SqliteStore, StoreError,
};

/// Where the manual clock stands when a test starts.
const START_MS: u64 = 1_800_000_000_000;

/// A pool's state with peers `1..=peers` registered (online), no server.
struct Pool {
    app: Arc<App<SqliteStore>>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Pool {
    async fn start(peers: u8, configure: impl FnOnce(&mut PoolConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("pool.sqlite")).unwrap();
        let mut config = PoolConfig::new(dir.path().to_owned(), ([127, 0, 0, 1], 0).into());
        config.spares = 0;
        configure(&mut config);
        let clock = ManualClock::at(START_MS);
        let app = Arc::new(App {
            store,
            signer: OrderSigner::new(SigningKey::from_bytes(&[1; 32])),
            requests: Mutex::new(RequestVerifier::default()),
            config,
            http: reqwest::Client::new(),
            peers: Arc::new(cairn_transfer::PeerClient::new().unwrap()),
            counters: crate::counters::Counters::default(),
            repairs: crate::repair::Repairs::default(),
            rebalance: crate::rebalance::Rebalancer::default(),
            rates: Default::default(),
            quotas: Default::default(),
            clock: clock.clone(),
            index_mark: Default::default(),
            reserved: Default::default(),
        });
        for n in 1..=peers {
            let registration = PeerRegistration {
                id: peer(n),
                address: format!("http://127.0.0.{n}:7000"),
                zone: Some(format!("z{n}")),
                capacity: 1 << 30,
                used: 0,
                piece_count: 0,
            };
            app.store
                .register_peer(registration, START_MS)
                .await
                .unwrap();
        }
        Self {
            app,
            clock,
            _dir: dir,
        }
    }

    fn uploads(&self) -> Uploads<'_, SqliteStore> {
        Uploads::new(&self.app)
    }

    async fn open_uploads(&self) -> u64 {
        self.app.store.stats().await.unwrap().pending_uploads
    }
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn peer(n: u8) -> PeerId {
    PeerId::from_verifying_key(&key(n).verifying_key())
}

/// A heartbeat of a peer holding nothing and deleting nothing.
fn idle_beat() -> Heartbeat {
    Heartbeat {
        used: 0,
        piece_count: 0,
        load: 0,
        deleted: Vec::new(),
    }
}

fn account() -> AccountId {
    AccountId::from_verifying_key(&SigningKey::from_bytes(&[200; 32]).verifying_key())
}

/// Segment 0 of an `ec:2+2` object, pieces of `size` bytes.
fn segment(size: u64) -> PlaceSegment {
    PlaceSegment {
        piece_size: size,
        fragments: (0..4u16)
            .map(|f| FragmentInfo {
                fragment: f,
                hash: PieceHash::of(&[f as u8; 4]),
            })
            .collect(),
    }
}

fn begin(first_segment: Option<PlaceSegment>) -> BeginUpload {
    BeginUpload {
        path: "abc".into(),
        redundancy: "ec:2+2".into(),
        first_segment,
        object: None,
    }
}

/// The receipts the placed peers give for their pieces.
fn receipts(placed: &SegmentPlaced) -> Vec<CommittedPiece> {
    placed
        .targets
        .iter()
        .map(|t| {
            let n = (1..=8u8).find(|n| peer(*n) == t.peer).unwrap();
            let order = &t.order.order;
            CommittedPiece {
                fragment: t.fragment,
                receipt: Receipt::sign(&key(n), order.piece, order.max_size, order.serial),
            }
        })
        .collect()
}

fn commit(pieces: Vec<CommittedPiece>) -> CommitUpload {
    CommitUpload {
        metadata: "c2VhbGVk".into(),
        size: 200,
        segment_count: 1,
        last_segment: Some(LastSegment { index: 0, pieces }),
    }
}

#[test]
fn prefixes_are_folders() {
    assert!(check_prefix("").is_ok());
    assert!(check_prefix("abc/").is_ok());
    assert!(check_prefix("abc/def/").is_ok());
    assert!(check_prefix("abc").is_err());
    assert!(check_prefix("/").is_err());
    assert!(check_prefix("a%b/").is_err());
}

#[tokio::test]
async fn an_upload_expires_by_the_pools_clock() {
    let pool = Pool::start(4, |_| {}).await;
    let begun = pool.uploads().begin(account(), begin(None)).await.unwrap();
    let ttl = duration_ms(pool.app.config.upload_ttl);
    assert_eq!(begun.expires_at_ms, START_MS + ttl);
}

#[tokio::test]
async fn a_placement_on_a_network_too_small_is_refused_and_records_nothing() {
    let pool = Pool::start(4, |config| config.account_quota = 400).await;
    let begun = pool.uploads().begin(account(), begin(None)).await.unwrap();
    // One of the four peers goes offline: ec:2+2 needs four.
    (pool.app.store)
        .set_peer_state(peer(4), PeerState::Offline, START_MS)
        .await
        .unwrap();
    let refused = (pool.uploads())
        .place(account(), &begun.upload, 0, &segment(100))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, UploadError::NetworkTooSmall(_)),
        "{refused}"
    );
    let upload: ObjectId = begun.upload.parse().unwrap();
    assert!(
        pool.app
            .store
            .placements(upload, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing was reserved against the quota either: with the peer back, a quota of
    // exactly one segment's pieces still fits it.
    (pool.app.store)
        .set_peer_state(peer(4), PeerState::Online, START_MS)
        .await
        .unwrap();
    let placed = (pool.uploads())
        .place(account(), &begun.upload, 0, &segment(100))
        .await
        .unwrap();
    assert_eq!(placed.targets.len(), 4);
    assert_eq!(pool.app.store.placements(upload, 0).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_first_segment_on_a_network_too_small_opens_no_upload() {
    let pool = Pool::start(3, |_| {}).await;
    let refused = (pool.uploads())
        .begin(account(), begin(Some(segment(100))))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, UploadError::NetworkTooSmall(_)),
        "{refused}"
    );
    assert_eq!(pool.open_uploads().await, 0);
}

#[tokio::test]
async fn a_placement_over_quota_is_refused_and_records_nothing() {
    let pool = Pool::start(4, |config| config.account_quota = 399).await;
    let begun = pool.uploads().begin(account(), begin(None)).await.unwrap();
    let refused = (pool.uploads())
        .place(account(), &begun.upload, 0, &segment(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            UploadError::OverQuota {
                used: 0,
                needed: 400,
                quota: 399
            }
        ),
        "{refused}"
    );
    let upload: ObjectId = begun.upload.parse().unwrap();
    assert!(
        pool.app
            .store
            .placements(upload, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_commit_with_a_forged_receipt_is_refused() {
    let pool = Pool::start(4, |_| {}).await;
    let begun = (pool.uploads())
        .begin(account(), begin(Some(segment(100))))
        .await
        .unwrap();
    let placed = begun.placed.clone().unwrap();
    let honest = receipts(&placed);

    // A receipt whose piece was changed after the peer signed it.
    let mut forged = honest.clone();
    forged[0].receipt.piece = PieceHash::of(b"something else");
    // A receipt signed by a peer that was not placed, in place of one that was.
    let mut stranger = honest.clone();
    let piece = &stranger[1].receipt;
    stranger[1].receipt = Receipt::sign(&key(9), piece.piece, piece.size, piece.serial);
    for pieces in [forged, stranger] {
        let refused = (pool.uploads())
            .commit(account(), &begun.upload, commit(pieces))
            .await
            .unwrap_err();
        assert!(matches!(refused, UploadError::BadCommit(_)), "{refused}");
        let object = pool
            .app
            .store
            .object(account(), "abc".into())
            .await
            .unwrap();
        assert!(object.is_none(), "a refused commit recorded the object");
    }

    let committed = (pool.uploads())
        .commit(account(), &begun.upload, commit(honest))
        .await
        .unwrap();
    assert_eq!(committed.path, "abc");
    assert_eq!(pool.open_uploads().await, 0);
}

#[tokio::test]
async fn a_segment_commit_before_placement_is_refused() {
    let pool = Pool::start(4, |_| {}).await;
    let begun = pool.uploads().begin(account(), begin(None)).await.unwrap();
    let refused = (pool.uploads())
        .commit_segment(account(), &begun.upload, 0, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, UploadError::SegmentNotPlaced(0)),
        "{refused}"
    );
    let refused = (pool.uploads())
        .abort(account(), "not-an-upload")
        .await
        .unwrap_err();
    assert!(matches!(refused, UploadError::Invalid(_)), "{refused}");
    let missing = ObjectId::random(&mut rand::rng()).to_string();
    let refused = pool.uploads().abort(account(), &missing).await.unwrap_err();
    assert!(matches!(refused, UploadError::NotFound(_)), "{refused}");
}

#[tokio::test]
async fn objects_refuse_what_is_not_there_or_does_not_fit() {
    let pool = Pool::start(4, |_| {}).await;
    let objects = Objects::new(&pool.app);
    let refused = objects.get(account(), "abc").await.unwrap_err();
    assert!(
        matches!(refused, ObjectError::NotFound(ref p) if p == "abc"),
        "{refused}"
    );
    let refused = objects.delete(account(), "abc").await.unwrap_err();
    assert!(matches!(refused, ObjectError::NotFound(_)), "{refused}");
    let refused = (objects.rename(account(), "abc/".into(), "abc/def/".into()))
        .await
        .unwrap_err();
    assert!(matches!(refused, ObjectError::Invalid(_)), "{refused}");
    let refused = (objects.rename(account(), "abc/".into(), "def".into()))
        .await
        .unwrap_err();
    assert!(matches!(refused, ObjectError::Invalid(_)), "{refused}");
    let refused = (objects.report_corrupt(account(), peer(1), PieceHash::of(b"x")))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ObjectError::PieceNotFound { .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn the_registry_refuses_peers_it_does_not_know_and_disqualified_ones() {
    let pool = Pool::start(1, |_| {}).await;
    let registry = Registry::new(&pool.app);
    let beat = idle_beat();
    let refused = registry.heartbeat(peer(7), beat.clone()).await.unwrap_err();
    assert!(matches!(refused, PeerError::NotRegistered), "{refused}");
    let refused = registry.drain(peer(7)).await.unwrap_err();
    assert!(matches!(refused, PeerError::NotFound), "{refused}");
    let report = RepairReport {
        job: "nope".into(),
        pieces: Vec::new(),
        error: None,
    };
    let refused = registry.repair_report(peer(1), report).await.unwrap_err();
    assert!(
        matches!(refused, PeerError::Repair(RepairError::JobNotFound(_))),
        "{refused}"
    );

    // A heartbeat is stamped with the pool's clock, and a drain takes.
    let ack = registry.heartbeat(peer(1), beat.clone()).await.unwrap();
    assert_eq!(ack.state, PeerState::Online);
    registry.drain(peer(1)).await.unwrap();
    let record = pool.app.store.peer(peer(1)).await.unwrap().unwrap();
    assert_eq!(record.state, PeerState::Draining);
    assert_eq!(record.last_heartbeat, START_MS);

    (pool.app.store)
        .set_peer_state(peer(1), PeerState::Disqualified, START_MS)
        .await
        .unwrap();
    let refused = registry.heartbeat(peer(1), beat).await.unwrap_err();
    assert!(matches!(refused, PeerError::Disqualified), "{refused}");
}

/// Issue 14: one object identity. The id the client seals an object to is the upload's and
/// then the object's; an id already in use is refused and opens nothing.
#[tokio::test]
async fn an_upload_goes_by_the_clients_object_id_and_a_taken_one_is_refused() {
    let pool = Pool::start(4, |_| {}).await;
    let object = ObjectId::from_bytes([7; 16]);
    let chosen = BeginUpload {
        object: Some(object),
        ..begin(None)
    };
    let begun = pool.uploads().begin(account(), chosen).await.unwrap();
    assert_eq!(begun.upload, object.to_string());
    assert_eq!(pool.open_uploads().await, 1);
    let taken = BeginUpload {
        path: "abd".into(),
        object: Some(object),
        ..begin(None)
    };
    let refused = pool.uploads().begin(account(), taken).await.unwrap_err();
    assert!(
        matches!(refused, UploadError::Store(StoreError::AlreadyExists(_))),
        "{refused}"
    );
    assert_eq!(pool.open_uploads().await, 1);
    // Without an id (an earlier client) the pool picks a fresh one.
    let begun = pool.uploads().begin(account(), begin(None)).await.unwrap();
    assert_ne!(begun.upload, object.to_string());
}

/// Registrations and heartbeats name the store's index and its generation, read at most
/// once a second for all of them, never going back within one process.
#[tokio::test]
async fn peers_are_told_the_index_and_a_generation_at_most_a_second_old() {
    let pool = Pool::start(4, |_| {}).await;
    let registry = Registry::new(&pool.app);
    let beat = idle_beat();
    let mark = pool.app.store.index_mark().await.unwrap();
    let told = registry.heartbeat(peer(1), beat.clone()).await.unwrap();
    let index = told.index.unwrap();
    assert_eq!(index.id, data_encoding::HEXLOWER.encode(&mark.id));
    assert_eq!(index.generation, mark.generation);

    // A placement moves the generation on; peers hear of it within a second.
    let segment = segment(100);
    pool.uploads()
        .begin(account(), begin(Some(segment)))
        .await
        .unwrap();
    let now = pool.app.store.index_mark().await.unwrap();
    assert!(now.generation > mark.generation);
    let soon = registry.heartbeat(peer(1), beat.clone()).await.unwrap();
    assert_eq!(
        soon.index.unwrap().generation,
        mark.generation,
        "read once a second"
    );
    pool.clock.advance(crate::app::INDEX_MARK_FRESH_MS);
    let later = registry.heartbeat(peer(1), beat.clone()).await.unwrap();
    assert_eq!(later.index.unwrap().generation, now.generation);
    let registered = registry
        .register(
            peer(2),
            RegisterPeer {
                address: "http://127.0.0.2:7000".parse().unwrap(),
                zone: Some("z2".into()),
                capacity: 1 << 30,
                used: 0,
                pieces: Vec::new(),
                ledger: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(registered.index.unwrap().generation, now.generation);
}

/// A share opens for its token only, while live: revoked, expired and spent shares are
/// refused (a spent one still serves those who opened it), and its orders are short-lived
/// and never name the owner's path.
#[tokio::test]
async fn a_share_opens_for_its_token_only_while_live() {
    use cairn_core::ShareId;
    use cairn_core::share::ShareToken;
    use cairn_proto::api::{CreateShare, OpenShare, RevokeShare, ShareSourcesRequest};

    let pool = Pool::start(4, |_| {}).await;
    let begun = (pool.uploads())
        .begin(account(), begin(Some(segment(100))))
        .await
        .unwrap();
    let placed = begun.placed.clone().unwrap();
    (pool.uploads())
        .commit(account(), &begun.upload, commit(receipts(&placed)))
        .await
        .unwrap();
    let object: ObjectId = begun.upload.parse().unwrap();
    let token: ShareToken = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"
        .parse()
        .unwrap();
    let wrong = "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg";
    let shares = Shares::new(&pool.app);
    let create = |id: u8, expires_ms: Option<u64>, max_downloads: Option<u64>| CreateShare {
        id: ShareId::from_bytes([id; 16]),
        token_hash: data_encoding::HEXLOWER.encode(&token.hash()),
        manifest: "c2VhbGVk".into(),
        label: String::new(),
        objects: vec![object],
        expires_ms,
        max_downloads,
    };
    let open = |id: u8, token: &str| OpenShare {
        id: ShareId::from_bytes([id; 16]),
        token: token.to_owned(),
    };
    let sources = |id: u8| ShareSourcesRequest {
        id: ShareId::from_bytes([id; 16]),
        token: token.to_string(),
        objects: vec![object, ObjectId::from_bytes([9; 16])],
    };

    // Bad input changes nothing.
    for bad in [
        CreateShare {
            token_hash: "xyz".into(),
            ..create(1, None, None)
        },
        CreateShare {
            manifest: String::new(),
            ..create(1, None, None)
        },
        create(1, Some(START_MS), None),
        create(1, None, Some(0)),
    ] {
        let refused = shares.create(account(), bad).await.unwrap_err();
        assert!(
            matches!(refused, ShareServiceError::Invalid(_)),
            "{refused}"
        );
    }
    let stranger = AccountId::from_verifying_key(&key(77).verifying_key());
    let refused = shares
        .create(stranger, create(1, None, None))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ShareServiceError::ObjectNotFound(_)),
        "{refused}"
    );

    shares
        .create(account(), create(1, None, Some(1)))
        .await
        .unwrap();
    shares
        .create(account(), create(2, Some(START_MS + 60_000), None))
        .await
        .unwrap();
    shares
        .create(account(), create(3, None, None))
        .await
        .unwrap();
    let refused = shares
        .create(account(), create(3, None, None))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ShareServiceError::AlreadyExists(_)),
        "{refused}"
    );

    // The token, not the id, opens it.
    let refused = shares.open(open(1, wrong)).await.unwrap_err();
    assert!(
        matches!(refused, ShareServiceError::WrongToken(_)),
        "{refused}"
    );
    let refused = shares.open(open(9, &token.to_string())).await.unwrap_err();
    assert!(
        matches!(refused, ShareServiceError::NotFound(_)),
        "{refused}"
    );
    let opened = shares.open(open(1, &token.to_string())).await.unwrap();
    assert_eq!(opened.manifest, "c2VhbGVk");

    // Spent: no second opening, but the one who opened it may still fetch.
    let refused = shares.open(open(1, &token.to_string())).await.unwrap_err();
    assert!(
        matches!(refused, ShareServiceError::Exhausted(_)),
        "{refused}"
    );
    let served = shares.sources(sources(1)).await.unwrap();
    let first = served.objects[0].as_ref().unwrap();
    assert_eq!(first.path, object.to_string(), "never the owner's path");
    assert!(served.objects[1].is_none(), "not shared");
    let lifetime = first.segments[0].pieces[0].order.order.expires_at - START_MS / 1000;
    assert!(lifetime <= SHARE_ORDER_TTL.as_secs(), "{lifetime} s");

    // Expired.
    pool.clock.advance(60_000);
    let refused = shares.open(open(2, &token.to_string())).await.unwrap_err();
    assert!(
        matches!(refused, ShareServiceError::Expired(_)),
        "{refused}"
    );
    assert!(matches!(
        shares.sources(sources(2)).await.unwrap_err(),
        ShareServiceError::Expired(_)
    ));

    // Revoked by its owner only; then nothing is served.
    let id = ShareId::from_bytes([3; 16]);
    let refused = shares
        .revoke(stranger, RevokeShare { id })
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ShareServiceError::NotFound(_)),
        "{refused}"
    );
    shares.sources(sources(3)).await.unwrap();
    shares.revoke(account(), RevokeShare { id }).await.unwrap();
    assert!(matches!(
        shares.open(open(3, &token.to_string())).await.unwrap_err(),
        ShareServiceError::Revoked(_)
    ));
    assert!(matches!(
        shares.sources(sources(3)).await.unwrap_err(),
        ShareServiceError::Revoked(_)
    ));

    // The owner's list says where each stands.
    let listed = shares.list(account()).await.unwrap();
    let states: Vec<(String, &str, u64)> = (listed.shares.iter())
        .map(|s| (s.id.to_string(), s.state.as_str(), s.downloads))
        .collect();
    assert_eq!(
        states,
        vec![
            (ShareId::from_bytes([1; 16]).to_string(), "exhausted", 1),
            (ShareId::from_bytes([2; 16]).to_string(), "expired", 0),
            (ShareId::from_bytes([3; 16]).to_string(), "revoked", 0),
        ]
    );
    assert!(shares.list(stranger).await.unwrap().shares.is_empty());
}

#[tokio::test]
async fn placement_counts_what_it_placed_since_each_peer_last_reported() {
    // Four peers of 1 GiB; ec:2+2 puts a piece on each. Pieces of 200 MiB: five fit.
    let pool = Pool::start(4, |_| {}).await;
    let piece = 200 << 20;
    let begun = pool.uploads().begin(account(), begin(None)).await.unwrap();
    for index in 0..5 {
        (pool.uploads())
            .place(account(), &begun.upload, index, &segment(piece))
            .await
            .unwrap();
    }
    // No peer has reported a byte of it yet, and none has room for a sixth.
    let refused = (pool.uploads())
        .place(account(), &begun.upload, 5, &segment(piece))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, UploadError::NetworkTooSmall(_)),
        "{refused}"
    );
    // A report right after the placements may not count them yet: still no room.
    let registry = Registry::new(&pool.app);
    let beat = |used: u64| Heartbeat {
        used,
        ..idle_beat()
    };
    for n in 1..=4 {
        registry.heartbeat(peer(n), beat(0)).await.unwrap();
    }
    assert!(
        (pool.uploads())
            .place(account(), &begun.upload, 5, &segment(piece))
            .await
            .is_err()
    );
    // Reports some beats later are the truth: the pieces never arrived, so there is room.
    let settle = 2 * duration_ms(pool.app.config.timers.heartbeat_interval);
    pool.clock.advance(settle + 1);
    for n in 1..=4 {
        registry.heartbeat(peer(n), beat(0)).await.unwrap();
    }
    (pool.uploads())
        .place(account(), &begun.upload, 5, &segment(piece))
        .await
        .unwrap();
    // And once they report the five pieces stored, a sixth is refused again.
    pool.clock.advance(settle + 1);
    for n in 1..=4 {
        registry.heartbeat(peer(n), beat(5 * piece)).await.unwrap();
    }
    assert!(
        (pool.uploads())
            .place(account(), &begun.upload, 6, &segment(piece))
            .await
            .is_err()
    );
}
