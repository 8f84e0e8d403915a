//! The pool's API as the account sees it: every request signed with the account key,
//! every refusal turned into a [`ClientError`] that carries the pool's own explanation.

use cairn_proto::codes;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{AccountKey, ObjectId, PeerId, PieceHash, ShareId};
use cairn_net::{ConnectError, PoolCallError, SignedClient};
use cairn_proto::api::{
    self as paths, AccountHealth, AccountOpened, AccountUsage, Answer, BeginMany, BeginUpload,
    CommitMany, CommitOne, CommitSegment, CommitUpload, CorruptReport, CreateShare, FindLedger,
    FolderList, ImportObject, ImportObjects, LedgerFound, ManyAnswers, ManySources, NetworkStatus,
    ObjectHealth, ObjectList, ObjectSources, ObjectsImported, OpenShare, PlaceSegment, PoolInfo,
    Rename, Renamed, RevokeShare, SegmentPlaced, ShareCreated, ShareList, ShareOpened,
    ShareRevoked, ShareSources, ShareSourcesRequest, SourcesRequest, UploadBegun, UploadCommitted,
};
use futures_util::future::join_all;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, ClientResult};
use crate::together::Together;

/// How long one pool request may take before the client gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Tries of a request the pool's rate limit turns away.
const MAX_TRIES: u32 = 5;
/// The longest the client waits before trying again.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// The pool asked to come back after this long.
struct Retry(Duration);

/// A signed connection to one pool as one account.
#[derive(Clone)]
pub struct PoolClient {
    /// The pool's address as given (with the identity it pins, on `https`).
    address: String,
    /// Signs as the account; without a key for a client of the public endpoints only.
    api: SignedClient,
    /// Begins waiting to travel together.
    begins: Arc<Together<PoolClient, BeginUpload, UploadBegun>>,
    /// Commits waiting to travel together.
    commits: Arc<Together<PoolClient, CommitOne, UploadCommitted>>,
}

/// A listing route's path and query: a page of `prefix` after `after`, at most `limit`.
fn page_query(route: &str, prefix: &str, after: Option<&str>, limit: Option<u32>) -> String {
    let mut path = format!("{route}?prefix={}", query_value(prefix));
    if let Some(after) = after {
        path.push_str(&format!("&after={}", query_value(after)));
    }
    if let Some(limit) = limit {
        path.push_str(&format!("&limit={limit}"));
    }
    path
}

/// Percent-encodes a query value (encrypted paths are base64url and `/`, but be exact).
fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_./~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl PoolClient {
    /// A client of the pool at `base` (e.g. `http://127.0.0.1:7700`) acting as `key`.
    pub fn new(base: &str, key: AccountKey) -> ClientResult<Self> {
        Self::build(base, Some(key))
    }

    /// A client of the pool's public endpoints ([`info`](Self::info),
    /// [`network`](Self::network)), which need no account.
    pub fn anonymous(base: &str) -> ClientResult<Self> {
        Self::build(base, None)
    }

    fn build(address: &str, key: Option<AccountKey>) -> ClientResult<Self> {
        let builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT);
        // Over TLS the pool must prove it holds the identity its address names.
        let key = key.map(|key| key.signing_key().clone());
        let api = SignedClient::connect(address, builder, key).map_err(|e| match e {
            ConnectError::Address(e) => ClientError::PoolAddress(e.to_string()),
            ConnectError::Build(e) => ClientError::PoolUnreachable {
                url: address.to_owned(),
                reason: e.to_string(),
            },
        })?;
        Ok(Self {
            address: address.trim_end_matches('/').to_owned(),
            api,
            begins: Together::new(|pool, calls| {
                Box::pin(async move { pool.begin_many(calls).await })
            }),
            commits: Together::new(|pool, calls| {
                Box::pin(async move { pool.commit_many(calls).await })
            }),
        })
    }

    /// The pool's URL.
    pub fn url(&self) -> &str {
        self.api.base()
    }

    /// The pool's address as given: its URL, and the identity it pins on `https`
    /// (`https://HOST:PORT#ID`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `POST /v1/shares` (signed): leaves a share for a link.
    pub async fn create_share(&self, body: &CreateShare) -> ClientResult<ShareCreated> {
        self.call("share", reqwest::Method::POST, paths::SHARES, Some(body))
            .await
    }

    /// `GET /v1/shares` (signed): the account's shares, newest first.
    pub async fn shares(&self) -> ClientResult<ShareList> {
        self.call::<(), _>("list shares", reqwest::Method::GET, paths::SHARES, None)
            .await
    }

    /// `POST /v1/shares/revoke` (signed).
    pub async fn revoke_share(&self, id: ShareId) -> ClientResult<ShareRevoked> {
        let body = RevokeShare { id };
        self.call(
            "revoke share",
            reqwest::Method::POST,
            paths::SHARE_REVOKE,
            Some(&body),
        )
        .await
    }

    /// `POST /v1/public/shares/open` (unsigned: whoever has the link).
    pub async fn open_share(&self, body: &OpenShare) -> ClientResult<ShareOpened> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::BadAnswer {
            what: "open share",
            reason: e.to_string(),
        })?;
        self.send(
            "open share",
            reqwest::Method::POST,
            paths::SHARE_OPEN,
            bytes,
            false,
        )
        .await
    }

    /// `POST /v1/public/shares/sources` (unsigned: whoever has the link).
    pub async fn share_sources(&self, body: &ShareSourcesRequest) -> ClientResult<ShareSources> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::BadAnswer {
            what: "share sources",
            reason: e.to_string(),
        })?;
        self.send(
            "share sources",
            reqwest::Method::POST,
            paths::SHARE_SOURCES,
            bytes,
            false,
        )
        .await
    }

    /// Sends one request; a `429` (the pool's rate limit) is retried after the pool's
    /// `Retry-After`, a few times, each try signed afresh.
    async fn send<T: DeserializeOwned>(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
        signed: bool,
    ) -> ClientResult<T> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .send_once(what, method.clone(), path_and_query, body.clone(), signed)
                .await
            {
                Err(Retry(wait)) if tries < MAX_TRIES => tokio::time::sleep(wait).await,
                Err(Retry(_)) => {
                    return Err(ClientError::Refused {
                        status: 429,
                        code: codes::RATE_LIMITED.into(),
                        message: "the pool is busy with this account's requests; try again shortly"
                            .into(),
                    });
                }
                Ok(result) => return result,
            }
        }
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
        signed: bool,
    ) -> Result<ClientResult<T>, Retry> {
        let answer = match self.api.send(method, path_and_query, body, signed).await {
            Ok(answer) => answer,
            Err(PoolCallError::NoKey) => return Ok(Err(ClientError::PassphraseNeeded)),
            Err(e) => {
                return Ok(Err(ClientError::PoolUnreachable {
                    url: self.api.base().to_owned(),
                    reason: match e {
                        PoolCallError::Unreachable { source, .. } => source.to_string(),
                        other => other.to_string(),
                    },
                }));
            }
        };
        if answer.status == 429 {
            let wait = answer.retry_after.unwrap_or(Duration::from_millis(500));
            return Err(Retry(wait.min(MAX_RETRY_WAIT)));
        }
        Ok(answer.json().map_err(|e| match e {
            PoolCallError::Refused { status, error, .. } => ClientError::Refused {
                status,
                code: error.code,
                message: error.message,
            },
            other => ClientError::BadAnswer {
                what,
                reason: other.to_string(),
            },
        }))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> ClientResult<T> {
        let bytes = match body {
            Some(body) => serde_json::to_vec(body).map_err(|e| ClientError::BadAnswer {
                what,
                reason: e.to_string(),
            })?,
            None => Vec::new(),
        };
        self.send(what, method, path_and_query, bytes, true).await
    }

    /// `GET /v1/info` (unsigned).
    pub async fn info(&self) -> ClientResult<PoolInfo> {
        self.send("info", reqwest::Method::GET, paths::INFO, Vec::new(), false)
            .await
    }

    /// `GET /v1/status` (unsigned): the network.
    pub async fn network(&self) -> ClientResult<NetworkStatus> {
        self.send(
            "status",
            reqwest::Method::GET,
            paths::STATUS,
            Vec::new(),
            false,
        )
        .await
    }

    /// Waits until at least `want` peers are online, polling the pool's status until
    /// `within` has passed; answers how many are online.
    pub async fn wait_for_online(&self, want: usize, within: Duration) -> ClientResult<usize> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let online = self.network().await.map_or(0, |n| {
                n.peers
                    .iter()
                    .filter(|p| p.state == cairn_proto::PeerState::Online)
                    .count()
            });
            if online >= want || tokio::time::Instant::now() > deadline {
                return Ok(online);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens (or confirms) the account.
    pub async fn open_account(&self) -> ClientResult<AccountOpened> {
        self.call::<(), _>("account", reqwest::Method::POST, paths::ACCOUNT, None)
            .await
    }

    /// What the account uses against its quota, and the quota.
    pub async fn account_usage(&self) -> ClientResult<AccountUsage> {
        self.call::<(), _>(
            "account usage",
            reqwest::Method::GET,
            paths::ACCOUNT_USAGE,
            None,
        )
        .await
    }

    /// The health of the account's objects.
    pub async fn account_health(&self) -> ClientResult<AccountHealth> {
        self.call::<(), _>(
            "account health",
            reqwest::Method::GET,
            paths::ACCOUNT_HEALTH,
            None,
        )
        .await
    }

    /// Begins an upload (placing its first segment if given) under `object`, the id the
    /// object's segments and record are sealed to (`None`, for a folder marker: the pool
    /// picks one). Begins made while another is out travel together in one request (see
    /// `together.rs`).
    pub async fn begin(
        &self,
        path: &str,
        redundancy: &str,
        first_segment: Option<PlaceSegment>,
        object: Option<ObjectId>,
    ) -> ClientResult<UploadBegun> {
        let body = BeginUpload {
            path: path.to_owned(),
            redundancy: redundancy.to_owned(),
            first_segment,
            object,
        };
        self.begins.call(self, body).await
    }

    /// One `POST /v1/uploads`.
    async fn begin_alone(&self, body: &BeginUpload) -> ClientResult<UploadBegun> {
        self.call(
            "begin upload",
            reqwest::Method::POST,
            paths::UPLOADS,
            Some(body),
        )
        .await
    }

    /// Begins many uploads in one request (see [`PoolClient::together_or_alone`]).
    async fn begin_many(&self, calls: Vec<BeginUpload>) -> Vec<ClientResult<UploadBegun>> {
        let wrap = |uploads| BeginMany { uploads };
        let what = ("begin uploads", paths::UPLOADS_MANY);
        let alone = |call: BeginUpload| async move { self.begin_alone(&call).await };
        self.together_or_alone(calls, what, wrap, alone).await
    }

    /// Commits many uploads in one request (see [`PoolClient::together_or_alone`]).
    async fn commit_many(&self, calls: Vec<CommitOne>) -> Vec<ClientResult<UploadCommitted>> {
        let wrap = |commits| CommitMany { commits };
        let what = ("commit uploads", paths::COMMITS_MANY);
        let alone =
            |call: CommitOne| async move { self.commit_alone(&call.upload, &call.commit).await };
        self.together_or_alone(calls, what, wrap, alone).await
    }

    /// Makes `calls` in one request to `path` with the body `wrap` makes of them, or each
    /// `alone` if there is just one, or if that request failed as a whole.
    async fn together_or_alone<I, B, O, F>(
        &self,
        calls: Vec<I>,
        (what, path): (&'static str, &str),
        wrap: impl FnOnce(Vec<I>) -> B,
        alone: impl Fn(I) -> F,
    ) -> Vec<ClientResult<O>>
    where
        I: Clone,
        B: Serialize,
        O: DeserializeOwned,
        F: Future<Output = ClientResult<O>>,
    {
        if calls.len() > 1 {
            let body = wrap(calls.clone());
            if let Some(answers) = self.many(what, path, &body, calls.len()).await {
                return answers;
            }
        }
        join_all(calls.into_iter().map(alone)).await
    }

    /// One request carrying `count` calls, each answered alone; `None` if the request
    /// failed as a whole (a pool of an earlier version without the route, or a network
    /// failure), so that the caller makes each call alone and each gets its own answer.
    async fn many<B: Serialize, O: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: &B,
        count: usize,
    ) -> Option<Vec<ClientResult<O>>> {
        let answers = match self
            .call::<B, ManyAnswers<O>>(what, reqwest::Method::POST, path, Some(body))
            .await
        {
            Ok(many) if many.answers.len() == count => many.answers,
            Ok(many) => {
                tracing::debug!(what, "{count} calls got {} answers", many.answers.len());
                return None;
            }
            Err(e) => {
                tracing::debug!(what, "{count} calls together failed, each alone now: {e}");
                return None;
            }
        };
        Some(
            answers
                .into_iter()
                .map(|answer| match answer {
                    Answer::Ok(answer) => Ok(answer),
                    Answer::Refused(refusal) => Err(ClientError::Refused {
                        status: refusal.status,
                        code: refusal.code,
                        message: refusal.message,
                    }),
                })
                .collect(),
        )
    }

    /// Places one segment.
    pub async fn place(
        &self,
        upload: &str,
        index: u32,
        body: &PlaceSegment,
    ) -> ClientResult<SegmentPlaced> {
        let path = paths::place_segment_path(upload, index);
        self.call("place segment", reqwest::Method::POST, &path, Some(body))
            .await
    }

    /// Commits one segment with its receipts.
    pub async fn commit_segment(
        &self,
        upload: &str,
        index: u32,
        body: &CommitSegment,
    ) -> ClientResult<()> {
        let path = paths::commit_segment_path(upload, index);
        self.call("commit segment", reqwest::Method::POST, &path, Some(body))
            .await
    }

    /// Commits the upload as an object. Commits made while another is out travel together
    /// in one request (see `together.rs`).
    pub async fn commit(&self, upload: &str, body: &CommitUpload) -> ClientResult<UploadCommitted> {
        let call = CommitOne {
            upload: upload.to_owned(),
            commit: body.clone(),
        };
        self.commits.call(self, call).await
    }

    /// One `POST /v1/uploads/{upload}/commit`.
    async fn commit_alone(
        &self,
        upload: &str,
        body: &CommitUpload,
    ) -> ClientResult<UploadCommitted> {
        let path = paths::commit_upload_path(upload);
        self.call("commit upload", reqwest::Method::POST, &path, Some(body))
            .await
    }

    /// Abandons an upload; its pieces are collected.
    pub async fn abort(&self, upload: &str) -> ClientResult<()> {
        let path = paths::upload_path(upload);
        self.call::<(), _>("abort upload", reqwest::Method::DELETE, &path, None)
            .await
    }

    /// One page of objects under `prefix` (empty or ending in `/`), after `after`.
    pub async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> ClientResult<ObjectList> {
        let path = page_query(paths::OBJECTS, prefix, after, limit);
        self.call::<(), _>("list", reqwest::Method::GET, &path, None)
            .await
    }

    /// One level of the folder `prefix` (empty or ending in `/`): the objects directly in
    /// it and its sub-folders, a page of at most `limit` entries after `after`.
    pub async fn list_level(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> ClientResult<FolderList> {
        let path = page_query(paths::OBJECTS_LEVEL, prefix, after, limit);
        self.call::<(), _>("list folder", reqwest::Method::GET, &path, None)
            .await
    }

    /// One object's record with get orders for segments `first..=last` only (none when
    /// `first` is past its end: the record alone); `None` if there is no object.
    pub async fn object_range(
        &self,
        path: &str,
        first: u32,
        last: u32,
    ) -> ClientResult<Option<ObjectSources>> {
        let query = format!(
            "{}?path={}&first={first}&last={last}",
            paths::OBJECT_RANGE,
            query_value(path)
        );
        not_found_as_none(
            self.call::<(), _>("object range", reqwest::Method::GET, &query, None)
                .await,
        )
    }

    /// One object's record alone, with no orders signed (a segment range past any object's
    /// end); `None` if there is none.
    pub async fn record(&self, path: &str) -> ClientResult<Option<ObjectSources>> {
        self.object_range(path, u32::MAX, u32::MAX).await
    }

    /// One object with a get order for every readable piece; `None` if there is none.
    pub async fn object(&self, path: &str) -> ClientResult<Option<ObjectSources>> {
        let query = format!("{}?path={}", paths::OBJECT, query_value(path));
        not_found_as_none(
            self.call::<(), _>("object", reqwest::Method::GET, &query, None)
                .await,
        )
    }

    /// Many objects' records and get orders in one request, in the order asked (`None` where
    /// there is no object); at most [`paths::MAX_SOURCES`] paths.
    pub async fn sources(&self, paths: Vec<String>) -> ClientResult<Vec<Option<ObjectSources>>> {
        let asked = paths.len();
        let body = SourcesRequest { paths };
        let answer: ManySources = self
            .call(
                "sources",
                reqwest::Method::POST,
                paths::OBJECT_SOURCES,
                Some(&body),
            )
            .await?;
        if answer.objects.len() != asked {
            return Err(ClientError::BadAnswer {
                what: "sources",
                reason: format!("{} answers for {asked} paths", answer.objects.len()),
            });
        }
        Ok(answer.objects)
    }

    /// One object's pieces and their health; `None` if there is no object at `path`.
    pub async fn object_health(&self, path: &str) -> ClientResult<Option<ObjectHealth>> {
        let query = format!("{}?path={}", paths::OBJECT_HEALTH, query_value(path));
        not_found_as_none(
            self.call::<(), _>("object health", reqwest::Method::GET, &query, None)
                .await,
        )
    }

    /// Deletes one object; `false` if there was none.
    pub async fn delete(&self, path: &str) -> ClientResult<bool> {
        let query = format!("{}?path={}", paths::OBJECT, query_value(path));
        Ok(not_found_as_none(
            self.call::<(), ()>("delete", reqwest::Method::DELETE, &query, None)
                .await,
        )?
        .is_some())
    }

    /// Tells the pool that `peer` sent piece `hash` damaged; the pool audits it there.
    pub async fn report_corrupt(&self, peer: PeerId, hash: PieceHash) -> ClientResult<()> {
        let body = CorruptReport { peer, hash };
        self.call::<_, ()>(
            "corruption report",
            reqwest::Method::POST,
            paths::REPORT_CORRUPT,
            Some(&body),
        )
        .await
    }

    /// Ledger pieces peers said they hold under `locator`, after `after`.
    pub async fn find_ledger(
        &self,
        locator: &str,
        after: Option<PieceHash>,
    ) -> ClientResult<LedgerFound> {
        let body = FindLedger {
            locator: locator.to_owned(),
            after,
        };
        self.call(
            "find ledger",
            reqwest::Method::POST,
            paths::LEDGER_FIND,
            Some(&body),
        )
        .await
    }

    /// Gives the pool back records it forgot (at most [`paths::MAX_IMPORT`]).
    pub async fn import(&self, objects: Vec<ImportObject>) -> ClientResult<ObjectsImported> {
        let body = ImportObjects { objects };
        self.call(
            "import records",
            reqwest::Method::POST,
            paths::OBJECTS_IMPORT,
            Some(&body),
        )
        .await
    }

    /// Renames one object, or every object under a folder (both ending in `/`).
    pub async fn rename(&self, from: &str, to: &str) -> ClientResult<Renamed> {
        let body = Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        };
        self.call("rename", reqwest::Method::POST, paths::RENAME, Some(&body))
            .await
    }
}

fn not_found_as_none<T>(result: ClientResult<T>) -> ClientResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ClientError::Refused { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_value("ab-_/c"), "ab-_/c");
        assert_eq!(query_value("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(query_value(""), "");
    }
}
