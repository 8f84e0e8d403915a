//! The records the metadata store keeps: peers, uploads and objects, their segments and
//! pieces. Times are Unix milliseconds; paths are the client's encrypted text, opaque here.

use cairn_core::{AccountId, ObjectId, PeerId, PieceHash, Redundancy};
use cairn_proto::PeerAddr;

use super::StoreError;
use crate::state::PeerState;

/// What a peer says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRegistration {
    /// The peer.
    pub id: PeerId,
    /// Its base URL.
    pub address: String,
    /// Its failure domain, if named.
    pub zone: Option<String>,
    /// Bytes offered.
    pub capacity: u64,
    /// Bytes used.
    pub used: u64,
    /// Pieces held.
    pub piece_count: u64,
}

/// A peer as the registry knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRecord {
    /// The peer.
    pub id: PeerId,
    /// Its base URL.
    pub address: String,
    /// Its failure domain, if named.
    pub zone: Option<String>,
    /// Bytes offered.
    pub capacity: u64,
    /// Bytes used, as last reported.
    pub used: u64,
    /// Pieces held, as last reported.
    pub piece_count: u64,
    /// Requests in flight, as last reported.
    pub load: u32,
    /// Its state.
    pub state: PeerState,
    /// When it entered that state.
    pub state_since: u64,
    /// When it first registered.
    pub registered_at: u64,
    /// Its last heartbeat (or registration).
    pub last_heartbeat: u64,
    /// Availability score in `[0, 1]`.
    pub availability: f64,
    /// Round-trip time estimate, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Exponentially weighted share of recent audits passed, in `[0, 1]`.
    pub audit_score: f64,
    /// Audits passed, ever.
    pub audits_passed: u64,
    /// Audits failed, ever.
    pub audits_failed: u64,
}

impl PeerRecord {
    /// Bytes still free.
    pub fn free(&self) -> u64 {
        self.capacity.saturating_sub(self.used)
    }
}

/// Which index of records the store is, and how far it has got: the identity is made with
/// the store and kept for its life; the generation grows with every transaction that
/// records where a piece is (a placement, a segment's commit, a repair). A store made anew
/// has another identity; one restored from an older copy, a lower generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexMark {
    /// Made at random when the store was created.
    pub id: [u8; 16],
    /// Transactions so far that recorded a piece's place.
    pub generation: u64,
}

impl IndexMark {
    /// The mark as peers and operators are told it (the identity in hex).
    pub fn to_wire(self) -> cairn_proto::api::PoolIndex {
        cairn_proto::api::PoolIndex {
            id: data_encoding::HEXLOWER.encode(&self.id),
            generation: self.generation,
        }
    }
}

/// What a heartbeat reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatStats {
    /// Bytes used.
    pub used: u64,
    /// Pieces held.
    pub piece_count: u64,
    /// Requests in flight.
    pub load: u32,
}

/// A health tick's verdict for one peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerHealthUpdate {
    /// The peer.
    pub id: PeerId,
    /// Its state.
    pub state: PeerState,
    /// When it entered that state.
    pub state_since: u64,
    /// Its availability score.
    pub availability: f64,
    /// The state the tick read: the new state is written only if the peer is still in it
    /// and has not been heard from since (a heartbeat or registration meanwhile wins).
    pub read_state: PeerState,
    /// The last heartbeat the tick read.
    pub read_heartbeat: u64,
}

/// An upload being begun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    /// Its id.
    pub id: ObjectId,
    /// The account uploading.
    pub account: AccountId,
    /// The object's encrypted path.
    pub path: String,
    /// The redundancy every segment is stored in.
    pub redundancy: Redundancy,
    /// When it began.
    pub created_at: u64,
    /// When it is abandoned unless committed.
    pub expires_at: u64,
}

/// An open upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// Its id.
    pub id: ObjectId,
    /// The account uploading.
    pub account: AccountId,
    /// The object's encrypted path.
    pub path: String,
    /// The redundancy every segment is stored in.
    pub redundancy: Redundancy,
    /// When it began.
    pub created_at: u64,
    /// When it is abandoned unless committed.
    pub expires_at: u64,
    /// Segments committed so far, ascending.
    pub committed_segments: Vec<u32>,
}

/// One piece: a copy of a fragment of a segment, on a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiecePlacement {
    /// The segment's index.
    pub segment: u32,
    /// The fragment's index.
    pub fragment: u16,
    /// BLAKE3 of the piece.
    pub hash: PieceHash,
    /// Its size in bytes.
    pub size: u64,
    /// The peer holding it (or given a put order for it).
    pub peer: PeerId,
}

/// A segment's stored pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCommit {
    /// The segment's index.
    pub index: u32,
    /// Every fragment's size.
    pub piece_size: u64,
    /// The pieces, vouched for by their peers.
    pub pieces: Vec<PiecePlacement>,
}

/// What committing an upload adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitObject {
    /// Sealed metadata.
    pub metadata: Vec<u8>,
    /// Stored size in bytes.
    pub size: u64,
    /// Segments the object has (all must be committed).
    pub segment_count: u32,
}

/// A committed object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Encrypted path.
    pub path: String,
    /// Stored size.
    pub size: u64,
    /// When committed.
    pub committed_at: u64,
    /// Sealed metadata.
    pub metadata: Vec<u8>,
}

/// One entry of a one-level listing ([`crate::store::MetadataStore::list_level`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelEntry {
    /// A committed object directly under the prefix.
    Object(ObjectSummary),
    /// A sub-folder prefix (the listed prefix, one component, `/`) holding deeper objects.
    Folder(String),
}

/// A committed segment and its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSegment {
    /// Its index.
    pub index: u32,
    /// Every fragment's size.
    pub piece_size: u64,
    /// Its pieces, by fragment then peer.
    pub pieces: Vec<PiecePlacement>,
    /// Peers whose piece of this segment is known to be damaged (a peer holds at most one
    /// piece of a segment).
    pub corrupt: Vec<PeerId>,
}

/// A committed segment with its object's id and redundancy, and all its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSegment {
    /// The object it belongs to.
    pub object: ObjectId,
    /// The object's redundancy.
    pub redundancy: Redundancy,
    /// The segment, with all its pieces.
    pub segment: StoredSegment,
}

/// A peer's audit record after one more audit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuditTally {
    /// Audits passed, ever.
    pub passed: u64,
    /// Audits failed, ever.
    pub failed: u64,
    /// Failures since the last pass.
    pub failed_in_a_row: u32,
    /// Exponentially weighted share of recent audits passed, in `[0, 1]`.
    pub score: f64,
}

/// A committed object with everything needed to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Its id.
    pub id: ObjectId,
    /// Encrypted path.
    pub path: String,
    /// Its redundancy.
    pub redundancy: Redundancy,
    /// Sealed metadata.
    pub metadata: Vec<u8>,
    /// Stored size.
    pub size: u64,
    /// When committed.
    pub committed_at: u64,
    /// Segments in order.
    pub segments: Vec<StoredSegment>,
}

/// Counts across the store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Peers per state (states without peers omitted).
    pub peers_by_state: Vec<(PeerState, u64)>,
    /// Accounts.
    pub accounts: u64,
    /// Committed objects.
    pub objects: u64,
    /// Bytes those objects store.
    pub bytes: u64,
    /// Pieces recorded for committed objects and open uploads.
    pub pieces: u64,
    /// Open uploads.
    pub pending_uploads: u64,
}

/// What the records place on one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerUsage {
    /// Bytes of the pieces recorded on it.
    pub bytes: u64,
    /// How many pieces.
    pub pieces: u64,
    /// Deletions queued for it and not yet confirmed.
    pub pending_deletes: u64,
}

/// A peer's address as the store keeps it (text, checked at registration), ready to dial;
/// text that does not parse is an unreadable record.
pub fn peer_addr(text: &str) -> Result<PeerAddr, StoreError> {
    PeerAddr::parse(text).map_err(|e| StoreError::Corrupt(format!("peer address {text:?}: {e}")))
}

/// A record given back to a store that forgot it ([`super::RecoveryStore::import_objects`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedObject {
    /// The object's id.
    pub id: ObjectId,
    /// Its encrypted path.
    pub path: String,
    /// Its redundancy.
    pub redundancy: Redundancy,
    /// Stored size in bytes.
    pub size: u64,
    /// Sealed metadata.
    pub metadata: Vec<u8>,
    /// Its segments, each with every fragment's hash.
    pub segments: Vec<ImportedSegment>,
}

/// One segment of an [`ImportedObject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedSegment {
    /// The segment's index.
    pub index: u32,
    /// Every fragment's size.
    pub piece_size: u64,
    /// Every fragment's hash, data fragments first.
    pub fragments: Vec<PieceHash>,
}

/// What became of a record given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportState {
    /// Recorded as a committed object.
    Imported,
    /// The store has this object already; nothing changed.
    Known,
    /// Another object holds its path; nothing changed.
    Taken,
}

/// The outcome of [`super::RecoveryStore::import_objects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// What became of it.
    pub state: ImportState,
    /// Pieces placed on peers that reported holding them.
    pub placed: u64,
    /// Fragments awaited (no peer reported them yet).
    pub awaited: u64,
}
