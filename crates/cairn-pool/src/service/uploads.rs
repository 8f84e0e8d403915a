//! The upload service: begin → place segment (choose peers, reserve quota, sign put orders)
//! → (the client stores pieces on peers) → commit segment with the peers' receipts → commit
//! object; begins and commits also many at once, and an upload can be aborted.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{AccountId, PeerId, Redundancy, RedundancyPolicy};
use cairn_proto::api::{
    BeginUpload, BelowTarget, CommitUpload, CommittedPiece, PlaceSegment, PutTarget, SegmentPlaced,
    SpareTarget, UploadBegun, UploadCommitted,
};
use cairn_proto::limits::{MAX_METADATA, MAX_METADATA_TEXT, MAX_PIECE_SIZE, MAX_SEGMENTS};
use cairn_proto::{Holder, OrderAction, PeerState, Receipt};
use data_encoding::BASE64URL_NOPAD;
use futures_util::future::join_all;

use super::{Invalid, check_path, duration_ms};
use crate::app::{App, SignError};
use crate::placement::{self, Candidate, PlacementError, PlacementRequest};
use crate::quota::Verdict;
use crate::store::peer_addr;
use crate::store::{
    CommitObject, MetadataStore, NewUpload, ObjectId, PiecePlacement, SegmentCommit, StoreError,
    UploadRecord,
};

/// Why an upload step was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The request does not fit the protocol (a path, a size, a count).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The redundancy policy does not parse, or cannot serve this request.
    #[error("{0}")]
    BadRedundancy(String),
    /// The account has no open upload with this id (never begun, committed, aborted or
    /// expired).
    #[error("upload {0} does not exist, was committed or expired; begin a new one")]
    NotFound(ObjectId),
    /// Too few suitable peers are online for the pieces.
    #[error(transparent)]
    NetworkTooSmall(#[from] PlacementError),
    /// The placement would take the account past its quota.
    #[error(
        "this account's pieces use {used} of its {quota} bytes and this segment needs \
         {needed} more; delete files or ask the pool's operator for a larger quota"
    )]
    OverQuota {
        /// Bytes the account's pieces use (or have reserved).
        used: u64,
        /// Bytes this placement needs.
        needed: u64,
        /// The account's quota in bytes.
        quota: u64,
    },
    /// A segment is committed before it was placed.
    #[error("segment {0} was not placed; place it before committing it")]
    SegmentNotPlaced(u32),
    /// The receipts of a segment commit do not match what was placed.
    #[error("{0}")]
    BadCommit(String),
    /// The metadata store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An order could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Online peers as placement candidates, with their addresses.
pub type Online = (Vec<Candidate>, HashMap<PeerId, String>);

/// A begin that passed the checks made before the registry is read.
#[derive(Debug)]
pub struct CheckedBegin {
    body: BeginUpload,
    policy: RedundancyPolicy,
}

/// The upload service over a pool's state.
pub struct Uploads<'a, S> {
    app: &'a Arc<App<S>>,
}

fn parse_upload(text: &str) -> Result<ObjectId, Invalid> {
    ObjectId::from_str(text).map_err(|_| Invalid(format!("{text:?} is not an upload id")))
}

impl<'a, S: MetadataStore> Uploads<'a, S> {
    /// The service over `app`.
    pub fn new(app: &'a Arc<App<S>>) -> Self {
        Self { app }
    }

    /// `account`'s open upload named `text`.
    async fn open(&self, account: AccountId, text: &str) -> Result<UploadRecord, UploadError> {
        let upload = parse_upload(text)?;
        self.app
            .store
            .upload(account, upload)
            .await?
            .ok_or(UploadError::NotFound(upload))
    }

    /// The online peers, read once per request.
    pub async fn candidates(&self) -> Result<Online, UploadError> {
        let mut addresses = HashMap::new();
        let candidates = self
            .app
            .store
            .peers()
            .await?
            .into_iter()
            .filter(|p| p.state == PeerState::Online)
            .map(|p| {
                let candidate = Candidate {
                    id: p.id,
                    domain: placement::failure_domain(p.zone.as_deref(), &p.address),
                    free: p.free(),
                    availability: p.availability,
                    rtt_ms: p.rtt_ms,
                };
                addresses.insert(p.id, p.address);
                candidate
            })
            .collect();
        Ok((candidates, addresses))
    }

    /// Opens an upload for `account` (placing its first segment if it comes with one).
    pub async fn begin(
        &self,
        account: AccountId,
        body: BeginUpload,
    ) -> Result<UploadBegun, UploadError> {
        let checked = Self::check_begin(body)?;
        let online = self.candidates().await?;
        self.start(&online, account, checked).await
    }

    /// Many begins, each answered as [`Uploads::begin`] would, run together (the registry is
    /// read once, and only if some begin passed its checks).
    pub async fn begin_many(
        &self,
        account: AccountId,
        uploads: Vec<BeginUpload>,
    ) -> Result<Vec<Result<UploadBegun, UploadError>>, UploadError> {
        let checked: Vec<_> = uploads.into_iter().map(Self::check_begin).collect();
        let online = if checked.iter().any(Result::is_ok) {
            self.candidates().await?
        } else {
            Online::default()
        };
        let online = &online;
        Ok(join_all(
            checked
                .into_iter()
                .map(|checked| async move { self.start(online, account, checked?).await }),
        )
        .await)
    }

    /// The checks of a begin made before the registry is read.
    pub fn check_begin(body: BeginUpload) -> Result<CheckedBegin, UploadError> {
        check_path(&body.path)?;
        let policy = RedundancyPolicy::from_str(&body.redundancy)
            .map_err(|e| UploadError::BadRedundancy(e.to_string()))?;
        if let Some(first) = &body.first_segment {
            let RedundancyPolicy::Fixed(redundancy) = policy else {
                return Err(UploadError::BadRedundancy(
                    "a first segment can be placed with `begin` only under a concrete redundancy \
                     (ec:K+M or rep:KxR); with `auto`, begin first and place it after"
                        .to_owned(),
                ));
            };
            check_place(redundancy, 0, first)?;
        }
        Ok(CheckedBegin { body, policy })
    }

    /// Opens a checked upload for `account` among the `online` peers (placing its first
    /// segment if it came with one).
    pub async fn start(
        &self,
        online: &Online,
        account: AccountId,
        CheckedBegin { body, policy }: CheckedBegin,
    ) -> Result<UploadBegun, UploadError> {
        let app = self.app;
        let resolved = placement::resolve_policy(policy, &online.0, app.config.durability_target)?;
        let redundancy = resolved.redundancy;
        let now = app.now_ms();
        app.store.ensure_account(account, now).await?;
        let id = body
            .object
            .unwrap_or_else(|| ObjectId::random(&mut rand::rng()));
        let expires_at = now.saturating_add(duration_ms(app.config.upload_ttl));
        let upload = NewUpload {
            id,
            account,
            path: body.path,
            redundancy,
            created_at: now,
            expires_at,
        };
        let placed = match &body.first_segment {
            Some(first) => {
                let (placed, placements) = self
                    .plan_segment(online, account, redundancy, expires_at, 0, first)
                    .await?;
                app.store.begin_with_placement(upload, placements).await?;
                Some(placed)
            }
            None => {
                app.store.begin_upload(upload).await?;
                None
            }
        };
        Ok(UploadBegun {
            upload: id.to_string(),
            redundancy: redundancy.to_string(),
            expires_at_ms: expires_at,
            placed,
            below_target: resolved.below_target.map(|survival| BelowTarget {
                survival,
                target: app.config.durability_target,
            }),
        })
    }

    /// Places segment `index` of `account`'s open upload `upload`: chooses its peers,
    /// reserves its bytes against the quota, signs its put orders and records the placement.
    pub async fn place(
        &self,
        account: AccountId,
        upload: &str,
        index: u32,
        body: &PlaceSegment,
    ) -> Result<SegmentPlaced, UploadError> {
        let upload = self.open(account, upload).await?;
        check_place(upload.redundancy, index, body)?;
        let online = self.candidates().await?;
        let (placed, placements) = self
            .plan_segment(
                &online,
                account,
                upload.redundancy,
                upload.expires_at,
                index,
                body,
            )
            .await?;
        self.app
            .store
            .record_placement(upload.id, placements)
            .await?;
        Ok(placed)
    }

    /// Chooses peers for segment `index` of an upload under `redundancy` (expiring at
    /// `expires_at_ms`), reserves its put orders against the account's quota and signs them;
    /// returns the answer and the placements to record. The request passed [`check_place`].
    async fn plan_segment(
        &self,
        (candidates, addresses): &Online,
        account: AccountId,
        redundancy: Redundancy,
        expires_at_ms: u64,
        index: u32,
        body: &PlaceSegment,
    ) -> Result<(SegmentPlaced, Vec<PiecePlacement>), UploadError> {
        let app = self.app;
        let fragments = usize::from(redundancy.fragments());
        let copies = usize::from(redundancy.r());
        // Each peer's reported free space, less what was placed on it since it reported;
        // what this placement takes is promised at once (no await in between), so
        // placements running together see each other.
        let candidates: Vec<Candidate> = (candidates.iter())
            .map(|c| Candidate {
                free: c.free.saturating_sub(app.reserved.pending(c.id)),
                ..c.clone()
            })
            .collect();
        let chosen = placement::place(
            &candidates,
            &PlacementRequest {
                pieces: fragments * copies,
                piece_size: body.piece_size,
                spares: app.config.spares,
            },
            &mut rand::rng(),
        )?;
        let placed_at = app.now_ms();
        for peer in &chosen.peers {
            app.reserved.add(*peer, body.piece_size, placed_at);
        }
        // Every put order handed out (spares included) lets the account store a piece, so all
        // of them count against its quota until the segment is committed.
        let orders = chosen.peers.len() + chosen.spares.len() * fragments;
        let needed = (orders as u64).saturating_mul(body.piece_size);
        let quota = app.config.account_quota;
        let verdict = (app.quotas)
            .reserve(account, needed, quota, async || {
                app.store.account_usage(account).await
            })
            .await?;
        if let Verdict::Over { used } = verdict {
            return Err(UploadError::OverQuota {
                used,
                needed,
                quota,
            });
        }
        let address =
            |peer: &PeerId| peer_addr(addresses.get(peer).map(String::as_str).unwrap_or_default());
        let now = app.now_ms();
        let ttl = Duration::from_millis(expires_at_ms.saturating_sub(now))
            .min(app.config.order_ttl.max(Duration::from_secs(60)));
        let holder = Holder::Account(account);
        let expires_at = App::<S>::expiry(now, ttl);
        let put = |peer: PeerId, fragment: usize| {
            let hash = body.fragments[fragment].hash;
            app.order(
                peer,
                hash,
                OrderAction::Put,
                body.piece_size,
                holder,
                expires_at,
            )
        };
        let mut placements = Vec::new();
        let mut targets = Vec::with_capacity(chosen.peers.len());
        for (slot, peer) in chosen.peers.iter().enumerate() {
            let fragment = slot / copies;
            targets.push(PutTarget {
                fragment: body.fragments[fragment].fragment,
                peer: *peer,
                address: address(peer)?,
                order: put(*peer, fragment)?,
            });
            placements.push((fragment, *peer));
        }
        let mut spares = Vec::with_capacity(chosen.spares.len());
        for peer in &chosen.spares {
            let orders = (0..fragments)
                .map(|f| put(*peer, f))
                .collect::<Result<_, _>>()?;
            placements.extend((0..fragments).map(|f| (f, *peer)));
            spares.push(SpareTarget {
                peer: *peer,
                address: address(peer)?,
                orders,
            });
        }
        let placements = placements
            .into_iter()
            .map(|(fragment, peer)| PiecePlacement {
                segment: index,
                fragment: body.fragments[fragment].fragment,
                hash: body.fragments[fragment].hash,
                size: body.piece_size,
                peer,
            })
            .collect();
        Ok((SegmentPlaced { targets, spares }, placements))
    }

    /// Records the pieces the peers vouched for in segment `index` of `account`'s open
    /// upload `upload`; every fragment needs its `r` copies, every piece on a different peer
    /// that the pool placed it on.
    pub async fn commit_segment(
        &self,
        account: AccountId,
        upload: &str,
        index: u32,
        pieces: &[CommittedPiece],
    ) -> Result<(), UploadError> {
        let upload = self.open(account, upload).await?;
        let segment = self.checked_segment(&upload, index, pieces).await?;
        self.app
            .store
            .commit_segment(account, upload.id, segment)
            .await?;
        Ok(())
    }

    /// Segment `index` of `upload` as the receipts in `pieces` vouch for it, checked against
    /// what was placed.
    async fn checked_segment(
        &self,
        upload: &UploadRecord,
        index: u32,
        pieces: &[CommittedPiece],
    ) -> Result<SegmentCommit, UploadError> {
        let placed = self.app.store.placements(upload.id, index).await?;
        if placed.is_empty() {
            return Err(UploadError::SegmentNotPlaced(index));
        }
        let pieces = check_receipts(upload.redundancy, &placed, pieces)?;
        let piece_size = pieces.first().map_or(0, |p| p.size);
        Ok(SegmentCommit {
            index,
            piece_size,
            pieces,
        })
    }

    /// Commits `account`'s open upload `upload` as an object.
    pub async fn commit(
        &self,
        account: AccountId,
        upload: &str,
        body: CommitUpload,
    ) -> Result<UploadCommitted, UploadError> {
        let app = self.app;
        let upload = self.open(account, upload).await?;
        if body.metadata.len() > MAX_METADATA_TEXT {
            return Err(
                Invalid(format!("the metadata is larger than {MAX_METADATA} bytes")).into(),
            );
        }
        let metadata = BASE64URL_NOPAD
            .decode(body.metadata.as_bytes())
            .map_err(|_| Invalid::new("the metadata is not unpadded base64url"))?;
        if body.segment_count > MAX_SEGMENTS {
            return Err(Invalid(format!(
                "an object has at most {MAX_SEGMENTS} segments, not {}",
                body.segment_count
            ))
            .into());
        }
        // An empty object (a folder marker, say) has no segments; anything else has some.
        if body.segment_count == 0 && body.size != 0 {
            return Err(Invalid(format!(
                "an object of {} bytes needs at least one segment; only an empty object has none",
                body.size
            ))
            .into());
        }
        let commit = CommitObject {
            metadata,
            size: body.size,
            segment_count: body.segment_count,
        };
        let replaced = match &body.last_segment {
            Some(last) => {
                let segment = self
                    .checked_segment(&upload, last.index, &last.pieces)
                    .await?;
                (app.store)
                    .commit_with_segment(account, upload.id, segment, commit, app.now_ms())
                    .await?
            }
            None => {
                (app.store)
                    .commit_object(account, upload.id, commit, app.now_ms())
                    .await?
            }
        };
        Ok(UploadCommitted {
            path: upload.path,
            replaced: replaced.is_some(),
        })
    }

    /// Many commits `(upload, commit)`, each answered as [`Uploads::commit`] would, run
    /// together (their store writes share a transaction).
    pub async fn commit_many(
        &self,
        account: AccountId,
        commits: Vec<(String, CommitUpload)>,
    ) -> Vec<Result<UploadCommitted, UploadError>> {
        join_all(
            commits
                .into_iter()
                .map(|(upload, commit)| async move { self.commit(account, &upload, commit).await }),
        )
        .await
    }

    /// Abandons `account`'s open upload `upload`; its pieces are collected.
    pub async fn abort(&self, account: AccountId, upload: &str) -> Result<(), UploadError> {
        let upload = self.open(account, upload).await?;
        self.app
            .store
            .abort_upload(account, upload.id, self.app.now_ms())
            .await?;
        Ok(())
    }
}

/// Refuses a placement request that does not fit segment `index` of an upload shaped
/// `redundancy` (checked before the registry is read).
fn check_place(redundancy: Redundancy, index: u32, body: &PlaceSegment) -> Result<(), Invalid> {
    if index >= MAX_SEGMENTS {
        return Err(Invalid(format!(
            "an object has at most {MAX_SEGMENTS} segments"
        )));
    }
    let fragments = usize::from(redundancy.fragments());
    if body.fragments.len() != fragments
        || body
            .fragments
            .iter()
            .enumerate()
            .any(|(i, f)| usize::from(f.fragment) != i)
    {
        return Err(Invalid(format!(
            "a segment under {redundancy} has fragments 0 to {}, listed once each in order",
            fragments - 1
        )));
    }
    if body.piece_size == 0 || body.piece_size > MAX_PIECE_SIZE {
        return Err(Invalid(format!(
            "a piece must be 1 to {MAX_PIECE_SIZE} bytes, not {}",
            body.piece_size
        )));
    }
    Ok(())
}

/// Checks a segment commit against what was placed; returns the pieces to record.
fn check_receipts(
    redundancy: Redundancy,
    placed: &[PiecePlacement],
    stored: &[CommittedPiece],
) -> Result<Vec<PiecePlacement>, UploadError> {
    let refuse = UploadError::BadCommit;
    let mut peers = HashSet::new();
    let mut copies = vec![0u16; usize::from(redundancy.fragments())];
    let mut pieces = Vec::with_capacity(stored.len());
    let checked = Receipt::verify_many(stored.iter().map(|piece| &piece.receipt));
    for (piece, checked) in stored.iter().zip(checked) {
        let receipt = &piece.receipt;
        checked.map_err(|e| refuse(e.to_string()))?;
        let Some(placement) = placed
            .iter()
            .find(|p| p.fragment == piece.fragment && p.peer == receipt.peer)
        else {
            return Err(refuse(format!(
                "fragment {} was not placed on peer {}",
                piece.fragment, receipt.peer
            )));
        };
        if placement.hash != receipt.piece || placement.size != receipt.size {
            return Err(refuse(format!(
                "the receipt from peer {} is for another piece than fragment {} was placed as",
                receipt.peer, piece.fragment
            )));
        }
        if !peers.insert(receipt.peer) {
            return Err(refuse(format!(
                "peer {} holds two pieces of the segment; every piece must be on a different peer",
                receipt.peer
            )));
        }
        copies[usize::from(piece.fragment)] += 1;
        pieces.push(placement.clone());
    }
    if let Some((fragment, have)) = copies
        .iter()
        .enumerate()
        .find(|(_, c)| **c != redundancy.r())
    {
        return Err(refuse(format!(
            "fragment {fragment} has {have} stored copies; {redundancy} needs {}",
            redundancy.r()
        )));
    }
    Ok(pieces)
}
