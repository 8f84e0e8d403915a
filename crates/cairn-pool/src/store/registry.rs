//! The metadata store's peer registry: the [`RegistryStore`] trait.

use cairn_core::PeerId;

use super::*;
use crate::state::PeerState;

/// The peer registry: registrations, heartbeats, health states and scores, and audit
/// tallies.
///
/// One part of [`MetadataStore`]; the module documentation of `store` has the rules
/// every backend keeps.
pub trait RegistryStore: Send + Sync + 'static {
    /// Registers a peer or updates its registration: address, zone and usage are replaced
    /// and its last heartbeat is `now`. A new peer starts `online`; a known one returns to
    /// `online` unless it is `disqualified`, which it stays.
    fn register_peer(
        &self,
        registration: PeerRegistration,
        now: u64,
    ) -> impl Future<Output = StoreResult<PeerRecord>> + Send;

    /// Records a heartbeat: usage and `now`. A `suspect`, `offline` or `lost` peer is
    /// `online` again; other states stay. [`StoreError::NotFound`] for an unknown peer.
    fn heartbeat(
        &self,
        id: PeerId,
        stats: HeartbeatStats,
        now: u64,
    ) -> impl Future<Output = StoreResult<PeerRecord>> + Send;

    /// One peer.
    fn peer(&self, id: PeerId) -> impl Future<Output = StoreResult<Option<PeerRecord>>> + Send;

    /// Every peer, by id.
    fn peers(&self) -> impl Future<Output = StoreResult<Vec<PeerRecord>>> + Send;

    /// Writes a health tick's states and scores, in one transaction; unknown ids are
    /// skipped, and so is the state of a peer heard from (or moved) since the tick read it.
    fn update_health(
        &self,
        updates: Vec<PeerHealthUpdate>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records a peer's round-trip estimate.
    fn set_peer_rtt(&self, id: PeerId, rtt_ms: f64)
    -> impl Future<Output = StoreResult<()>> + Send;

    /// Puts a peer in `state` (since `now` if it changes).
    fn set_peer_state(
        &self,
        id: PeerId,
        state: PeerState,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Which index of records this is and its generation (see [`IndexMark`]). Peers that
    /// meet another index, or a lower generation than they saw, keep every piece they held,
    /// since the pool may have forgotten them.
    fn index_mark(&self) -> impl Future<Output = StoreResult<IndexMark>> + Send;

    /// Counts one audit of `peer` (passed or failed) and returns its tally.
    /// [`StoreError::NotFound`] for an unknown peer.
    fn record_audit(
        &self,
        peer: PeerId,
        passed: bool,
    ) -> impl Future<Output = StoreResult<AuditTally>> + Send;
}
