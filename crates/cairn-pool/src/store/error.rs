//! Why the metadata store refused or failed.

/// A store operation's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist (for this account).
    #[error("{0} not found")]
    NotFound(String),
    /// The target already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// An upload is committed before all its segments are.
    #[error("segments {missing:?} are not committed yet")]
    Incomplete {
        /// Segment indexes still missing (or extra ones that should not be there).
        missing: Vec<u32>,
    },
    /// The current state does not allow the change.
    #[error("{0}")]
    Conflict(String),
    /// A stored row cannot be decoded.
    #[error("the metadata store holds an unreadable record: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(String),
    /// The database was written by a newer version of Cairn.
    #[error(
        "the metadata store has schema version {found}, newer than this pool knows ({known}); upgrade the pool"
    )]
    SchemaTooNew {
        /// Version found.
        found: u32,
        /// Newest version known.
        known: u32,
    },
}
