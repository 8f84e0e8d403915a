//! The pool's metadata store behind one trait, [`MetadataStore`], made of one trait per
//! area: the peer registry ([`RegistryStore`]), the object index of accounts, uploads and
//! objects with their segments and pieces ([`ObjectStore`]), repair and migration
//! ([`RepairStore`]), the queue of pieces peers should delete ([`DeletionStore`]), and what
//! peers hold that the records do not place, for giving forgotten records back
//! ([`RecoveryStore`]), and shares left for links ([`ShareStore`]).
//! The store stores and queries; judgements (how scores move, where they start) are the
//! pool's, given to a backend as data (`scoring::PeerScoring`).
//!
//! Every method that changes several rows is one transaction. Times are arguments (Unix
//! milliseconds), never read from a clock. [`SqliteStore`] is the embedded default; a
//! PostgreSQL backend implements the same trait and passes the same
//! conformance suite (`store::conformance`, public behind the `conformance` feature: a
//! backend crate runs every case with `cairn_pool::store_conformance_tests!(make)`).

mod deletions;
mod error;
mod model;
mod objects;
mod recovery;
mod registry;
mod repair;
mod shares;
mod sqlite;

// A test suite: a failed case panics, as a test does.
#[cfg(any(test, feature = "conformance"))]
#[allow(clippy::unwrap_used)]
pub mod conformance;

pub use cairn_core::ObjectId;
pub use deletions::DeletionStore;
pub use error::StoreError;
pub use model::{
    AuditTally, CommitObject, HeartbeatStats, ImportState, Imported, ImportedObject,
    ImportedSegment, IndexMark, LevelEntry, NewUpload, ObjectRecord, ObjectSegment, ObjectSummary,
    PeerHealthUpdate, PeerRecord, PeerRegistration, PeerUsage, PiecePlacement, SegmentCommit,
    StoreStats, StoredSegment, UploadRecord, peer_addr,
};
pub use objects::ObjectStore;
pub use recovery::RecoveryStore;
pub use registry::RegistryStore;
pub use repair::RepairStore;
pub use shares::{KEPT_FOLDER, NewShare, ShareRecord, ShareState, ShareStore};
pub use sqlite::SqliteStore;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The pool's persistence: every area's trait. A backend implements the six; this trait
/// follows (a blanket implementation), so callers keep asking for `S: MetadataStore`. See
/// the module documentation for the rules every backend keeps.
pub trait MetadataStore:
    RegistryStore + ObjectStore + RepairStore + DeletionStore + RecoveryStore + ShareStore
{
}

impl<T> MetadataStore for T where
    T: RegistryStore + ObjectStore + RepairStore + DeletionStore + RecoveryStore + ShareStore
{
}
