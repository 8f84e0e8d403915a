//! The API over real HTTP, in process: the router on `127.0.0.1:0` over a SQLite store in a
//! temporary directory, called by a client that signs as an account. Peers and pieces are
//! arranged through the store, where otherwise running peers and receipts would be needed.

use cairn_proto::codes;
use std::sync::{Arc, Mutex};

use cairn_core::{AccountId, PeerId, PieceHash, Redundancy};
use cairn_proto::api::{
    self as paths, AccountHealth, AccountOpened, BeginUpload, CommitUpload, ManySources,
    NetworkStatus, ObjectHealth, ObjectSources, PieceState, SourcesRequest, UploadBegun,
    UploadCommitted,
};
use cairn_proto::{OrderSigner, RequestVerifier};
use cairn_testkit::SignedClient;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::PoolConfig;
use crate::state::PeerState;
use crate::store::{
    CommitObject, NewUpload, ObjectId, ObjectStore, PeerRegistration, PiecePlacement,
    RegistryStore, SegmentCommit, SqliteStore,
};

/// A pool serving in this process; the server task ends with it.
struct TestPool {
    base: String,
    store: SqliteStore,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for TestPool {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestPool {
    /// A pool with peers 1 to 4 online.
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("pool.sqlite")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Arc::new(App {
            store: store.clone(),
            signer: OrderSigner::new(SigningKey::from_bytes(&[1; 32])),
            requests: Mutex::new(RequestVerifier::default()),
            config: PoolConfig::new(dir.path().to_owned(), listener.local_addr().unwrap()),
            http: reqwest::Client::new(),
            peers: std::sync::Arc::new(cairn_transfer::PeerClient::new().expect("an HTTP client")),
            counters: crate::counters::Counters::default(),
            repairs: crate::repair::Repairs::default(),
            rebalance: crate::rebalance::Rebalancer::default(),
            rates: Default::default(),
            quotas: Default::default(),
            clock: cairn_proto::clock::system(),
            index_mark: Default::default(),
            reserved: Default::default(),
        });
        let router = super::router(app);
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        for n in 1..=4 {
            let registration = PeerRegistration {
                id: peer(n),
                address: format!("http://127.0.0.{n}:7000"),
                zone: Some(format!("z{n}")),
                capacity: 1 << 30,
                used: 0,
                piece_count: 0,
            };
            store
                .register_peer(registration, cairn_proto::clock::now_ms())
                .await
                .unwrap();
        }
        Self {
            base,
            store,
            server,
            _dir: dir,
        }
    }

    /// A client signing as account `n`, and that account.
    fn account(&self, n: u8) -> (SignedClient, AccountId) {
        let key = SigningKey::from_bytes(&[100 + n; 32]);
        let account = AccountId::from_verifying_key(&key.verifying_key());
        (SignedClient::new(&self.base, key), account)
    }

    async fn status(&self) -> NetworkStatus {
        reqwest::get(format!("{}{}", self.base, paths::STATUS))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}{}", self.base, paths::METRICS))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Commits a one-segment `ec:2+2` object through the store: fragment `f` on peer `f + 1`.
    async fn commit_object(&self, account: AccountId, path: &str) {
        let id = ObjectId::random(&mut rand::rng());
        self.store
            .begin_upload(NewUpload {
                id,
                account,
                path: path.to_owned(),
                redundancy: Redundancy::ec(2, 2).unwrap(),
                created_at: 1,
                expires_at: u64::MAX / 2,
            })
            .await
            .unwrap();
        let pieces = (0..4u16)
            .map(|f| PiecePlacement {
                segment: 0,
                fragment: f,
                hash: PieceHash::of(format!("{path}/{f}").as_bytes()),
                size: 100,
                peer: peer(f as u8 + 1),
            })
            .collect();
        self.store
            .commit_segment(
                account,
                id,
                SegmentCommit {
                    index: 0,
                    piece_size: 100,
                    pieces,
                },
            )
            .await
            .unwrap();
        self.store
            .commit_object(
                account,
                id,
                CommitObject {
                    metadata: b"sealed".to_vec(),
                    size: 200,
                    segment_count: 1,
                },
                2,
            )
            .await
            .unwrap();
    }

    async fn set_state(&self, n: u8, state: PeerState) {
        self.store
            .set_peer_state(peer(n), state, cairn_proto::clock::now_ms())
            .await
            .unwrap();
    }
}

fn peer(n: u8) -> PeerId {
    PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
}

const NO_BODY: Option<&()> = None;

async fn account_health(client: &SignedClient) -> AccountHealth {
    client
        .call("GET", paths::ACCOUNT_HEALTH, NO_BODY)
        .await
        .unwrap()
}

async fn object_health(client: &SignedClient, path: &str) -> ObjectHealth {
    client
        .call(
            "GET",
            &format!("{}?path={path}", paths::OBJECT_HEALTH),
            NO_BODY,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn accounts_open_once() {
    let pool = TestPool::start().await;
    let (client, account) = pool.account(1);
    let opened: AccountOpened = client.call("POST", paths::ACCOUNT, NO_BODY).await.unwrap();
    assert_eq!(
        opened,
        AccountOpened {
            account,
            created: true
        }
    );
    let again: AccountOpened = client
        .call("POST", paths::ACCOUNT, Some(&serde_json::Value::Null))
        .await
        .unwrap();
    assert!(!again.created, "opening twice creates nothing");
    assert_eq!(
        account_health(&client).await,
        AccountHealth {
            objects: 0,
            full: 0,
            degraded: Vec::new(),
            unreadable: Vec::new(),
        }
    );
}

#[tokio::test]
async fn empty_objects_commit_without_segments() {
    let pool = TestPool::start().await;
    let (client, _) = pool.account(1);
    let begun: UploadBegun = client
        .call(
            "POST",
            paths::UPLOADS,
            Some(&BeginUpload {
                path: "Zm9sZGVy".to_owned(),
                redundancy: "ec:2+2".to_owned(),
                first_segment: None,
                object: None,
            }),
        )
        .await
        .unwrap();
    let commit = |size: u64, segment_count: u32| CommitUpload {
        metadata: "c2VhbGVk".to_owned(),
        size,
        segment_count,
        last_segment: None,
    };
    let path = paths::commit_upload_path(&begun.upload);
    for (size, count) in [(5, 0), (0, cairn_proto::limits::MAX_SEGMENTS + 1)] {
        let refused = client
            .call::<_, UploadCommitted>("POST", &path, Some(&commit(size, count)))
            .await
            .unwrap_err();
        assert_eq!(
            (refused.status(), refused.code()),
            (Some(400), Some(codes::BAD_REQUEST)),
            "{size} bytes in {count} segments"
        );
    }
    let committed: UploadCommitted = client
        .call("POST", &path, Some(&commit(0, 0)))
        .await
        .unwrap();
    assert_eq!(committed.path, "Zm9sZGVy");
    let object: ObjectSources = client
        .call("GET", &format!("{}?path=Zm9sZGVy", paths::OBJECT), NO_BODY)
        .await
        .unwrap();
    assert_eq!((object.size, object.segments.len()), (0, 0));
    assert!(object_health(&client, "Zm9sZGVy").await.segments.is_empty());
    let health = account_health(&client).await;
    assert_eq!((health.objects, health.full), (1, 1));
    assert_eq!(pool.status().await.repair_queue, 0);
}

#[tokio::test]
async fn health_follows_peer_states() {
    let pool = TestPool::start().await;
    let (client, alice) = pool.account(1);
    let (stranger, _) = pool.account(2);
    pool.commit_object(alice, "YWFh").await;
    pool.commit_object(alice, "YmJi").await;

    let health = object_health(&client, "YWFh").await;
    assert_eq!(
        (health.path.as_str(), health.redundancy.as_str()),
        ("YWFh", "ec:2+2")
    );
    let segment = &health.segments[0];
    assert_eq!(segment.pieces.len(), 4);
    assert!(
        segment
            .pieces
            .iter()
            .all(|p| p.state == PieceState::Healthy)
    );
    assert!(segment.full_redundancy && segment.readable);
    assert_eq!(account_health(&client).await.full, 2);
    assert_eq!(pool.status().await.repair_queue, 0);
    assert!(pool.metrics().await.contains("\ncairn_repair_queue 0\n"));

    // One peer offline: every object is degraded, still readable.
    pool.set_state(1, PeerState::Offline).await;
    let segment = object_health(&client, "YWFh").await.segments.remove(0);
    assert_eq!(
        (segment.pieces[0].peer, segment.pieces[0].state),
        (peer(1), PieceState::Offline)
    );
    assert!(!segment.full_redundancy && segment.readable);
    assert_eq!(
        account_health(&client).await,
        AccountHealth {
            objects: 2,
            full: 0,
            degraded: vec!["YWFh".to_owned(), "YmJi".to_owned()],
            unreadable: Vec::new(),
        }
    );
    assert_eq!(pool.status().await.repair_queue, 2);
    assert!(pool.metrics().await.contains("\ncairn_repair_queue 2\n"));

    // Three of four gone: fewer than k = 2 fragments can be read.
    pool.set_state(2, PeerState::Lost).await;
    pool.set_state(3, PeerState::Disqualified).await;
    assert!(!object_health(&client, "YWFh").await.segments[0].readable);
    let health = account_health(&client).await;
    assert_eq!(health.unreadable, ["YWFh", "YmJi"]);
    assert!(health.degraded.is_empty());

    // Another account sees none of it; unknown and malformed paths are refused.
    assert_eq!(account_health(&stranger).await.objects, 0);
    let unknown = stranger
        .call::<_, ObjectHealth>(
            "GET",
            &format!("{}?path=YWFh", paths::OBJECT_HEALTH),
            NO_BODY,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.status(), unknown.code()),
        (Some(404), Some(codes::OBJECT_NOT_FOUND))
    );
    let malformed = client
        .call::<_, ObjectHealth>(
            "GET",
            &format!("{}?path=a%25b", paths::OBJECT_HEALTH),
            NO_BODY,
        )
        .await
        .unwrap_err();
    assert_eq!(malformed.status(), Some(400));
}

#[tokio::test]
async fn corruption_reports_are_taken_only_for_the_accounts_own_pieces() {
    use cairn_proto::api::CorruptReport;

    let pool = TestPool::start().await;
    let (client, account) = pool.account(1);
    let (stranger, _) = pool.account(2);
    pool.commit_object(account, "YWFh").await;
    let hash = PieceHash::of(b"YWFh/1");
    let report = |peer| CorruptReport { peer, hash };
    let send = |client: &SignedClient, body: Vec<u8>| {
        let client = client.clone();
        async move {
            client
                .send_raw("POST", paths::REPORT_CORRUPT, body)
                .await
                .unwrap()
        }
    };
    let json = |r: CorruptReport| serde_json::to_vec(&r).unwrap();

    // Another account's piece, and a piece on the wrong peer, are unknown.
    let (status, body) = send(&stranger, json(report(peer(2)))).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        cairn_proto::ErrorBody::from_json(&body).unwrap().code,
        codes::PIECE_NOT_FOUND
    );
    assert_eq!(send(&client, json(report(peer(3)))).await.0, 404);
    // Malformed reports.
    assert_eq!(send(&client, b"{\"peer\":\"zz\"}".to_vec()).await.0, 400);
    assert_eq!(send(&client, Vec::new()).await.0, 400);
    assert!(
        pool.metrics()
            .await
            .contains("\ncairn_corruption_reports_total 0\n")
    );

    // The owner's report is taken and counted; by itself it marks nothing damaged (the
    // audit it triggers cannot reach this test's peer, so it proves nothing either way).
    assert_eq!(send(&client, json(report(peer(2)))).await.0, 202);
    assert!(
        pool.metrics()
            .await
            .contains("\ncairn_corruption_reports_total 1\n")
    );
    let health = object_health(&client, "YWFh").await;
    assert!(
        health.segments[0]
            .pieces
            .iter()
            .all(|p| p.state == PieceState::Healthy)
    );
}

#[tokio::test]
async fn many_objects_sources_come_in_one_request_in_the_order_asked() {
    let pool = TestPool::start().await;
    let (alice, alice_id) = pool.account(1);
    let (bob, _) = pool.account(2);
    for path in ["b25l", "dHdv"] {
        pool.commit_object(alice_id, path).await;
    }
    let ask = |paths: &[&str]| SourcesRequest {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    };
    let many: ManySources = alice
        .call(
            "POST",
            paths::OBJECT_SOURCES,
            Some(&ask(&["dHdv", "bm9uZQ", "b25l"])),
        )
        .await
        .unwrap();
    let one: ObjectSources = alice
        .call("GET", &format!("{}?path=b25l", paths::OBJECT), NO_BODY)
        .await
        .unwrap();
    let [Some(two), None, Some(first)] = &many.objects[..] else {
        panic!("{many:?}");
    };
    assert_eq!(two.path, "dHdv");
    assert_eq!(first.path, "b25l");
    assert_eq!(first.segments[0].pieces.len(), 4);
    // The same record as asking for it alone (orders differ only in serial and signature).
    assert_eq!(
        (&first.metadata, first.size, first.segments.len()),
        (&one.metadata, one.size, one.segments.len())
    );
    let hashes = |o: &ObjectSources| -> Vec<PieceHash> {
        o.segments[0].pieces.iter().map(|p| p.hash).collect()
    };
    assert_eq!(hashes(first), hashes(&one));
    // Another account sees nothing of alice's.
    let theirs: ManySources = bob
        .call("POST", paths::OBJECT_SOURCES, Some(&ask(&["b25l", "dHdv"])))
        .await
        .unwrap();
    assert_eq!(theirs.objects, [None, None]);
    // Too many paths, or one that is not an encrypted path, and nothing is answered.
    let too_many = vec!["b25l"; paths::MAX_SOURCES + 1];
    for refused in [ask(&too_many), ask(&["b25l", "not a path!"])] {
        let error = alice
            .call::<_, ManySources>("POST", paths::OBJECT_SOURCES, Some(&refused))
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(400), "{error:?}");
    }
}

#[tokio::test]
async fn many_uploads_begin_and_commit_in_one_request_each_answered_alone() {
    use cairn_proto::Receipt;
    use cairn_proto::api::{
        Answer, BeginMany, CommitMany, CommitOne, CommittedPiece, FragmentInfo, LastSegment,
        ManyAnswers, ObjectList, PlaceSegment,
    };
    let pool = TestPool::start().await;
    let (alice, _) = pool.account(1);
    let segment = PlaceSegment {
        piece_size: 100,
        fragments: (0..4u16)
            .map(|fragment| FragmentInfo {
                fragment,
                hash: PieceHash::of(&[fragment as u8; 100]),
            })
            .collect(),
    };
    let begin = |path: &str, redundancy: &str, first: bool| BeginUpload {
        path: path.to_owned(),
        redundancy: redundancy.to_owned(),
        first_segment: first.then(|| segment.clone()),
        object: None,
    };
    let begun: ManyAnswers<UploadBegun> = alice
        .call(
            "POST",
            paths::UPLOADS_MANY,
            Some(&BeginMany {
                uploads: vec![
                    begin("b25l", "ec:2+2", true),
                    begin("not a path!", "ec:2+2", true),
                    begin("dHdv", "auto", true),
                    begin("Zm9sZGVy", "ec:2+2", false),
                ],
            }),
        )
        .await
        .unwrap();
    let [
        Answer::Ok(small),
        Answer::Refused(bad_path),
        Answer::Refused(auto),
        Answer::Ok(empty),
    ] = &begun.answers[..]
    else {
        panic!("{begun:?}");
    };
    assert_eq!(
        (bad_path.status, bad_path.code.as_str()),
        (400, codes::BAD_REQUEST)
    );
    assert_eq!(
        (auto.status, auto.code.as_str()),
        (400, codes::BAD_REDUNDANCY)
    );
    assert!(empty.placed.is_none());
    let placed = small.placed.as_ref().expect("the first segment placed");
    assert_eq!(placed.targets.len(), 4);
    // Receipts from the peers the pool chose (peer n's key is [n; 32]).
    let pieces = placed
        .targets
        .iter()
        .map(|target| {
            let n = (1..=4).find(|&n| peer(n) == target.peer).unwrap();
            let key = SigningKey::from_bytes(&[n; 32]);
            let hash = segment.fragments[usize::from(target.fragment)].hash;
            CommittedPiece {
                fragment: target.fragment,
                receipt: Receipt::sign(&key, hash, 100, target.order.order.serial),
            }
        })
        .collect();
    let commit = |upload: &str, size: u64, last: Option<LastSegment>| CommitOne {
        upload: upload.to_owned(),
        commit: CommitUpload {
            metadata: "c2VhbGVk".to_owned(),
            size,
            segment_count: u32::from(size > 0),
            last_segment: last,
        },
    };
    let committed: ManyAnswers<UploadCommitted> = alice
        .call(
            "POST",
            paths::COMMITS_MANY,
            Some(&CommitMany {
                commits: vec![
                    commit(&small.upload, 200, Some(LastSegment { index: 0, pieces })),
                    commit("garbage", 0, None),
                    commit(&ObjectId::random(&mut rand::rng()).to_string(), 0, None),
                    commit(&empty.upload, 0, None),
                ],
            }),
        )
        .await
        .unwrap();
    let [
        Answer::Ok(first),
        Answer::Refused(garbage),
        Answer::Refused(unknown),
        Answer::Ok(folder),
    ] = &committed.answers[..]
    else {
        panic!("{committed:?}");
    };
    assert_eq!(
        (first.path.as_str(), folder.path.as_str()),
        ("b25l", "Zm9sZGVy")
    );
    assert_eq!(
        (garbage.status, garbage.code.as_str()),
        (400, codes::BAD_REQUEST)
    );
    assert_eq!(
        (unknown.status, unknown.code.as_str()),
        (404, codes::UPLOAD_NOT_FOUND)
    );
    let listed: ObjectList = alice
        .call("GET", &format!("{}?prefix=", paths::OBJECTS), NO_BODY)
        .await
        .unwrap();
    let names: Vec<&str> = listed.objects.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(names, ["Zm9sZGVy", "b25l"]);
    // Too many at once, and nothing is begun or committed.
    let too_many = BeginMany {
        uploads: vec![begin("dHdv", "ec:2+2", false); paths::MAX_AT_ONCE + 1],
    };
    let error = alice
        .call::<_, ManyAnswers<UploadBegun>>("POST", paths::UPLOADS_MANY, Some(&too_many))
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(413), Some(codes::TOO_MANY_AT_ONCE))
    );
    let too_many = CommitMany {
        commits: vec![commit("garbage", 0, None); paths::MAX_AT_ONCE + 1],
    };
    let error = alice
        .call::<_, ManyAnswers<UploadCommitted>>("POST", paths::COMMITS_MANY, Some(&too_many))
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(413), Some(codes::TOO_MANY_AT_ONCE))
    );
}
