//! Cairn's data path, pure: identifiers, the key hierarchy, segment sealing, erasure
//! coding, path encryption, object metadata and redundancy policy. No I/O and no clock —
//! randomness comes in as an argument — so every role can use it and tests drive it fully.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod aead;
pub mod batch;
mod encoding;
pub mod erasure;
pub mod id;
pub mod journal;
pub mod keys;
pub mod ledger;
pub mod metadata;
pub mod path;
pub mod phrase;
pub mod policy;
pub mod pubkey;
pub mod seal;
pub mod segment;
pub mod share;
pub mod wrap;

pub use encoding::DecodeError;
pub use erasure::{ErasureCodec, ErasureError};
pub use id::{
    AccountId, ContentHash, FragmentIndex, IdParseError, ObjectId, PeerId, PieceHash, PoolId,
    SegmentIndex, ShareId,
};
pub use journal::JournalError;
pub use keys::{
    AccountKey, FileKey, JournalKey, LedgerKey, LinkKey, MasterSecret, MetadataKey, PathKey,
    ShareSecret,
};
pub use ledger::{LedgerEntry, LedgerError, LedgerOp, Locator};
pub use metadata::{MetadataError, ObjectMetadata, SegmentRecord, Timestamp};
pub use path::{EncryptedPath, Name, PathCipher, PathDecryptError, PathError, RemotePath};
pub use phrase::{PhraseError, RecoveryPhrase};
pub use policy::{PolicyError, Redundancy, RedundancyPolicy};
pub use seal::{SealError, SegmentCipher};
pub use segment::{EncodedSegment, LayoutError, ObjectCodec, SegmentError, SegmentLayout};
pub use share::{Link, Manifest, ShareError, ShareKeys, SharedFile};
pub use wrap::{KdfParams, WrapError, WrappedSecret};
