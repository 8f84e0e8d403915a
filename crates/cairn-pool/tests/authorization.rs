//! The pool's authorization matrix and limits, over real HTTP against a pool started in this
//! process.
//!
//! Every route of the router (`cairn_pool::api::ROUTES`) has one row in [`matrix`] saying
//! who may call it; each signed row is called with every kind of bad credential (none,
//! expired, from the future, over another body, path or method, a flipped signature bit,
//! someone else's key, malformed), by every other principal (another account, a peer key on
//! account routes, an account key on peer routes, an unregistered key), by its rightful
//! caller, and then replayed. A route without a row, a row without a route, or a method the
//! list does not name fails [`every_route_has_a_row_and_no_other_method_is_served`].
//!
//! The peer's side — which orders a peer obeys — is `crates/cairn-peer/tests/orders.rs`.

use cairn_proto::codes;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::{PeerId, PieceHash};
use cairn_pool::api::ROUTES;
use cairn_pool::{PoolConfig, RunningPool};
use cairn_proto::api::{
    self as paths, BeginMany, BeginUpload, CommitMany, CommitOne, CommitSegment, CommitUpload,
    CommittedPiece, CorruptReport, CreateShare, FindLedger, FragmentInfo, Heartbeat, HeartbeatAck,
    ImportObject, ImportObjects, ImportSegment, OpenShare, PlaceSegment, RegisterPeer, Rename,
    RepairJob, RepairReport, RevokeShare, SegmentPlaced, ShareCreated, ShareSourcesRequest,
    SourcesRequest, UploadBegun,
};
use cairn_proto::auth::{KEY_HEADER, MAX_CLOCK_SKEW_MS, SIGNATURE_HEADER};
use cairn_proto::clock::now_ms;
use cairn_proto::{ErrorBody, Receipt, RequestAuth};
use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Peers that hold pieces: enough for `ec:2+2` with two spares, each in its own zone.
const STORAGE_PEERS: usize = 6;
/// The redundancy every test upload uses.
const SHAPE: &str = "ec:2+2";
/// Bytes of every test piece.
const PIECE: u64 = 100;
/// Put orders one placement hands out: four targets and two spares of four fragments.
const ORDERS_PER_PLACEMENT: u64 = 4 + 2 * 4;

fn fresh_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random())
}

fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// An encrypted path (one base64url component) whose text marks it as `owner`'s.
fn path_of(owner: &str, n: usize) -> String {
    BASE64URL_NOPAD.encode(format!("{owner}-{n}").as_bytes())
}

/// What every one of alice's paths starts with in base64url, so that an
/// answer to anyone else can be searched for it.
fn alice_marker() -> String {
    BASE64URL_NOPAD.encode(b"alice-")[..7].to_owned()
}

/// An answer: status, error code if any, the whole text and the `Retry-After` header.
#[derive(Debug)]
struct Answer {
    status: u16,
    code: Option<String>,
    text: String,
    retry_after: Option<String>,
}

/// A pool serving on `127.0.0.1:0` with its data in a temporary directory.
struct Pool {
    running: Option<RunningPool>,
    base: String,
    http: reqwest::Client,
    /// Every storage peer's key, by id.
    peers: HashMap<PeerId, SigningKey>,
    /// Storage peers in registration order.
    order: Vec<PeerId>,
    /// Repair jobs handed to storage peers in heartbeat answers.
    jobs: Arc<Mutex<Vec<(PeerId, RepairJob)>>>,
    heartbeats: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Pool {
    /// Starts a pool configured by `configure` and registers [`STORAGE_PEERS`] peers, which
    /// heartbeat in the background (keeping them online and collecting repair jobs).
    async fn start(configure: impl FnOnce(&mut PoolConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = PoolConfig::new(dir.path().to_owned(), "127.0.0.1:0".parse().unwrap());
        // Quick health and repair ticks, so a repair job is planned within a second.
        config.timers.heartbeat_interval = Duration::from_secs(1);
        configure(&mut config);
        let running = RunningPool::start(config).await.unwrap();
        let base = format!("http://{}", running.local_addr());
        let mut pool = Self {
            running: Some(running),
            base,
            http: reqwest::Client::new(),
            peers: HashMap::new(),
            order: Vec::new(),
            jobs: Arc::default(),
            heartbeats: None,
            _dir: dir,
        };
        for n in 0..STORAGE_PEERS {
            let key = fresh_key();
            let id = PeerId::from_verifying_key(&key.verifying_key());
            pool.register(&key, 1 << 30, Some(format!("z{n}")), Vec::new())
                .await;
            pool.peers.insert(id, key);
            pool.order.push(id);
        }
        pool.heartbeats = Some(tokio::spawn(heartbeat_forever(
            pool.base.clone(),
            pool.peers.clone(),
            pool.jobs.clone(),
        )));
        pool
    }

    async fn register(
        &self,
        key: &SigningKey,
        capacity: u64,
        zone: Option<String>,
        pieces: Vec<PieceHash>,
    ) {
        let body = RegisterPeer {
            // Nothing listens there: probes and audits of it fail fast and count for nothing.
            address: "http://127.0.0.1:1".parse().unwrap(),
            zone,
            capacity,
            used: 0,
            pieces,
            ledger: Vec::new(),
        };
        let answer = self
            .signed(key, "POST", paths::PEER_REGISTER, &json(&body))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    /// Sends a request with exactly these headers.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&'static str, String)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let code = if (200..300).contains(&status) {
            None
        } else {
            Some(ErrorBody::from_json(text.as_bytes()).unwrap().code)
        };
        Answer {
            status,
            code,
            text,
            retry_after,
        }
    }

    /// Sends a request signed by `key` now with a fresh nonce.
    async fn signed(&self, key: &SigningKey, method: &str, path: &str, body: &[u8]) -> Answer {
        let auth = RequestAuth::sign(key, method, path, body, now_ms(), rand::random());
        self.send(method, path, body, &auth.headers()).await
    }

    /// A signed request that must succeed, its answer decoded.
    async fn call<T: DeserializeOwned>(
        &self,
        key: &SigningKey,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> T {
        let answer = self.signed(key, method, path, body).await;
        assert!(
            (200..300).contains(&answer.status),
            "{method} {path}: {answer:?}"
        );
        let text = if answer.text.is_empty() {
            "null"
        } else {
            &answer.text
        };
        serde_json::from_str(text).unwrap()
    }

    async fn begin(&self, key: &SigningKey, path: &str) -> String {
        let body = BeginUpload {
            path: path.to_owned(),
            redundancy: SHAPE.to_owned(),
            first_segment: None,
            object: None,
        };
        let begun: UploadBegun = self.call(key, "POST", paths::UPLOADS, &json(&body)).await;
        begun.upload
    }

    /// The body placing one segment of fresh random fragments of `size` bytes.
    fn segment(size: u64) -> PlaceSegment {
        PlaceSegment {
            piece_size: size,
            fragments: (0..4u16)
                .map(|fragment| FragmentInfo {
                    fragment,
                    hash: PieceHash::of(&rand::random::<[u8; 32]>()),
                })
                .collect(),
        }
    }

    /// Places segment `index` of `upload`: the answer, or the refusal.
    async fn place(
        &self,
        key: &SigningKey,
        upload: &str,
        index: u32,
        size: u64,
    ) -> Result<SegmentPlaced, Answer> {
        let path = paths::place_segment_path(upload, index);
        let answer = self
            .signed(key, "POST", &path, &json(&Self::segment(size)))
            .await;
        if answer.status != 200 {
            return Err(answer);
        }
        Ok(serde_json::from_str(&answer.text).unwrap())
    }

    /// The receipts every placed target's peer would give for its piece.
    fn receipts(&self, placed: &SegmentPlaced) -> CommitSegment {
        CommitSegment {
            pieces: placed
                .targets
                .iter()
                .map(|t| CommittedPiece {
                    fragment: t.fragment,
                    receipt: Receipt::sign(
                        &self.peers[&t.peer],
                        t.order.order.piece,
                        t.order.order.max_size,
                        t.order.order.serial,
                    ),
                })
                .collect(),
        }
    }

    async fn commit_segment(&self, key: &SigningKey, upload: &str, index: u32, p: &SegmentPlaced) {
        let path = paths::commit_segment_path(upload, index);
        let answer = self
            .signed(key, "POST", &path, &json(&self.receipts(p)))
            .await;
        assert_eq!(answer.status, 204, "{answer:?}");
    }

    fn commit_body(segments: u32) -> CommitUpload {
        CommitUpload {
            metadata: BASE64URL_NOPAD.encode(b"sealed metadata"),
            size: PIECE,
            segment_count: segments,
            last_segment: None,
        }
    }

    /// Uploads a one-segment object at `path`; its first placed piece, or the refusal.
    async fn upload(&self, key: &SigningKey, path: &str) -> Result<(PeerId, PieceHash), Answer> {
        self.upload_object(key, path).await.map(|(piece, _)| piece)
    }

    /// [`Self::upload`], answering the object's id too.
    async fn upload_object(
        &self,
        key: &SigningKey,
        path: &str,
    ) -> Result<((PeerId, PieceHash), cairn_core::ObjectId), Answer> {
        let upload = self.begin(key, path).await;
        let placed = self.place(key, &upload, 0, PIECE).await?;
        self.commit_segment(key, &upload, 0, &placed).await;
        let _: serde_json::Value = self
            .call(
                key,
                "POST",
                &paths::commit_upload_path(&upload),
                &json(&Self::commit_body(1)),
            )
            .await;
        let first = &placed.targets[0];
        let id = upload.parse().unwrap();
        Ok(((first.peer, first.order.order.piece), id))
    }

    /// Waits (polling, with a deadline) for a repair job handed to a storage peer.
    async fn repair_job(&self) -> (PeerId, RepairJob) {
        cairn_testkit::wait_until("a repair job handed out", Duration::from_secs(30), || {
            let job = self.jobs.lock().unwrap().first().cloned();
            async move { job }
        })
        .await
        .unwrap()
    }

    async fn stop(mut self) {
        if let Some(task) = self.heartbeats.take() {
            task.abort();
        }
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(task) = self.heartbeats.take() {
            task.abort();
        }
    }
}

/// Heartbeats every storage peer four times a second, keeping the repair jobs handed out.
async fn heartbeat_forever(
    base: String,
    peers: HashMap<PeerId, SigningKey>,
    jobs: Arc<Mutex<Vec<(PeerId, RepairJob)>>>,
) {
    let http = reqwest::Client::new();
    let body = json(&Heartbeat {
        used: 0,
        piece_count: 0,
        load: 0,
        deleted: Vec::new(),
    });
    loop {
        for (id, key) in &peers {
            let auth = RequestAuth::sign(
                key,
                "POST",
                paths::PEER_HEARTBEAT,
                &body,
                now_ms(),
                rand::random(),
            );
            let mut request = http
                .post(format!("{base}{}", paths::PEER_HEARTBEAT))
                .body(body.clone());
            for (name, value) in auth.headers() {
                request = request.header(name, value);
            }
            if let Ok(response) = request.send().await
                && let Ok(ack) = response.json::<HeartbeatAck>().await
            {
                jobs.lock()
                    .unwrap()
                    .extend(ack.repairs.into_iter().map(|job| (*id, job)));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Who makes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    /// Account A, which owns the row's objects and uploads.
    Alice,
    /// Account B, with objects of its own.
    Bob,
    /// A registered storage peer (not the repair job's executor).
    StoragePeer,
    /// A registered peer with nothing stored, made for the row.
    IdlePeer,
    /// The peer the repair job was handed to.
    Executor,
    /// A key the pool has never seen.
    Stranger,
}

/// What a principal gets.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status (success).
    Ok(u16),
    /// A success about its own (empty or separate) account: nothing of alice's in it.
    OwnView(u16),
    /// A refusal with this status and code.
    Refused(u16, &'static str),
    /// A request carrying many items answered `200`, its only item refused with this
    /// status and code.
    RefusedItem(u16, &'static str),
}

/// Who may call a route, and what everyone else gets.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// No credentials needed.
    Public,
    /// Signed by `owner`, answered `ok`; `others` get their outcome.
    Signed {
        owner: Who,
        ok: u16,
        others: &'static [(Who, Expect)],
    },
}

/// One row of the matrix: a route, the request made on it, and who may make it.
struct Row {
    method: &'static str,
    pattern: &'static str,
    request: fn(&Fixture) -> (String, Vec<u8>),
    access: Access,
}

const NOT_ALICES_UPLOAD: &[(Who, Expect)] = &[
    (Who::Bob, Expect::Refused(404, codes::UPLOAD_NOT_FOUND)),
    (
        Who::StoragePeer,
        Expect::Refused(404, codes::UPLOAD_NOT_FOUND),
    ),
];
const NOT_ALICES_OBJECT: &[(Who, Expect)] = &[
    (Who::Bob, Expect::Refused(404, codes::OBJECT_NOT_FOUND)),
    (
        Who::StoragePeer,
        Expect::Refused(404, codes::OBJECT_NOT_FOUND),
    ),
];
const NOT_ALICES_UPLOAD_ITEM: &[(Who, Expect)] = &[
    (Who::Bob, Expect::RefusedItem(404, codes::UPLOAD_NOT_FOUND)),
    (
        Who::StoragePeer,
        Expect::RefusedItem(404, codes::UPLOAD_NOT_FOUND),
    ),
];
const OWN_ACCOUNT_ONLY: &[(Who, Expect)] = &[
    (Who::Bob, Expect::OwnView(200)),
    (Who::StoragePeer, Expect::OwnView(200)),
];
const NOT_ALICES_SHARE: &[(Who, Expect)] = &[
    (Who::Bob, Expect::Refused(404, codes::SHARE_NOT_FOUND)),
    (
        Who::StoragePeer,
        Expect::Refused(404, codes::SHARE_NOT_FOUND),
    ),
];
const NOT_A_PEER: &[(Who, Expect)] = &[
    (Who::Alice, Expect::Refused(404, codes::PEER_NOT_FOUND)),
    (Who::Stranger, Expect::Refused(404, codes::PEER_NOT_FOUND)),
];

/// Every route, in the router's order.
fn matrix() -> Vec<Row> {
    fn get(path: &str) -> (String, Vec<u8>) {
        (path.to_owned(), Vec::new())
    }
    vec![
        Row {
            method: "GET",
            pattern: paths::INFO,
            request: |_| get(paths::INFO),
            access: Access::Public,
        },
        Row {
            method: "GET",
            pattern: paths::STATUS,
            request: |_| get(paths::STATUS),
            access: Access::Public,
        },
        Row {
            method: "GET",
            pattern: paths::METRICS,
            request: |_| get(paths::METRICS),
            access: Access::Public,
        },
        Row {
            method: "POST",
            pattern: paths::PEER_REGISTER,
            request: |_| {
                let body = RegisterPeer {
                    address: "http://127.0.0.1:1".parse().unwrap(),
                    zone: None,
                    capacity: 0,
                    used: 0,
                    pieces: Vec::new(),
                    ledger: Vec::new(),
                };
                (paths::PEER_REGISTER.to_owned(), json(&body))
            },
            // Any key may offer itself as a peer (the network is open); it gains nothing
            // of any account by it, which the account rows check with a peer key.
            access: Access::Signed {
                owner: Who::Stranger,
                ok: 200,
                others: &[(Who::Bob, Expect::OwnView(200))],
            },
        },
        Row {
            method: "POST",
            pattern: paths::PEER_HEARTBEAT,
            request: |_| {
                let body = Heartbeat {
                    used: 0,
                    piece_count: 0,
                    load: 0,
                    deleted: Vec::new(),
                };
                (paths::PEER_HEARTBEAT.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::IdlePeer,
                ok: 200,
                others: NOT_A_PEER,
            },
        },
        Row {
            method: "POST",
            pattern: paths::PEER_DRAIN,
            request: |_| (paths::PEER_DRAIN.to_owned(), Vec::new()),
            access: Access::Signed {
                owner: Who::IdlePeer,
                ok: 204,
                others: NOT_A_PEER,
            },
        },
        Row {
            method: "POST",
            pattern: paths::REPAIR_REPORT,
            request: |f| {
                let body = RepairReport {
                    job: f.job.clone().unwrap_or_default(),
                    pieces: Vec::new(),
                    error: Some("the matrix test ran no repair".to_owned()),
                };
                (paths::REPAIR_REPORT.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::Executor,
                ok: 204,
                others: &[
                    (
                        Who::StoragePeer,
                        Expect::Refused(404, codes::REPAIR_NOT_FOUND),
                    ),
                    (Who::Alice, Expect::Refused(404, codes::REPAIR_NOT_FOUND)),
                ],
            },
        },
        Row {
            method: "POST",
            pattern: paths::REPORT_CORRUPT,
            request: |f| {
                let (peer, hash) = f.piece;
                (
                    paths::REPORT_CORRUPT.to_owned(),
                    json(&CorruptReport { peer, hash }),
                )
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 202,
                others: &[
                    (Who::Bob, Expect::Refused(404, codes::PIECE_NOT_FOUND)),
                    (
                        Who::StoragePeer,
                        Expect::Refused(404, codes::PIECE_NOT_FOUND),
                    ),
                ],
            },
        },
        Row {
            method: "POST",
            pattern: paths::ACCOUNT,
            request: |_| (paths::ACCOUNT.to_owned(), Vec::new()),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "GET",
            pattern: paths::ACCOUNT_HEALTH,
            request: |_| get(paths::ACCOUNT_HEALTH),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "GET",
            pattern: paths::ACCOUNT_USAGE,
            request: |_| get(paths::ACCOUNT_USAGE),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "POST",
            pattern: paths::UPLOADS,
            request: |f| {
                let body = BeginUpload {
                    path: f.spare_path.clone(),
                    redundancy: SHAPE.to_owned(),
                    first_segment: None,
                    object: None,
                };
                (paths::UPLOADS.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "POST",
            pattern: paths::UPLOADS_MANY,
            request: |f| {
                let body = BeginMany {
                    uploads: vec![BeginUpload {
                        path: f.spare_path.clone(),
                        redundancy: SHAPE.to_owned(),
                        first_segment: None,
                        object: None,
                    }],
                };
                (paths::UPLOADS_MANY.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "POST",
            pattern: paths::COMMITS_MANY,
            request: |f| {
                let body = CommitMany {
                    commits: vec![CommitOne {
                        upload: f.upload.clone(),
                        commit: Pool::commit_body(1),
                    }],
                };
                (paths::COMMITS_MANY.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_UPLOAD_ITEM,
            },
        },
        Row {
            method: "DELETE",
            pattern: "/v1/uploads/{upload}",
            request: |f| (paths::upload_path(&f.upload), Vec::new()),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 204,
                others: NOT_ALICES_UPLOAD,
            },
        },
        Row {
            method: "POST",
            pattern: "/v1/uploads/{upload}/commit",
            request: |f| {
                (
                    paths::commit_upload_path(&f.upload),
                    json(&Pool::commit_body(1)),
                )
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_UPLOAD,
            },
        },
        Row {
            method: "POST",
            pattern: "/v1/uploads/{upload}/segments/{index}/place",
            request: |f| {
                (
                    paths::place_segment_path(&f.upload, 2),
                    json(&Pool::segment(PIECE)),
                )
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_UPLOAD,
            },
        },
        Row {
            method: "POST",
            pattern: "/v1/uploads/{upload}/segments/{index}/commit",
            request: |f| {
                (
                    paths::commit_segment_path(&f.upload, 1),
                    f.segment_receipts.clone(),
                )
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 204,
                others: NOT_ALICES_UPLOAD,
            },
        },
        Row {
            method: "GET",
            pattern: paths::OBJECTS,
            request: |_| get(&format!("{}?prefix=", paths::OBJECTS)),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "POST",
            pattern: paths::OBJECT_SOURCES,
            request: |f| {
                let body = SourcesRequest {
                    paths: vec![f.object.clone()],
                };
                (paths::OBJECT_SOURCES.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "GET",
            pattern: paths::OBJECT,
            request: |f| get(&format!("{}?path={}", paths::OBJECT, f.object)),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_OBJECT,
            },
        },
        Row {
            method: "DELETE",
            pattern: paths::OBJECT,
            request: |f| get(&format!("{}?path={}", paths::OBJECT, f.object)),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 204,
                others: NOT_ALICES_OBJECT,
            },
        },
        Row {
            method: "GET",
            pattern: paths::OBJECT_HEALTH,
            request: |f| get(&format!("{}?path={}", paths::OBJECT_HEALTH, f.object)),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_OBJECT,
            },
        },
        Row {
            method: "GET",
            pattern: paths::OBJECTS_LEVEL,
            request: |_| get(&format!("{}?prefix=", paths::OBJECTS_LEVEL)),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "GET",
            pattern: paths::OBJECT_RANGE,
            request: |f| {
                get(&format!(
                    "{}?path={}&first=0&last=0",
                    paths::OBJECT_RANGE,
                    f.object
                ))
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_OBJECT,
            },
        },
        Row {
            method: "POST",
            pattern: paths::RENAME,
            request: |f| {
                let body = Rename {
                    from: f.object.clone(),
                    to: f.spare_path.clone(),
                };
                (paths::RENAME.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_OBJECT,
            },
        },
        Row {
            method: "POST",
            pattern: paths::LEDGER_FIND,
            request: |_| {
                let body = FindLedger {
                    locator: "07".repeat(16),
                    after: None,
                };
                (paths::LEDGER_FIND.to_owned(), json(&body))
            },
            // A locator names no account: each signer is answered from its own orders.
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "POST",
            pattern: paths::OBJECTS_IMPORT,
            request: |f| {
                let body = ImportObjects {
                    objects: vec![ImportObject {
                        object: cairn_core::ObjectId::from_bytes([9; 16]),
                        path: f.spare_path.clone(),
                        redundancy: "rep:2x2".to_owned(),
                        size: 10,
                        metadata: "AA".to_owned(),
                        segments: vec![ImportSegment {
                            index: 0,
                            piece_size: 10,
                            fragments: vec![PieceHash::of(b"gone"), PieceHash::of(b"too")],
                        }],
                    }],
                };
                (paths::OBJECTS_IMPORT.to_owned(), json(&body))
            },
            // Records go into the signer's own account; nobody else's changes.
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "POST",
            pattern: paths::SHARES,
            request: |f| {
                let mut body = share_of(f.object_id);
                body.id = f.spare_share;
                (paths::SHARES.to_owned(), json(&body))
            },
            // Only the owner of an object shares it.
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_OBJECT,
            },
        },
        Row {
            method: "GET",
            pattern: paths::SHARES,
            request: |_| get(paths::SHARES),
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: OWN_ACCOUNT_ONLY,
            },
        },
        Row {
            method: "POST",
            pattern: paths::SHARE_REVOKE,
            request: |f| {
                let body = RevokeShare { id: f.share };
                (paths::SHARE_REVOKE.to_owned(), json(&body))
            },
            access: Access::Signed {
                owner: Who::Alice,
                ok: 200,
                others: NOT_ALICES_SHARE,
            },
        },
        Row {
            method: "POST",
            pattern: paths::SHARE_OPEN,
            request: |f| {
                let body = OpenShare {
                    id: f.share,
                    token: SHARE_TOKEN.to_owned(),
                };
                (paths::SHARE_OPEN.to_owned(), json(&body))
            },
            // Whoever has the link: the token, not a signature, opens it.
            access: Access::Public,
        },
        Row {
            method: "POST",
            pattern: paths::SHARE_SOURCES,
            request: |f| {
                let body = ShareSourcesRequest {
                    id: f.share,
                    token: SHARE_TOKEN.to_owned(),
                    objects: vec![f.object_id],
                };
                (paths::SHARE_SOURCES.to_owned(), json(&body))
            },
            access: Access::Public,
        },
        Row {
            method: "GET",
            pattern: paths::LINK_PAGE,
            request: |f| get(&format!("/s/{}", f.share)),
            // A page saying how to open a link; the same for every id.
            access: Access::Public,
        },
        Row {
            method: "GET",
            pattern: paths::LINK_PAGE_PINNED,
            request: |f| get(&format!("/s/{}/{}", f.share, "ab".repeat(32))),
            access: Access::Public,
        },
    ]
}

/// The token of the fixtures' shares (32 bytes of 7, base64url).
const SHARE_TOKEN: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";

/// A share of `object`, opened by [`SHARE_TOKEN`], with a fresh id.
fn share_of(object: cairn_core::ObjectId) -> CreateShare {
    let token: cairn_core::share::ShareToken = SHARE_TOKEN.parse().unwrap();
    CreateShare {
        id: cairn_core::ShareId::from_bytes(rand::random()),
        token_hash: data_encoding::HEXLOWER.encode(&token.hash()),
        manifest: "c2VhbGVk".to_owned(),
        label: String::new(),
        objects: vec![object],
        expires_ms: None,
        max_downloads: None,
    }
}

/// What one row works on, made fresh for it.
struct Fixture {
    /// Keys of every principal.
    keys: HashMap<Who, SigningKey>,
    /// One of alice's committed objects.
    object: String,
    /// Its id.
    object_id: cairn_core::ObjectId,
    /// A share of it alice made (opened by [`SHARE_TOKEN`]).
    share: cairn_core::ShareId,
    /// A share id nobody has used.
    spare_share: cairn_core::ShareId,
    /// A piece of it: (peer, hash).
    piece: (PeerId, PieceHash),
    /// One of alice's open uploads: segment 0 committed, segment 1 placed.
    upload: String,
    /// The receipts committing its segment 1.
    segment_receipts: Vec<u8>,
    /// A free path of alice's.
    spare_path: String,
    /// The repair job handed to the executor, for the repair row.
    job: Option<String>,
    /// What alice's answers carry that nobody else's may.
    secrets: Vec<String>,
}

impl Fixture {
    async fn new(pool: &Pool, alice: &SigningKey, bob: &SigningKey, row: usize) -> Self {
        let object = path_of("alice", 100 * row);
        let (piece, object_id) = pool.upload_object(alice, &object).await.unwrap();
        let shared = share_of(object_id);
        let share = shared.id;
        let _: ShareCreated = pool
            .call(alice, "POST", paths::SHARES, &json(&shared))
            .await;
        let upload = pool.begin(alice, &path_of("alice", 100 * row + 1)).await;
        let first = pool.place(alice, &upload, 0, PIECE).await.unwrap();
        pool.commit_segment(alice, &upload, 0, &first).await;
        let second = pool.place(alice, &upload, 1, PIECE).await.unwrap();
        let idle = fresh_key();
        pool.register(&idle, 0, None, Vec::new()).await;
        let mut keys = HashMap::from([
            (Who::Alice, alice.clone()),
            (Who::Bob, bob.clone()),
            (Who::IdlePeer, idle),
            (Who::Stranger, fresh_key()),
        ]);
        let mut job = None;
        let mut executor = None;
        if matrix()[row].pattern == paths::REPAIR_REPORT {
            // A peer back without the piece it held has it marked gone; the repair checker
            // hands its rebuild to another peer in a heartbeat answer.
            pool.register(&pool.peers[&piece.0], 1 << 30, None, Vec::new())
                .await;
            let (peer, handed) = pool.repair_job().await;
            keys.insert(Who::Executor, pool.peers[&peer].clone());
            job = Some(handed.job);
            executor = Some(peer);
        }
        let storage = pool.order.iter().find(|p| Some(**p) != executor).unwrap();
        keys.insert(Who::StoragePeer, pool.peers[storage].clone());
        Self {
            keys,
            secrets: vec![
                alice_marker(),
                object.clone(),
                upload.clone(),
                share.to_string(),
            ],
            object,
            object_id,
            share,
            spare_share: cairn_core::ShareId::from_bytes(rand::random()),
            piece,
            segment_receipts: json(&pool.receipts(&second)),
            upload,
            spare_path: path_of("alice", 100 * row + 2),
            job,
        }
    }
}

/// Asserts `answer` is what `expect` says; `context` names the case, `request` is what was
/// sent (an answer may echo that back; it may show nothing else of alice's).
fn check(answer: &Answer, expect: Expect, fixture: &Fixture, request: &str, context: &str) {
    let leaked = |secret: &String| {
        answer.text.contains(secret.as_str()) && !request.contains(secret.as_str())
    };
    match expect {
        Expect::Ok(status) => assert_eq!(answer.status, status, "{context}: {answer:?}"),
        Expect::OwnView(status) => {
            assert_eq!(answer.status, status, "{context}: {answer:?}");
            for secret in &fixture.secrets {
                assert!(
                    !leaked(secret),
                    "{context}: the answer shows alice's {secret}: {}",
                    answer.text
                );
            }
        }
        Expect::RefusedItem(status, code) => {
            assert_eq!(answer.status, 200, "{context}: {answer:?}");
            let body: serde_json::Value = serde_json::from_str(&answer.text).unwrap();
            let refused = &body["answers"][0]["refused"];
            assert_eq!(
                (refused["status"].as_u64(), refused["code"].as_str()),
                (Some(u64::from(status)), Some(code)),
                "{context}: {answer:?}"
            );
            for secret in &fixture.secrets {
                assert!(
                    !leaked(secret),
                    "{context}: the refusal shows alice's {secret}: {}",
                    answer.text
                );
            }
        }
        Expect::Refused(status, code) => {
            assert_eq!(
                (answer.status, answer.code.as_deref()),
                (status, Some(code)),
                "{context}: {answer:?}"
            );
            for secret in &fixture.secrets {
                assert!(
                    !leaked(secret),
                    "{context}: the refusal shows alice's {secret}: {}",
                    answer.text
                );
            }
        }
    }
}

/// Request headers, name and value.
type Headers = Vec<(&'static str, String)>;

/// The ways to present bad credentials for a request `owner` could make.
fn bad_credentials(
    owner: &SigningKey,
    someone: &SigningKey,
    method: &str,
    path: &str,
    body: &[u8],
) -> Vec<(&'static str, Headers, Expect)> {
    let now = now_ms();
    let sign = |method: &str, path: &str, body: &[u8], time: u64| {
        RequestAuth::sign(owner, method, path, body, time, rand::random())
            .headers()
            .to_vec()
    };
    let unauthorized = |code| Expect::Refused(401, code);
    let skew = MAX_CLOCK_SKEW_MS + 60_000;
    let mut other_body = body.to_vec();
    other_body.extend_from_slice(b" ");
    let other_path = if path.contains('?') {
        format!("{path}&x=1")
    } else {
        format!("{path}?x=1")
    };
    let other_method = if method == "POST" { "PUT" } else { "POST" };
    let mut flipped = RequestAuth::sign(owner, method, path, body, now, rand::random());
    flipped.signature[17] ^= 0x10;
    let mut swapped = RequestAuth::sign(owner, method, path, body, now, rand::random());
    swapped.key = someone.verifying_key().to_bytes();
    let mut malformed = sign(method, path, body, now);
    for (name, value) in &mut malformed {
        if *name == KEY_HEADER {
            *value = "not a key".to_owned();
        }
    }
    let mut unsigned = sign(method, path, body, now);
    unsigned.retain(|(name, _)| *name != SIGNATURE_HEADER);
    vec![
        (
            "no credentials",
            Vec::new(),
            unauthorized(codes::AUTH_MISSING),
        ),
        ("no signature", unsigned, unauthorized(codes::AUTH_MISSING)),
        (
            "expired",
            sign(method, path, body, now - skew),
            unauthorized(codes::AUTH_CLOCK_SKEW),
        ),
        (
            "from the future",
            sign(method, path, body, now + skew),
            unauthorized(codes::AUTH_CLOCK_SKEW),
        ),
        (
            "signed over another body",
            sign(method, path, &other_body, now),
            unauthorized(codes::AUTH_BAD_SIGNATURE),
        ),
        (
            "signed for another path",
            sign(method, &other_path, body, now),
            unauthorized(codes::AUTH_BAD_SIGNATURE),
        ),
        (
            "signed for another method",
            sign(other_method, path, body, now),
            unauthorized(codes::AUTH_BAD_SIGNATURE),
        ),
        (
            "a flipped signature bit",
            flipped.headers().to_vec(),
            unauthorized(codes::AUTH_BAD_SIGNATURE),
        ),
        (
            "someone else's key",
            swapped.headers().to_vec(),
            unauthorized(codes::AUTH_BAD_SIGNATURE),
        ),
        (
            "a malformed key",
            malformed,
            unauthorized(codes::AUTH_MALFORMED),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_refuses_everyone_but_its_caller() {
    let pool = Pool::start(|_| {}).await;
    let alice = fresh_key();
    let bob = fresh_key();
    // Bob has data of his own, which nobody else's answers may show either.
    pool.upload(&bob, &path_of("bob", 0)).await.unwrap();
    for (n, row) in matrix().iter().enumerate() {
        let fixture = Fixture::new(&pool, &alice, &bob, n).await;
        let (path, body) = (row.request)(&fixture);
        let route = format!("{} {}", row.method, row.pattern);
        let sent = format!("{path} {}", String::from_utf8_lossy(&body));
        let Access::Signed { owner, ok, others } = row.access else {
            // Public: nothing needed, credentials (even bad ones) ignored, nothing private.
            let answer = pool.send(row.method, &path, &body, &[]).await;
            check(&answer, Expect::OwnView(200), &fixture, &sent, &route);
            let junk = [(KEY_HEADER, "junk".to_owned())];
            let answer = pool.send(row.method, &path, &body, &junk).await;
            check(&answer, Expect::OwnView(200), &fixture, &sent, &route);
            continue;
        };
        let owner_key = &fixture.keys[&owner];
        for (what, headers, expect) in bad_credentials(owner_key, &bob, row.method, &path, &body) {
            let answer = pool.send(row.method, &path, &body, &headers).await;
            check(
                &answer,
                expect,
                &fixture,
                &sent,
                &format!("{route} with {what}"),
            );
        }
        for (who, expect) in others {
            let answer = pool
                .signed(&fixture.keys[who], row.method, &path, &body)
                .await;
            check(
                &answer,
                *expect,
                &fixture,
                &sent,
                &format!("{route} by {who:?}"),
            );
        }
        // The rightful caller succeeds: nothing above used up or changed its resources.
        let auth = RequestAuth::sign(
            owner_key,
            row.method,
            &path,
            &body,
            now_ms(),
            rand::random(),
        );
        let answer = pool.send(row.method, &path, &body, &auth.headers()).await;
        check(
            &answer,
            Expect::Ok(ok),
            &fixture,
            &sent,
            &format!("{route} by {owner:?}"),
        );
        // The very same request again is refused.
        let replay = pool.send(row.method, &path, &body, &auth.headers()).await;
        check(
            &replay,
            Expect::Refused(409, codes::AUTH_REPLAYED),
            &fixture,
            &sent,
            &format!("{route} replayed"),
        );
    }
    // Alice still sees her own data where the rightful answers show it.
    let listing = pool
        .signed(&alice, "GET", &format!("{}?prefix=", paths::OBJECTS), &[])
        .await;
    assert!(listing.text.contains(&alice_marker()), "{listing:?}");
    pool.stop().await;
}

#[tokio::test]
async fn every_route_has_a_row_and_no_other_method_is_served() {
    let rows: Vec<(&str, &str)> = matrix().iter().map(|r| (r.method, r.pattern)).collect();
    let listed: BTreeSet<(&str, &str)> = ROUTES.iter().copied().collect();
    assert_eq!(listed.len(), ROUTES.len(), "a route is listed twice");
    let in_matrix: BTreeSet<(&str, &str)> = rows.iter().copied().collect();
    assert_eq!(in_matrix.len(), rows.len(), "a route has two rows");
    assert_eq!(
        in_matrix, listed,
        "every route in cairn_pool::api::ROUTES needs exactly one row in the matrix"
    );
    // The router has as many routes as the list has paths (each `.route(` serves one path).
    let source = include_str!("../src/api.rs");
    let router = &source[source.find("pub fn router").unwrap()..];
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, path)| *path).collect();
    assert_eq!(
        router.matches(".route(").count(),
        paths.len(),
        "the router and cairn_pool::api::ROUTES disagree on the paths served"
    );
    // Each listed path answers only its listed methods; the rest are refused by the router.
    let pool = Pool::start(|_| {}).await;
    for path in &paths {
        // With the query the handlers parse before checking credentials.
        let concrete = format!(
            "{}?path=YQ&prefix=",
            path.replace("{upload}", "u").replace("{index}", "0")
        );
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let answer = pool.send(method, &concrete, &[], &[]).await;
            if listed.contains(&(method, path)) {
                // A public route (no credentials) reads its body first.
                let public_without_body = path.starts_with("/v1/public/")
                    && answer.code.as_deref() == Some(codes::BAD_REQUEST);
                assert!(
                    answer.status == 200
                        || answer.code.as_deref() == Some(codes::AUTH_MISSING)
                        || public_without_body,
                    "{method} {path} is not served: {answer:?}"
                );
            } else {
                assert_eq!(
                    answer.code.as_deref(),
                    Some(codes::METHOD_NOT_ALLOWED),
                    "{method} {path}: {answer:?}"
                );
            }
        }
    }
    pool.stop().await;
}

#[tokio::test]
async fn an_account_past_its_quota_is_refused_and_places_nothing() {
    // A placement's 12 put orders count until its segment is committed, then its 4 pieces
    // (400 bytes): the third object's placement fits beside two objects, the fourth's
    // not beside three.
    let quota = 2 * 4 * PIECE + ORDERS_PER_PLACEMENT * PIECE;
    let pool = Pool::start(|config| config.account_quota = quota).await;
    let alice = fresh_key();
    let mut stored = Vec::new();
    let refusal = loop {
        let path = path_of("alice", stored.len());
        match pool.upload(&alice, &path).await {
            Ok(_) => stored.push(path),
            Err(refusal) => break refusal,
        }
        assert!(stored.len() < 10, "the quota was never enforced");
    };
    assert_eq!(stored.len(), 3);
    assert_eq!(
        (refusal.status, refusal.code.as_deref()),
        (403, Some(codes::QUOTA_EXCEEDED))
    );
    let used = 3 * 4 * PIECE;
    let needed = ORDERS_PER_PLACEMENT * PIECE;
    assert!(
        refusal
            .text
            .contains(&format!("use {used} of its {quota} bytes")),
        "{}",
        refusal.text
    );
    assert!(refusal.text.contains(&format!("needs {needed} more")));
    // The refused placement recorded nothing: a smaller one that fits only if the account
    // still uses exactly what it did is accepted on the same upload.
    let upload = pool.begin(&alice, &path_of("alice", 99)).await;
    let small = (quota - used) / ORDERS_PER_PLACEMENT;
    assert!(pool.place(&alice, &upload, 0, small).await.is_ok());
    let answer = pool
        .signed(&alice, "DELETE", &paths::upload_path(&upload), &[])
        .await;
    assert_eq!(answer.status, 204);
    // Another account has its own quota.
    let bob = fresh_key();
    pool.upload(&bob, &path_of("bob", 0)).await.unwrap();
    // Deleting a file frees its share.
    let delete = format!("{}?path={}", paths::OBJECT, stored[0]);
    assert_eq!(
        pool.signed(&alice, "DELETE", &delete, &[]).await.status,
        204
    );
    pool.upload(&alice, &path_of("alice", 3)).await.unwrap();
    pool.stop().await;
}

#[tokio::test]
async fn a_key_past_its_rate_is_told_to_wait_while_others_are_served() {
    let pool = Pool::start(|config| {
        config.requests_per_second_per_key = 1;
        config.request_burst_per_key = 5;
    })
    .await;
    let list = format!("{}?prefix=", paths::OBJECTS);
    let (busy, calm) = (fresh_key(), fresh_key());
    // Forged requests naming the calm key do not spend its requests.
    for _ in 0..10 {
        let mut forged = RequestAuth::sign(&busy, "GET", &list, &[], now_ms(), rand::random());
        forged.key = calm.verifying_key().to_bytes();
        let answer = pool.send("GET", &list, &[], &forged.headers()).await;
        assert_eq!(answer.status, 401, "{answer:?}");
    }
    for _ in 0..5 {
        let answer = pool.signed(&busy, "GET", &list, &[]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let mut limited = None;
    for _ in 0..5 {
        let answer = pool.signed(&busy, "GET", &list, &[]).await;
        if answer.status != 200 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("a key bursting past its limit was never refused");
    assert_eq!(
        (limited.status, limited.code.as_deref()),
        (429, Some(codes::RATE_LIMITED)),
        "{limited:?}"
    );
    let wait: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{limited:?}");
    // Another key, and the public routes, are served meanwhile.
    for _ in 0..5 {
        let answer = pool.signed(&calm, "GET", &list, &[]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    assert_eq!(pool.send("GET", paths::STATUS, &[], &[]).await.status, 200);
    pool.stop().await;
}

/// A link's recipients are held to a rate per share: a share opened past its rate is told
/// to wait, while another share and its owner are served.
#[tokio::test]
async fn a_share_past_its_rate_is_told_to_wait_while_others_are_served() {
    let pool = Pool::start(|config| {
        config.requests_per_second_per_key = 1;
        // Alice's upload, two shares and a list fit in the burst.
        config.request_burst_per_key = 8;
    })
    .await;
    let alice = fresh_key();
    let ((_, _), object) = pool
        .upload_object(&alice, &path_of("alice", 1))
        .await
        .unwrap();
    let (busy, calm) = (share_of(object), share_of(object));
    for share in [&busy, &calm] {
        let _: ShareCreated = pool.call(&alice, "POST", paths::SHARES, &json(share)).await;
    }
    let open = |id| {
        json(&OpenShare {
            id,
            token: SHARE_TOKEN.to_owned(),
        })
    };
    let mut limited = None;
    for _ in 0..12 {
        let answer = pool
            .send("POST", paths::SHARE_OPEN, &open(busy.id), &[])
            .await;
        if answer.status != 200 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("a share opened past its rate was never refused");
    assert_eq!(
        (limited.status, limited.code.as_deref()),
        (429, Some(codes::RATE_LIMITED)),
        "{limited:?}"
    );
    let answer = pool
        .send("POST", paths::SHARE_OPEN, &open(calm.id), &[])
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let list = pool.signed(&alice, "GET", paths::SHARES, &[]).await;
    assert_eq!(list.status, 200, "{list:?}");
    pool.stop().await;
}

#[test]
fn signed_bodies_are_capped() {
    // The cap on a signed body, documented in the threat model (hostile sizes themselves are
    // exercised by the hostile-input tests).
    assert_eq!(cairn_proto::limits::MAX_SIGNED_BODY, 64 * 1024 * 1024);
}
