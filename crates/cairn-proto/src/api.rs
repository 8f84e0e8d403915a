//! The pool's HTTP API, version 1: paths and the JSON bodies of each request and answer.
//!
//! Requests that act for a peer or an account are signed ([`crate::auth`]). Encrypted paths
//! are the client's text form (base64url components joined by `/`); the pool stores and
//! compares them but cannot read them. Binary blobs travel as unpadded base64url. Times are
//! Unix milliseconds.

use cairn_core::{AccountId, ObjectId, PeerId, PieceHash, PoolId, ShareId};
use serde::{Deserialize, Serialize};

use crate::order::SignedOrder;
use crate::peer_addr::PeerAddr;
use crate::peer_state::PeerState;
use crate::receipt::Receipt;

/// `GET`: who the pool is and how it runs.
pub const INFO: &str = "/v1/info";
/// `POST` (signed by the peer): register or re-register a peer.
pub const PEER_REGISTER: &str = "/v1/peers/register";
/// `POST` (signed by the peer): heartbeat.
pub const PEER_HEARTBEAT: &str = "/v1/peers/heartbeat";
/// `POST` (signed by the peer): start draining (leave on purpose).
pub const PEER_DRAIN: &str = "/v1/peers/drain";
/// `POST` (signed by the peer that ran it): the outcome of a repair job.
pub const REPAIR_REPORT: &str = "/v1/repairs/report";
/// `POST` (signed by the account): a piece whose bytes did not match its hash.
pub const REPORT_CORRUPT: &str = "/v1/reports/corrupt";
/// `POST` (signed by the account): open the account (idempotent).
pub const ACCOUNT: &str = "/v1/account";
/// `GET` (signed by the account): how healthy the account's objects are.
pub const ACCOUNT_HEALTH: &str = "/v1/account/health";
/// `GET` (signed by the account): the space the account uses and may use ([`AccountUsage`]).
pub const ACCOUNT_USAGE: &str = "/v1/account/usage";
/// `POST` (signed by the account): begin an upload.
pub const UPLOADS: &str = "/v1/uploads";
/// `POST` (signed by the account): begin many uploads at once, as a client storing a folder
/// of small files sends the begins that piled up while one request was out
/// ([`BeginMany`] → [`ManyAnswers`] of [`UploadBegun`]).
pub const UPLOADS_MANY: &str = "/v1/uploads/many";
/// `POST` (signed by the account): commit many uploads at once ([`CommitMany`] →
/// [`ManyAnswers`] of [`UploadCommitted`]).
pub const COMMITS_MANY: &str = "/v1/uploads/commits";
/// `GET` (signed by the account): list objects (`?prefix=&after=&limit=`).
pub const OBJECTS: &str = "/v1/objects";
/// `GET` / `DELETE` (signed by the account): one object (`?path=`).
pub const OBJECT: &str = "/v1/object";
/// `POST` (signed by the account): many objects' records with get orders at once, for
/// fetching a folder of small files ([`SourcesRequest`] → [`ManySources`]).
pub const OBJECT_SOURCES: &str = "/v1/objects/sources";
/// `GET` (signed by the account): one object's pieces and their health (`?path=`).
pub const OBJECT_HEALTH: &str = "/v1/object/health";
/// `GET` (signed by the account): one level of a folder (`?prefix=&after=&limit=`), as an
/// S3 listing with delimiter `/`: the objects directly under `prefix` and the sub-folders
/// (`prefix` + component + `/`) holding deeper ones, in path order ([`FolderList`]). The pool
/// seeks past each sub-folder; it never reads what is in it.
pub const OBJECTS_LEVEL: &str = "/v1/objects/level";
/// `GET` (signed by the account): what `GET` [`OBJECT`] answers, with the segments
/// `first..=last` only (`?path=&first=&last=`, each defaulting to the object's first and
/// last) — get orders for the pieces a byte range
/// needs, not for the whole object.
pub const OBJECT_RANGE: &str = "/v1/object/range";
/// The last component of a folder marker's encrypted path (`<folder>/folder`): an object a
/// client commits to keep an empty folder. Shorter than any name's ciphertext, so it never
/// names a file; a [`FolderList`] reports each sub-folder's marker.
pub const FOLDER_MARKER: &str = "folder";
/// `POST` (signed by the account): rename an object or a folder.
pub const RENAME: &str = "/v1/rename";
/// `GET`: the network's state.
pub const STATUS: &str = "/v1/status";
/// `POST` (signed by the account): the pieces peers hold that start with a ledger locator,
/// with get orders ([`FindLedger`] → [`LedgerFound`]): how a client finds its ledger when
/// the pool has forgotten its records (`cairn_core::ledger`).
pub const LEDGER_FIND: &str = "/v1/ledger/find";
/// `POST` (signed by the account): give the pool back records it forgot, placing each piece
/// on the peers that said they hold it ([`ImportObjects`] → [`ObjectsImported`]).
pub const OBJECTS_IMPORT: &str = "/v1/objects/import";
/// The first component of the encrypted path of a ledger object (`ledger/<object id>`): the
/// copy of the account's records on the peers. Shorter than any name's ciphertext, so it
/// never names a file; clients leave it out of what they show.
pub const LEDGER_FOLDER: &str = "ledger";
/// The first component of the path of an object the pool keeps for a share after its
/// owner deleted or replaced it (`kept/<object id>`): shorter than any name's ciphertext,
/// so it never names a file; clients leave it out of what they show.
pub const KEPT_FOLDER: &str = "kept";
/// Ledger entries a client finds or imports at most per request.
pub use crate::limits::MAX_IMPORT;
/// `POST` (signed by the account): leave a share for a link ([`CreateShare`] →
/// [`ShareCreated`]); `GET`: the account's shares ([`ShareList`]).
pub const SHARES: &str = "/v1/shares";
/// `POST` (signed by the account): revoke one of the account's shares ([`RevokeShare`] →
/// [`ShareRevoked`]).
pub const SHARE_REVOKE: &str = "/v1/shares/revoke";
/// `POST`, unsigned (whoever has the link): open a share, counting one download
/// ([`OpenShare`] → [`ShareOpened`]).
pub const SHARE_OPEN: &str = "/v1/public/shares/open";
/// `POST`, unsigned (whoever has the link): get orders for objects of a live share
/// ([`ShareSourcesRequest`] → [`ShareSources`]).
pub const SHARE_SOURCES: &str = "/v1/public/shares/sources";
/// `GET`: Prometheus metrics.
pub const METRICS: &str = "/metrics";
/// `GET`, for a browser that opens a share link itself: a page saying how to open it
/// (the key after `#` never reaches the pool, so the pool cannot open it for anyone).
pub const LINK_PAGE: &str = "/s/{id}";
/// [`LINK_PAGE`] of a link that names the pool's identity too.
pub const LINK_PAGE_PINNED: &str = "/s/{id}/{pool}";

/// `POST` path placing segment `index` of `upload`.
pub fn place_segment_path(upload: &str, index: u32) -> String {
    format!("/v1/uploads/{upload}/segments/{index}/place")
}

/// `POST` path committing segment `index` of `upload`.
pub fn commit_segment_path(upload: &str, index: u32) -> String {
    format!("/v1/uploads/{upload}/segments/{index}/commit")
}

/// `POST` path committing `upload` as an object; `DELETE` on [`upload_path`] aborts it.
pub fn commit_upload_path(upload: &str) -> String {
    format!("/v1/uploads/{upload}/commit")
}

/// `DELETE` path aborting `upload`.
pub fn upload_path(upload: &str) -> String {
    format!("/v1/uploads/{upload}")
}

/// Answer to [`ACCOUNT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOpened {
    /// The account, as the pool knows it.
    pub account: AccountId,
    /// Whether this request created it.
    pub created: bool,
}

/// Answer to [`INFO`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// The pool's identity; peers check orders against it.
    pub pool: PoolId,
    /// The pool's software version.
    pub version: String,
    /// How often peers should heartbeat, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// The durability target `auto` redundancy aims for (e.g. 0.999999).
    pub durability_target: f64,
    /// The mean availability `auto` counts on now (online peers with room), from which a
    /// client estimates how durable a file's redundancy is on the network as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<f64>,
    /// The pool's index of records (a second old at most): a client that last saw another
    /// identity knows the pool's store was made anew and gives back what it forgot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<PoolIndex>,
}

/// Body of [`PEER_REGISTER`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterPeer {
    /// Base URL where the peer serves pieces, e.g. `http://203.0.113.5:7000`.
    pub address: PeerAddr,
    /// The peer's failure domain, if its operator named one.
    pub zone: Option<String>,
    /// Bytes the peer offers.
    pub capacity: u64,
    /// Bytes the peer's pieces use now.
    pub used: u64,
    /// Every piece the peer holds.
    pub pieces: Vec<PieceHash>,
    /// The pieces it holds that start as ledger pieces do, with their locators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledger: Vec<LedgerPiece>,
}

/// A ledger piece a peer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPiece {
    /// The piece.
    pub hash: PieceHash,
    /// The locator it starts with (32 hex digits).
    pub locator: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Body of [`LEDGER_FIND`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindLedger {
    /// The account's ledger locator (32 hex digits).
    pub locator: String,
    /// Pieces after this one (the previous answer's last), for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<PieceHash>,
}

/// Answer to [`LEDGER_FIND`]: every piece the online peers said they hold under the
/// locator (at registration), each with its holders and get orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFound {
    /// One entry per piece, at most [`MAX_IMPORT`]; `more` if there were more.
    pub pieces: Vec<LedgerSource>,
    /// Whether pieces were left out (pass the last one's hash as `after`).
    #[serde(default)]
    pub more: bool,
}

/// Where one ledger piece can be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSource {
    /// The piece.
    pub hash: PieceHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its holders, each with a get order (fragment 0).
    pub holders: Vec<GetTarget>,
}

/// Body of [`OBJECTS_IMPORT`]: records the pool forgot, as the client's ledger has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportObjects {
    /// At most [`MAX_IMPORT`].
    pub objects: Vec<ImportObject>,
}

/// One record to give back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportObject {
    /// The object's id.
    pub object: ObjectId,
    /// Its encrypted path.
    pub path: String,
    /// `ec:K+M` or `rep:KxR`.
    pub redundancy: String,
    /// Stored size in bytes.
    pub size: u64,
    /// Sealed metadata, unpadded base64url.
    pub metadata: String,
    /// Its segments, each with every fragment's hash.
    pub segments: Vec<ImportSegment>,
}

/// One segment of a record given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSegment {
    /// The segment's index.
    pub index: u32,
    /// Every fragment's size in bytes.
    pub piece_size: u64,
    /// Every fragment's hash, data fragments first.
    pub fragments: Vec<PieceHash>,
}

/// Answer to [`OBJECTS_IMPORT`]: one outcome per object, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectsImported {
    /// One per object.
    pub objects: Vec<ImportOutcome>,
}

/// What became of one record given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// `imported`, `known` (the pool has this object already) or `taken` (another object
    /// holds its path; nothing changed).
    pub state: String,
    /// Pieces placed on peers that reported holding them.
    pub placed: u64,
    /// Fragments no peer reported yet: placed when a peer holding them registers.
    pub awaited: u64,
}

/// Answer to [`PEER_REGISTER`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerRegistered {
    /// The pool the peer registered with.
    pub pool: PoolId,
    /// The peer, as the pool knows it.
    pub peer: PeerId,
    /// The peer's state after registering.
    pub state: PeerState,
    /// How often to heartbeat, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// Pieces from the inventory the pool has no record of: the peer may delete each once
    /// it has held it longer than an upload can stay open — but only pieces it stored
    /// since it met the pool's present [`index`](Self::index).
    pub unknown_pieces: Vec<PieceHash>,
    /// The pool's index of records; absent from a pool that cannot say, and then the peer
    /// deletes no piece the pool does not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<PoolIndex>,
}

/// Which index of records a pool keeps, and how far it has got. A peer that meets another
/// identity (a store made anew: a lost disk) or a lower generation than it saw (a store
/// restored from an older copy) keeps every piece it held then, since the pool may have
/// forgotten them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolIndex {
    /// Made at random with the pool's store (hex).
    pub id: String,
    /// Grows with every change to where pieces are recorded.
    pub generation: u64,
}

/// Body of [`PEER_HEARTBEAT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Bytes the peer's pieces use now.
    pub used: u64,
    /// Pieces the peer holds now.
    pub piece_count: u64,
    /// Requests the peer is serving now.
    pub load: u32,
    /// Pieces deleted on the pool's word since the last heartbeat (or already absent).
    pub deleted: Vec<PieceHash>,
}

/// Answer to [`PEER_HEARTBEAT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// The peer's state.
    pub state: PeerState,
    /// Delete orders: pieces the pool no longer needs from this peer.
    pub delete: Vec<SignedOrder>,
    /// Repair jobs for this peer to run.
    #[serde(default)]
    pub repairs: Vec<RepairJob>,
    /// The pool's index of records now (see [`PoolIndex`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<PoolIndex>,
}

/// A repair job: rebuild a segment's missing pieces from the ones that remain (Reed–Solomon
/// on ciphertext for `ec`, a copy for `rep`) and store them on new peers. The peer running
/// it needs no key and the pool never touches the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairJob {
    /// The job's id, quoted in the report.
    pub job: String,
    /// The segment's redundancy, `ec:K+M` or `rep:KxR`.
    pub redundancy: String,
    /// Every piece's size in bytes.
    pub piece_size: u64,
    /// Healthy pieces to read, with get orders for the running peer; at least `k` distinct
    /// fragments (for `rep`, a copy of every fragment to restore).
    pub sources: Vec<GetTarget>,
    /// Pieces to store, each on its own new peer, with put orders.
    pub targets: Vec<RepairTarget>,
}

/// Where one rebuilt piece goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairTarget {
    /// The fragment to rebuild.
    pub fragment: u16,
    /// Its recorded hash: the rebuilt bytes must match it.
    pub hash: PieceHash,
    /// The new peer.
    pub peer: PeerId,
    /// The new peer's base URL.
    pub address: PeerAddr,
    /// The put order for it.
    pub order: SignedOrder,
}

/// Body of [`REPAIR_REPORT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairReport {
    /// The job.
    pub job: String,
    /// Receipts of the pieces stored (possibly fewer than asked).
    pub pieces: Vec<CommittedPiece>,
    /// Why the job fell short, if it did.
    pub error: Option<String>,
}

/// Body of [`REPORT_CORRUPT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptReport {
    /// The peer that served the piece.
    pub peer: PeerId,
    /// The piece it should hold.
    pub hash: PieceHash,
}
/// Body of [`UPLOADS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginUpload {
    /// The object's encrypted path.
    pub path: String,
    /// `auto`, `ec:K+M` or `rep:KxR`.
    pub redundancy: String,
    /// Segment 0, placed in the same call (only under a concrete redundancy): a small
    /// file then needs just `begin` and `commit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_segment: Option<PlaceSegment>,
    /// The object's one identity, chosen at random by the client: its segments and sealed
    /// record are bound to it, and the upload and the committed object go by it. An id
    /// already in use is refused. Absent (an earlier client), the pool picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectId>,
}

/// Answer to [`UPLOADS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadBegun {
    /// The upload's id.
    pub upload: String,
    /// The redundancy chosen, `ec:K+M` or `rep:KxR`.
    pub redundancy: String,
    /// When the upload is abandoned if not committed.
    pub expires_at_ms: u64,
    /// Segment 0's placement, if the request carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<SegmentPlaced>,
    /// Set when `auto` met a network too small for the pool's durability target and chose
    /// the most durable redundancy it can carry instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_target: Option<BelowTarget>,
}

/// How far a redundancy falls short of the pool's durability target (probabilities that a
/// segment is readable at a random moment).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BelowTarget {
    /// What the chosen redundancy reaches on the network as it is.
    pub survival: f64,
    /// The pool's target.
    pub target: f64,
}

impl PartialEq for BelowTarget {
    fn eq(&self, other: &Self) -> bool {
        self.survival.to_bits() == other.survival.to_bits()
            && self.target.to_bits() == other.target.to_bits()
    }
}

impl Eq for BelowTarget {}

impl std::fmt::Display for BelowTarget {
    /// What a person is told, in percentages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use cairn_core::policy::percent;
        write!(
            f,
            "stored at {} — below this pool's target of {}: the network has too few peers for it yet; add peers",
            percent(self.survival),
            percent(self.target)
        )
    }
}

/// One fragment of a segment, as the client computed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentInfo {
    /// The fragment's index (`0..k+m`).
    pub fragment: u16,
    /// BLAKE3 of the fragment's bytes (every copy of it is the same piece).
    pub hash: PieceHash,
}

/// Body of [`place_segment_path`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceSegment {
    /// Every fragment's size in bytes (they are equal).
    pub piece_size: u64,
    /// One entry per fragment, `0..k+m` in order.
    pub fragments: Vec<FragmentInfo>,
}

/// Where one copy of a fragment goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutTarget {
    /// The fragment.
    pub fragment: u16,
    /// The peer.
    pub peer: PeerId,
    /// The peer's base URL.
    pub address: PeerAddr,
    /// The put order for this fragment on this peer.
    pub order: SignedOrder,
}

/// A spare peer, for a fragment whose upload to its first peer fails or lags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpareTarget {
    /// The peer.
    pub peer: PeerId,
    /// The peer's base URL.
    pub address: PeerAddr,
    /// One put order per fragment, in fragment order.
    pub orders: Vec<SignedOrder>,
}

/// Answer to [`place_segment_path`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentPlaced {
    /// `(k + m) × r` targets, every one on a different peer: fragment `f`'s copies first
    /// come in order, `r` per fragment.
    pub targets: Vec<PutTarget>,
    /// Spare peers, distinct from the targets and each other.
    pub spares: Vec<SpareTarget>,
}

/// Body of [`commit_segment_path`]: one receipt per stored piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSegment {
    /// For each piece: its fragment and the peer's receipt.
    pub pieces: Vec<CommittedPiece>,
}

/// A stored piece, vouched for by its peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedPiece {
    /// The fragment the piece is a copy of.
    pub fragment: u16,
    /// The peer's receipt.
    pub receipt: Receipt,
}

/// Body of [`commit_upload_path`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitUpload {
    /// The object's sealed metadata, unpadded base64url.
    pub metadata: String,
    /// Bytes the object stores (its ciphertext size; the plaintext size is sealed).
    pub size: u64,
    /// How many segments the object has.
    pub segment_count: u32,
    /// The last segment's stored pieces, committed with the object in one step, so a
    /// small file's only segment needs no call of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_segment: Option<LastSegment>,
}

/// A segment committed together with its object (see [`CommitUpload::last_segment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSegment {
    /// The segment's index.
    pub index: u32,
    /// For each piece: its fragment and the peer's receipt.
    pub pieces: Vec<CommittedPiece>,
}

/// Answer to [`commit_upload_path`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadCommitted {
    /// The path now holding the object.
    pub path: String,
    /// Whether an earlier object at the path was replaced.
    pub replaced: bool,
}

pub use crate::limits::MAX_AT_ONCE;

/// Body of [`UPLOADS_MANY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginMany {
    /// Each upload as [`UPLOADS`] takes it, at most [`MAX_AT_ONCE`].
    pub uploads: Vec<BeginUpload>,
}

/// One upload's commit in a [`CommitMany`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitOne {
    /// The upload's id.
    pub upload: String,
    /// What [`commit_upload_path`] takes.
    pub commit: CommitUpload,
}

/// Body of [`COMMITS_MANY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMany {
    /// At most [`MAX_AT_ONCE`].
    pub commits: Vec<CommitOne>,
}

/// The answer to a request carrying many items: one answer per item, in the order sent,
/// each standing alone (one refused item changes nothing for the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManyAnswers<T> {
    /// One per item.
    pub answers: Vec<Answer<T>>,
}

/// One item's answer: what the single request would have answered, or its refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer<T> {
    /// The item succeeded.
    Ok(T),
    /// The item was refused, as the single request would have been.
    Refused(Refusal),
}

/// An item's refusal: the HTTP status the single request would have had, and its
/// [`ErrorBody`](crate::ErrorBody) fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Stable error code.
    pub code: String,
    /// One sentence for a person.
    pub message: String,
}

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Encrypted path.
    pub path: String,
    /// Stored size in bytes.
    pub size: u64,
    /// When it was committed.
    pub committed_at_ms: u64,
    /// Sealed metadata, unpadded base64url.
    pub metadata: String,
}

/// Answer to [`OBJECTS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectList {
    /// Objects in path order.
    pub objects: Vec<ObjectEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// A sub-folder in a [`FolderList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderEntry {
    /// Its encrypted prefix, ending in `/`.
    pub prefix: String,
    /// When its [`FOLDER_MARKER`] was committed, if it has one (an explicitly made folder).
    pub marker_committed_at_ms: Option<u64>,
}

/// Answer to [`OBJECTS_LEVEL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderList {
    /// Objects directly under the prefix, in path order.
    pub objects: Vec<ObjectEntry>,
    /// Sub-folders, in path order.
    pub folders: Vec<FolderEntry>,
    /// Pass as `after` for the next page (an object's path or a sub-folder's prefix);
    /// absent on the last page.
    pub next: Option<String>,
}

/// Where one piece can be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTarget {
    /// The fragment it is a copy of.
    pub fragment: u16,
    /// BLAKE3 of its bytes, to check on receipt.
    pub hash: PieceHash,
    /// The peer holding it.
    pub peer: PeerId,
    /// The peer's base URL.
    pub address: PeerAddr,
    /// The peer's state (a client tries online peers first).
    pub state: PeerState,
    /// The get order.
    pub order: SignedOrder,
}

/// One segment of an object to download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentSources {
    /// The segment's index.
    pub index: u32,
    /// Every fragment's size in bytes.
    pub piece_size: u64,
    /// Every stored piece, with its get order.
    pub pieces: Vec<GetTarget>,
}

/// Answer to `GET` [`OBJECT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSources {
    /// Encrypted path.
    pub path: String,
    /// `ec:K+M` or `rep:KxR`.
    pub redundancy: String,
    /// Stored size in bytes.
    pub size: u64,
    /// When it was committed.
    pub committed_at_ms: u64,
    /// Sealed metadata, unpadded base64url.
    pub metadata: String,
    /// Segments in order.
    pub segments: Vec<SegmentSources>,
}

pub use crate::limits::MAX_SOURCES;

/// Body of [`OBJECT_SOURCES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcesRequest {
    /// Encrypted paths, at most [`MAX_SOURCES`].
    pub paths: Vec<String>,
}

/// Answer to [`OBJECT_SOURCES`]: each asked path's sources in the order asked, `null` where
/// the account has no object at that path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManySources {
    /// One entry per asked path.
    pub objects: Vec<Option<ObjectSources>>,
}

/// Body of [`RENAME`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    /// Encrypted path (or folder prefix, ending in `/`) now.
    pub from: String,
    /// Encrypted path (or folder prefix, ending in `/`) after.
    pub to: String,
}

/// Answer to [`RENAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renamed {
    /// How many objects moved.
    pub objects: u64,
}

/// One peer in [`NetworkStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer.
    pub peer: PeerId,
    /// Its base URL.
    pub address: PeerAddr,
    /// Its zone, if named.
    pub zone: Option<String>,
    /// Its state.
    pub state: PeerState,
    /// Bytes offered.
    pub capacity: u64,
    /// Bytes used.
    pub used: u64,
    /// Pieces held.
    pub piece_count: u64,
    /// Availability score in `[0, 1]`.
    pub availability: f64,
    /// Measured round-trip time, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Last heartbeat.
    pub last_heartbeat_ms: u64,
    /// Share of audits passed, recent ones weighing most, in `[0, 1]`.
    #[serde(default = "perfect")]
    pub audit_score: f64,
    /// Audits passed.
    #[serde(default)]
    pub audits_passed: u64,
    /// Audits failed.
    #[serde(default)]
    pub audits_failed: u64,
}

const fn perfect() -> f64 {
    1.0
}

/// Answer to [`STATUS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// The pool.
    pub pool: PoolId,
    /// Every peer the pool knows.
    pub peers: Vec<PeerStatus>,
    /// Committed objects across all accounts.
    pub objects: u64,
    /// Bytes those objects store.
    pub bytes: u64,
    /// Uploads begun and not yet committed or abandoned.
    pub open_uploads: u64,
    /// Segments with fewer healthy pieces than their redundancy asks for: the repair queue.
    pub repair_queue: u64,
    /// Repair jobs peers are running now.
    #[serde(default)]
    pub repairs_in_flight: u64,
    /// Pieces moving between peers now (rebalancing, draining, spreading).
    #[serde(default)]
    pub migrations_in_flight: u64,
    /// The pool's index of records and its generation now (see [`PoolIndex`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<PoolIndex>,
}

/// The health of one stored piece, as `cairn status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PieceState {
    /// Its peer is online and the piece is not known bad.
    Healthy,
    /// Its peer missed a heartbeat or two.
    Suspect,
    /// Its peer is offline.
    Offline,
    /// Its peer is lost; the piece counts as gone.
    Lost,
    /// Its peer is leaving; the piece still reads while it moves.
    Draining,
    /// Its peer has left.
    Left,
    /// Its peer was disqualified.
    Disqualified,
    /// The piece is known to be damaged.
    Corrupt,
}

impl PieceState {
    /// A piece's state from its peer's state (the piece itself not known bad).
    pub const fn of_peer(state: PeerState) -> Self {
        match state {
            PeerState::Online => Self::Healthy,
            PeerState::Suspect => Self::Suspect,
            PeerState::Offline => Self::Offline,
            PeerState::Lost => Self::Lost,
            PeerState::Draining => Self::Draining,
            PeerState::Left => Self::Left,
            PeerState::Disqualified => Self::Disqualified,
        }
    }

    /// The stable name shown to users and scripts.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Suspect => "suspect",
            Self::Offline => "offline",
            Self::Lost => "lost",
            Self::Draining => "draining",
            Self::Left => "left",
            Self::Disqualified => "disqualified",
            Self::Corrupt => "corrupt",
        }
    }
}

/// One piece of a segment in [`ObjectHealth`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceHealth {
    /// The fragment it is a copy of.
    pub fragment: u16,
    /// The peer holding it.
    pub peer: PeerId,
    /// Its state.
    pub state: PieceState,
}

/// One segment in [`ObjectHealth`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHealth {
    /// The segment's index.
    pub index: u32,
    /// Every piece the pool records for it.
    pub pieces: Vec<PieceHealth>,
    /// Whether every fragment has all its copies healthy.
    pub full_redundancy: bool,
    /// Whether enough distinct fragments are readable (healthy, suspect or draining).
    pub readable: bool,
    /// Whether a repair job is rebuilding it now.
    #[serde(default)]
    pub repairing: bool,
}

/// Answer to [`OBJECT_HEALTH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHealth {
    /// Encrypted path.
    pub path: String,
    /// `ec:K+M` or `rep:KxR`.
    pub redundancy: String,
    /// Segments in order.
    pub segments: Vec<SegmentHealth>,
}

/// Answer to [`ACCOUNT_HEALTH`]: the account's files and folder markers (its ledger, under
/// [`LEDGER_FOLDER`], is left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountHealth {
    /// Committed objects in the account.
    pub objects: u64,
    /// Objects with every segment at full redundancy.
    pub full: u64,
    /// Encrypted paths of readable objects below full redundancy (at most 1,000).
    pub degraded: Vec<String>,
    /// Encrypted paths of objects with a segment that cannot be read now (at most 1,000).
    pub unreadable: Vec<String>,
}

/// Answer to [`ACCOUNT_USAGE`]: what counts against the account's quota (every piece of its
/// committed objects and of its uploads under way) and the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUsage {
    /// Bytes of pieces the account stores or has orders to store.
    pub used: u64,
    /// Bytes it may store at most.
    pub quota: u64,
}

/// Body of [`SHARES`] (`POST`): what an owner's client leaves at the pool for a link. The
/// pool never sees the link's key: the manifest is sealed under it, the label under the
/// owner's keys, and the token a recipient will show is given only as its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateShare {
    /// The share's id (from the link).
    pub id: ShareId,
    /// The hash of the token a recipient shows (64 hex digits).
    pub token_hash: String,
    /// The sealed manifest, unpadded base64url.
    pub manifest: String,
    /// The sealed label, unpadded base64url.
    pub label: String,
    /// The account's objects it shares.
    pub objects: Vec<ObjectId>,
    /// When it stops opening (Unix ms), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// How many times it may be opened, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_downloads: Option<u64>,
}

/// Answer to [`SHARES`] (`POST`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCreated {
    /// The share's id.
    pub id: ShareId,
    /// When the pool kept it (Unix ms).
    pub created_ms: u64,
}

/// One of an account's shares, as [`SHARES`] (`GET`) lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareSummary {
    /// Its id.
    pub id: ShareId,
    /// Its sealed label, unpadded base64url.
    pub label: String,
    /// When it was made (Unix ms).
    pub created_ms: u64,
    /// When it stops opening (Unix ms), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// How many times it may be opened, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_downloads: Option<u64>,
    /// How many times it was opened.
    pub downloads: u64,
    /// How many objects it shares.
    pub objects: u64,
    /// `live`, `revoked`, `expired` or `exhausted`.
    pub state: String,
}

/// Answer to [`SHARES`] (`GET`): the account's shares, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareList {
    /// The shares.
    pub shares: Vec<ShareSummary>,
}

/// Body of [`SHARE_REVOKE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeShare {
    /// The share to revoke.
    pub id: ShareId,
}

/// Answer to [`SHARE_REVOKE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRevoked {
    /// The share.
    pub id: ShareId,
}

/// Body of [`SHARE_OPEN`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenShare {
    /// The share's id.
    pub id: ShareId,
    /// The token derived from the link (and password), unpadded base64url.
    pub token: String,
}

/// Answer to [`SHARE_OPEN`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareOpened {
    /// The sealed manifest, unpadded base64url.
    pub manifest: String,
    /// When it stops opening (Unix ms), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

/// Body of [`SHARE_SOURCES`]: at most [`MAX_SOURCES`] objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareSourcesRequest {
    /// The share's id.
    pub id: ShareId,
    /// The token derived from the link (and password), unpadded base64url.
    pub token: String,
    /// Objects of the share.
    pub objects: Vec<ObjectId>,
}

/// Answer to [`SHARE_SOURCES`]: each object's record with get orders, in the order asked
/// (`None` for one the share no longer has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareSources {
    /// The objects.
    pub objects: Vec<Option<ObjectSources>>,
}
