//! The object service: an account's committed objects — listing (flat, or one folder
//! level), the record with a signed get order for every readable piece (or only for a range
//! of segments), rename, delete, health — plus opening the account and taking reports of
//! damaged pieces.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_core::{AccountId, PeerId, PieceHash};
use cairn_proto::api::{
    AccountHealth, AccountOpened, AccountUsage, FOLDER_MARKER, FolderEntry, FolderList, GetTarget,
    LEDGER_FOLDER, ObjectEntry, ObjectHealth, ObjectList, ObjectSources, SegmentSources,
};
use cairn_proto::limits::{DEFAULT_LIST_PAGE, MAX_HEALTH_PATHS, MAX_LIST_PAGE, MAX_SOURCES};
use cairn_proto::{Holder, OrderAction, PeerAddr};
use data_encoding::BASE64URL_NOPAD;

use super::{Invalid, check_path, check_prefix};
use crate::app::{App, SignError};
use crate::audit;
use crate::counters::Counters;
use crate::health::{self, ObjectCondition};
use crate::state::PeerState;
use crate::store::{LevelEntry, MetadataStore, ObjectRecord, PeerRecord, StoreError};

/// Objects listed per store call while checking an account's health.
const HEALTH_PAGE: u32 = 1000;

/// Why a request on an account's objects was refused.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The request does not fit the protocol (a path, a prefix, a count).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The account has no object at this encrypted path.
    #[error("no object at encrypted path {0}")]
    NotFound(String),
    /// None of the account's objects has this piece on this peer.
    #[error("none of your files has piece {hash} on peer {peer}")]
    PieceNotFound {
        /// The peer named in the report.
        peer: PeerId,
        /// The piece named in the report.
        hash: PieceHash,
    },
    /// The metadata store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An order could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// The object service over a pool's state.
pub struct Objects<'a, S> {
    app: &'a Arc<App<S>>,
}

impl<'a, S: MetadataStore> Objects<'a, S> {
    /// The service over `app`.
    pub fn new(app: &'a Arc<App<S>>) -> Self {
        Self { app }
    }

    /// Opens `account`; opening it again changes nothing.
    pub async fn open_account(&self, account: AccountId) -> Result<AccountOpened, ObjectError> {
        let created = self
            .app
            .store
            .ensure_account(account, self.app.now_ms())
            .await?;
        Ok(AccountOpened { account, created })
    }

    /// One page of `account`'s objects under the folder `prefix` (empty or ending in `/`),
    /// after the path `after`, at most `limit` ([`DEFAULT_LIST_PAGE`] if none; at most
    /// [`MAX_LIST_PAGE`]).
    pub async fn list(
        &self,
        account: AccountId,
        prefix: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<ObjectList, ObjectError> {
        check_prefix(&prefix)?;
        let limit = limit.unwrap_or(DEFAULT_LIST_PAGE).clamp(1, MAX_LIST_PAGE);
        let found = self
            .app
            .store
            .list_objects(account, prefix, after, limit)
            .await?;
        let next = (found.len() == limit as usize)
            .then(|| found.last().map(|o| o.path.clone()))
            .flatten();
        Ok(ObjectList {
            objects: found
                .into_iter()
                .map(|o| ObjectEntry {
                    path: o.path,
                    size: o.size,
                    committed_at_ms: o.committed_at,
                    metadata: BASE64URL_NOPAD.encode(&o.metadata),
                })
                .collect(),
            next,
        })
    }

    /// One level of `account`'s folder `prefix`: the objects right inside it and its
    /// sub-folders (each skipped with one seek, never read), after `after`, at most `limit`
    /// entries ([`DEFAULT_LIST_PAGE`] if none; at most [`MAX_LIST_PAGE`]).
    pub async fn level(
        &self,
        account: AccountId,
        prefix: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<FolderList, ObjectError> {
        check_prefix(&prefix)?;
        let limit = limit.unwrap_or(DEFAULT_LIST_PAGE).clamp(1, MAX_LIST_PAGE);
        let found = self
            .app
            .store
            .list_level(account, prefix, after, limit)
            .await?;
        let next = (found.len() == limit as usize)
            .then(|| {
                found.last().map(|entry| match entry {
                    LevelEntry::Object(o) => o.path.clone(),
                    LevelEntry::Folder(prefix) => prefix.clone(),
                })
            })
            .flatten();
        let mut list = FolderList {
            objects: Vec::new(),
            folders: Vec::new(),
            next,
        };
        for entry in found {
            match entry {
                LevelEntry::Object(o) => list.objects.push(ObjectEntry {
                    path: o.path,
                    size: o.size,
                    committed_at_ms: o.committed_at,
                    metadata: BASE64URL_NOPAD.encode(&o.metadata),
                }),
                LevelEntry::Folder(prefix) => {
                    // A folder marker has no segments: one indexed lookup.
                    let marker = self
                        .app
                        .store
                        .object(account, format!("{prefix}{FOLDER_MARKER}"))
                        .await?;
                    list.folders.push(FolderEntry {
                        prefix,
                        marker_committed_at_ms: marker.map(|m| m.committed_at),
                    });
                }
            }
        }
        Ok(list)
    }

    /// The record of `account`'s object at `path` with get orders for the pieces of
    /// segments `first..=last` only (none past the object's end).
    pub async fn range(
        &self,
        account: AccountId,
        path: &str,
        first: u32,
        last: u32,
    ) -> Result<ObjectSources, ObjectError> {
        if first > last {
            return Err(Invalid(format!("segments {first}..={last} are an empty range")).into());
        }
        let mut object = self.object(account, path).await?;
        object
            .segments
            .retain(|s| (first..=last).contains(&s.index));
        let peers = self.app.store.peers().await?;
        self.sources(account, object, &peers)
    }

    /// `account`'s object at `path`, or [`ObjectError::NotFound`].
    async fn object(&self, account: AccountId, path: &str) -> Result<ObjectRecord, ObjectError> {
        check_path(path)?;
        self.app
            .store
            .object(account, path.to_owned())
            .await?
            .ok_or_else(|| ObjectError::NotFound(path.to_owned()))
    }

    /// The record of `account`'s object at `path` with a get order for every readable piece.
    pub async fn get(&self, account: AccountId, path: &str) -> Result<ObjectSources, ObjectError> {
        let object = self.object(account, path).await?;
        let peers = self.app.store.peers().await?;
        self.sources(account, object, &peers)
    }

    /// What [`Objects::get`] answers, for many paths at once (`None` for a path the account
    /// has no object at).
    pub async fn get_many(
        &self,
        account: AccountId,
        paths: Vec<String>,
    ) -> Result<Vec<Option<ObjectSources>>, ObjectError> {
        if paths.len() > MAX_SOURCES {
            return Err(Invalid(format!(
                "{} paths asked at once; at most {MAX_SOURCES}",
                paths.len()
            ))
            .into());
        }
        for path in &paths {
            check_path(path)?;
        }
        let peers = self.app.store.peers().await?;
        let mut objects = Vec::with_capacity(paths.len());
        for path in paths {
            objects.push(match self.app.store.object(account, path).await? {
                Some(object) => Some(self.sources(account, object, &peers)?),
                None => None,
            });
        }
        Ok(objects)
    }

    /// An object's record with a get order for every piece on a peer that may still serve it.
    fn sources(
        &self,
        account: AccountId,
        object: ObjectRecord,
        peers: &[PeerRecord],
    ) -> Result<ObjectSources, ObjectError> {
        let app = self.app;
        let expires_at = App::<S>::expiry(app.now_ms(), app.config.order_ttl);
        self.sources_until(account, object, peers, expires_at)
    }

    /// [`Self::sources`] with orders that expire at `expires_at` (Unix seconds), charged to
    /// `account`.
    pub(crate) fn sources_until(
        &self,
        account: AccountId,
        object: ObjectRecord,
        peers: &[PeerRecord],
        expires_at: u64,
    ) -> Result<ObjectSources, ObjectError> {
        let app = self.app;
        let peers: HashMap<PeerId, &PeerRecord> = peers.iter().map(|p| (p.id, p)).collect();
        let holder = Holder::Account(account);
        let mut segments = Vec::with_capacity(object.segments.len());
        for segment in object.segments {
            let mut pieces = Vec::with_capacity(segment.pieces.len());
            for piece in segment.pieces {
                if segment.corrupt.contains(&piece.peer) {
                    continue;
                }
                let Some(peer) = peers.get(&piece.peer) else {
                    continue;
                };
                if matches!(
                    peer.state,
                    PeerState::Lost | PeerState::Left | PeerState::Disqualified
                ) {
                    continue;
                }
                // A peer whose address cannot be dialled is passed over, as a lost one is.
                let Ok(address) = PeerAddr::parse(&peer.address) else {
                    continue;
                };
                pieces.push(GetTarget {
                    fragment: piece.fragment,
                    hash: piece.hash,
                    peer: piece.peer,
                    address,
                    state: peer.state,
                    order: app.order(
                        piece.peer,
                        piece.hash,
                        OrderAction::Get,
                        piece.size,
                        holder,
                        expires_at,
                    )?,
                });
            }
            segments.push(SegmentSources {
                index: segment.index,
                piece_size: segment.piece_size,
                pieces,
            });
        }
        Ok(ObjectSources {
            path: object.path,
            redundancy: object.redundancy.to_string(),
            size: object.size,
            committed_at_ms: object.committed_at,
            metadata: BASE64URL_NOPAD.encode(&object.metadata),
            segments,
        })
    }

    /// Removes `account`'s object at `path`; its peers delete the pieces.
    pub async fn delete(&self, account: AccountId, path: &str) -> Result<(), ObjectError> {
        check_path(path)?;
        match (self.app.store)
            .delete_object(account, path.to_owned(), self.app.now_ms())
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound(_)) => Err(ObjectError::NotFound(path.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames one object, or (both ending in `/`) every object under a folder; returns how
    /// many objects moved.
    pub async fn rename(
        &self,
        account: AccountId,
        from: String,
        to: String,
    ) -> Result<u64, ObjectError> {
        let store = &self.app.store;
        let now = self.app.now_ms();
        match (from.ends_with('/'), to.ends_with('/')) {
            (true, true) => {
                check_prefix(&from)?;
                check_prefix(&to)?;
                if from.is_empty() || to.is_empty() {
                    return Err(Invalid::new("the root folder cannot be renamed").into());
                }
                if to.starts_with(&from) {
                    return Err(Invalid::new("a folder cannot move into itself").into());
                }
                Ok(store.rename_prefix(account, from, to, now).await?)
            }
            (false, false) => {
                check_path(&from)?;
                check_path(&to)?;
                match store.rename_object(account, from.clone(), to, now).await {
                    Ok(()) => Ok(1),
                    Err(StoreError::NotFound(_)) => Err(ObjectError::NotFound(from)),
                    Err(e) => Err(e.into()),
                }
            }
            _ => Err(Invalid::new(
                "rename a folder to a folder (both ending in '/') or a file to a file",
            )
            .into()),
        }
    }

    /// Every registered peer's state.
    async fn peer_states(&self) -> Result<HashMap<PeerId, PeerState>, ObjectError> {
        Ok(self
            .app
            .store
            .peers()
            .await?
            .into_iter()
            .map(|p| (p.id, p.state))
            .collect())
    }

    /// Every recorded piece of `account`'s object at `path` with its state, and per segment
    /// whether it is at full redundancy, can be read, and is being repaired.
    pub async fn health(
        &self,
        account: AccountId,
        path: &str,
    ) -> Result<ObjectHealth, ObjectError> {
        let object = self.object(account, path).await?;
        let peers = self.peer_states().await?;
        let mut answer = health::object_health(&object, &peers);
        for segment in &mut answer.segments {
            segment.repairing = self.app.repairs.is_repairing(object.id, segment.index);
        }
        Ok(answer)
    }

    /// What the account uses against its quota, and the quota.
    pub async fn account_usage(&self, account: AccountId) -> Result<AccountUsage, ObjectError> {
        Ok(AccountUsage {
            used: self.app.store.account_usage(account).await?,
            quota: self.app.config.account_quota,
        })
    }

    /// `account`'s committed objects counted by condition, naming (up to
    /// [`MAX_HEALTH_PATHS`] each) those below full redundancy and those unreadable now.
    ///
    /// Cost: one store call per `HEALTH_PAGE` (1000) objects listed plus one per object read, so
    /// the time grows with the account's size (each object is read with its segments and
    /// pieces). Peer states are read once at the start; an object deleted or renamed while
    /// the check runs is skipped.
    pub async fn account_health(&self, account: AccountId) -> Result<AccountHealth, ObjectError> {
        let store = &self.app.store;
        let peers = self.peer_states().await?;
        let mut answer = AccountHealth {
            objects: 0,
            full: 0,
            degraded: Vec::new(),
            unreadable: Vec::new(),
        };
        let ledger_prefix = format!("{LEDGER_FOLDER}/");
        let mut after = None;
        loop {
            let page = store
                .list_objects(account, String::new(), after.take(), HEALTH_PAGE)
                .await?;
            for summary in &page {
                // The account's ledger is not among its files, nor what shares keep.
                if summary.path.starts_with(&ledger_prefix) || super::is_kept(&summary.path) {
                    continue;
                }
                let Some(object) = store.object(account, summary.path.clone()).await? else {
                    continue;
                };
                answer.objects += 1;
                let segments = health::object_health(&object, &peers).segments;
                let named = match health::object_condition(&segments) {
                    ObjectCondition::Full => {
                        answer.full += 1;
                        continue;
                    }
                    ObjectCondition::Degraded => &mut answer.degraded,
                    ObjectCondition::Unreadable => &mut answer.unreadable,
                };
                if named.len() < MAX_HEALTH_PATHS {
                    named.push(object.path);
                }
            }
            if page.len() < HEALTH_PAGE as usize {
                break;
            }
            after = page.last().map(|o| o.path.clone());
        }
        Ok(answer)
    }

    /// Takes `account`'s report that `hash` on `peer` did not match its hash: the piece is
    /// audited whole on that peer (afterwards), and only a failed audit marks it damaged.
    ///
    /// A report proves nothing by itself (a client could lie to get good pieces dropped),
    /// so it only makes the pool look.
    pub async fn report_corrupt(
        &self,
        account: AccountId,
        peer: PeerId,
        hash: PieceHash,
    ) -> Result<(), ObjectError> {
        let app = self.app;
        if !app.store.account_has_piece(account, peer, hash).await? {
            return Err(ObjectError::PieceNotFound { peer, hash });
        }
        Counters::add(&app.counters.corruption_reports, 1);
        let auditable = app
            .store
            .peer(peer)
            .await?
            .filter(|p| !matches!(p.state, PeerState::Disqualified | PeerState::Left));
        if let Some(record) = auditable
            && !audit::spawn_whole_audit(app.clone(), record, hash)
        {
            tracing::info!(%peer, piece = %hash, "too many audits running; a reported piece waits for the routine audits");
        }
        Ok(())
    }
}
