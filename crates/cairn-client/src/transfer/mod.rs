//! The transfer layer: moving one object's bytes between this device and the peers, with
//! the pool handing out placements and orders. It knows encrypted paths and sealed records,
//! never readable names or folders — those are the namespace's ([`crate::drive`]), which
//! owns a [`Transfers`] and calls down into it, never the other way round.
//!
//! - `upload.rs`: one object from a file or any reader, a segment or two in flight;
//! - `download.rs`: a byte range of one object, the fastest `k` pieces per segment;
//! - `handle.rs`: an open object for random reads, sources fetched per range and reused;
//! - `prefetch.rs`: the first pieces of many small files, a request per peer;
//! - `landing.rs`: small downloaded files made durable a group at a time;
//! - `resume.rs`: an upload's journal in the home, so an interrupted one goes on.

use std::sync::Arc;
use std::time::Duration;

use cairn_core::{MasterSecret, MetadataKey, RedundancyPolicy, RemotePath};
use cairn_proto::api::ObjectSources;

use crate::entry::{self, Entry};
use crate::error::{ClientError, ClientResult};
use crate::intents::Intents;
use crate::peer::{PeerClient, PeerTransport};
use crate::pool::PoolClient;
use resume::Journals;

pub(crate) mod download;
pub mod handle;
pub(crate) mod landing;
pub(crate) mod prefetch;
pub(crate) mod resume;
pub(crate) mod upload;

pub(crate) use download::Readable;
pub use handle::FileHandle;
pub(crate) use upload::Source;

/// How a drive stores and fetches.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// Redundancy asked of the pool for new files.
    pub redundancy: RedundancyPolicy,
    /// Plaintext bytes per segment: large enough for fast erasure coding, small enough that
    /// a few segments in flight stay well under the memory bound.
    pub segment_size: u32,
    /// How long a piece transfer may lag before another peer is raced against it.
    pub hedge_after: Duration,
    /// Large files (a segment or more) moved at once by tree operations; smaller files
    /// share the same memory budget, up to 64 times as many at once (see `flight.rs`).
    pub concurrency: usize,
}

impl Default for DriveOptions {
    fn default() -> Self {
        Self {
            redundancy: RedundancyPolicy::Auto,
            segment_size: 16 * 1024 * 1024,
            hedge_after: Duration::from_secs(2),
            concurrency: 8,
        }
    }
}

/// What moves objects: the account's signed pool client, the transport to peers, the key
/// that seals and opens records, and how to store. Cheap to share by reference.
pub struct Transfers {
    pool: PoolClient,
    peers: Arc<dyn PeerTransport>,
    metadata_key: MetadataKey,
    options: DriveOptions,
    /// Where each commit is journaled before it is asked (`intents.rs`; a no-op without
    /// a home).
    intents: Arc<Intents>,
    /// Where uploads of many segments keep their journals (`resume.rs`; none without a
    /// home).
    journals: Journals,
}

impl Transfers {
    /// Transfers on the pool at `pool` for the account of `secret`.
    pub fn new(pool: &str, secret: &MasterSecret, options: DriveOptions) -> ClientResult<Self> {
        let intents = Arc::new(Intents::new(secret.ledger_key(), None));
        Self::journaling(pool, secret, options, intents, None)
    }

    /// Transfers that journal each commit in `intents` before asking it of the pool, and
    /// keep uploads' journals in `home`.
    pub(crate) fn journaling(
        pool: &str,
        secret: &MasterSecret,
        options: DriveOptions,
        intents: Arc<Intents>,
        home: Option<&std::path::Path>,
    ) -> ClientResult<Self> {
        Ok(Self {
            pool: PoolClient::new(pool, secret.account_key())?,
            peers: Arc::new(PeerClient::new().map_err(|e| ClientError::PoolUnreachable {
                url: pool.to_owned(),
                reason: e.to_string(),
            })?),
            metadata_key: secret.metadata_key(),
            options,
            intents,
            journals: Journals::new(home, secret.journal_key()),
        })
    }

    /// The journal of changes about to be made at the pool.
    pub(crate) fn intents(&self) -> &Intents {
        &self.intents
    }

    /// How objects are stored and fetched.
    pub fn options(&self) -> &DriveOptions {
        &self.options
    }

    /// The account's signed pool client.
    pub fn pool(&self) -> &PoolClient {
        &self.pool
    }

    /// The transport to peers.
    pub(crate) fn peers(&self) -> &dyn PeerTransport {
        self.peers.as_ref()
    }

    pub(crate) fn metadata_key(&self) -> &MetadataKey {
        &self.metadata_key
    }

    /// A file from its record as the pool sent it (`remote` names it in errors).
    pub(crate) fn open_record(
        &self,
        remote: &RemotePath,
        sources: ObjectSources,
    ) -> ClientResult<Readable> {
        match entry::open(&self.metadata_key, &sources.metadata)? {
            Entry::File { object, metadata } => Ok(Readable {
                path: remote.clone(),
                object,
                metadata: *metadata,
                sources,
                prefetched: Default::default(),
            }),
            Entry::Folder => Err(ClientError::IsFolder(remote.clone())),
        }
    }
}
