//! The peer registry: registration with an inventory check, heartbeats that carry delete
//! orders and repair jobs back, draining, and peers' reports on the repair jobs they ran.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_core::PeerId;
use cairn_core::ledger::Locator;
use cairn_proto::api::{Heartbeat, HeartbeatAck, PeerRegistered, RegisterPeer, RepairReport};
use cairn_proto::limits::{MAX_PEER_ADDRESS_LEN, MAX_ZONE_LEN};
use cairn_proto::{Holder, OrderAction, PeerState};

use super::{Invalid, duration_ms};
use crate::app::{App, SignError};
use crate::counters::Counters;
use crate::probe;
use crate::repair::{self, RepairError};
use crate::store::{HeartbeatStats, MetadataStore, PeerRegistration, StoreError};

/// Most delete orders sent with one heartbeat answer.
const DELETES_PER_HEARTBEAT: u32 = 1000;

/// Why a peer's request was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The request does not fit the protocol (an address, a zone).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The peer was disqualified after failed audits.
    #[error("this peer was disqualified by the pool after failed audits")]
    Disqualified,
    /// A heartbeat from a peer the pool has no record of.
    #[error("the pool does not know this peer; register first")]
    NotRegistered,
    /// A request from a peer the pool has no record of.
    #[error("the pool does not know this peer")]
    NotFound,
    /// A repair report the pool cannot take.
    #[error(transparent)]
    Repair(#[from] RepairError),
    /// The metadata store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An order could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Checks a peer's advertised base URL: `http://host:port` with nothing after it.
fn check_address(address: &str) -> Result<(), Invalid> {
    let bad = |why: &str| Invalid(format!("the peer address {address:?} {why}"));
    if address.len() > MAX_PEER_ADDRESS_LEN {
        return Err(bad("is too long"));
    }
    let rest = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) || !rest.is_ascii() {
        return Err(bad("must be a bare http://host:port base URL"));
    }
    Ok(())
}

fn check_zone(zone: Option<&str>) -> Result<(), Invalid> {
    if let Some(zone) = zone
        && (zone.is_empty()
            || zone.len() > MAX_ZONE_LEN
            || !zone.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(Invalid(format!(
            "the zone {zone:?} must be 1 to {MAX_ZONE_LEN} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

fn refuse_if_gone(state: PeerState) -> Result<(), PeerError> {
    match state {
        PeerState::Disqualified => Err(PeerError::Disqualified),
        _ => Ok(()),
    }
}

/// The peer registry over a pool's state.
pub struct Registry<'a, S> {
    app: &'a Arc<App<S>>,
}

impl<'a, S: MetadataStore> Registry<'a, S> {
    /// The registry over `app`.
    pub fn new(app: &'a Arc<App<S>>) -> Self {
        Self { app }
    }

    /// Registers peer `id` (again): records its address, zone and capacity, marks damaged
    /// the pieces the records place on it that it no longer holds, starts a probe of its
    /// address, and names the pieces it holds that the pool does not know.
    pub async fn register(
        &self,
        id: PeerId,
        body: RegisterPeer,
    ) -> Result<PeerRegistered, PeerError> {
        let app = self.app;
        check_address(body.address.as_str())?;
        check_zone(body.zone.as_deref())?;
        let now = app.now_ms();
        let piece_count = body.pieces.len() as u64;
        let record = app
            .store
            .register_peer(
                PeerRegistration {
                    id,
                    address: body.address.to_string(),
                    zone: body.zone.clone(),
                    capacity: body.capacity,
                    used: body.used,
                    piece_count,
                },
                now,
            )
            .await?;
        refuse_if_gone(record.state)?;
        let known: HashSet<_> = app.store.pieces_on_peer(id).await?.into_iter().collect();
        let held: HashSet<_> = body.pieces.iter().copied().collect();
        let unknown_pieces: Vec<_> = body
            .pieces
            .iter()
            .copied()
            .filter(|p| !known.contains(p))
            .collect();
        // Pieces the records place on this peer that it no longer holds (a disk replaced or
        // damaged while it was away) are gone: marking them damaged has them rebuilt
        // elsewhere. (Pieces only placed for an open upload are not in the records yet and
        // stay alone.)
        let mut missing = 0u64;
        for piece in known.iter().filter(|p| !held.contains(p)) {
            missing += app.store.mark_corrupt(id, *piece).await?;
        }
        if missing > 0 {
            tracing::warn!(peer = %id, missing, "peer re-registered without pieces it held; they will be rebuilt");
            Counters::add(&app.counters.pieces_marked_corrupt, missing);
        }
        // What it holds that the records do not place is remembered: a record given back
        // later finds its pieces there, and one given back already takes them now.
        let ledger = body
            .ledger
            .iter()
            .filter_map(|l| Locator::parse(&l.locator).map(|loc| (*loc.as_bytes(), l.hash, l.size)))
            .collect();
        let folded = app
            .store
            .record_held(id, unknown_pieces.clone(), ledger)
            .await?;
        if folded > 0 {
            tracing::info!(peer = %id, pieces = folded, "pieces of records given back were found on a peer that came back");
        }
        tracing::info!(peer = %id, address = %body.address, zone = ?body.zone, pieces = piece_count, "peer registered");
        let index = app.index_mark().await?.to_wire();
        probe::spawn_probe(app.clone(), id, body.address);
        Ok(PeerRegistered {
            pool: app.pool_id(),
            peer: id,
            state: record.state,
            heartbeat_interval_ms: duration_ms(app.config.timers.heartbeat_interval),
            unknown_pieces,
            index: Some(index),
        })
    }

    /// Records peer `id`'s heartbeat and answers with its state, delete orders for pieces
    /// it should drop, and the repair jobs queued for it.
    pub async fn heartbeat(&self, id: PeerId, body: Heartbeat) -> Result<HeartbeatAck, PeerError> {
        let app = self.app;
        let now = app.now_ms();
        let stats = HeartbeatStats {
            used: body.used,
            piece_count: body.piece_count,
            load: body.load,
        };
        let record = match app.store.heartbeat(id, stats, now).await {
            Ok(record) => record,
            Err(StoreError::NotFound(_)) => return Err(PeerError::NotRegistered),
            Err(e) => return Err(e.into()),
        };
        // What it reported includes every piece placed on it a beat or two ago.
        let settle = 2 * duration_ms(app.config.timers.heartbeat_interval);
        app.reserved.reported(id, now, settle);
        refuse_if_gone(record.state)?;
        if !body.deleted.is_empty() {
            app.store.ack_deletes(id, body.deleted).await?;
        }
        let pending = app.store.pending_deletes(id, DELETES_PER_HEARTBEAT).await?;
        let expires_at = App::<S>::expiry(now, app.config.order_ttl);
        let delete = pending
            .into_iter()
            .map(|piece| {
                app.order(
                    id,
                    piece,
                    OrderAction::Delete,
                    0,
                    Holder::Peer(id),
                    expires_at,
                )
            })
            .collect::<Result<_, _>>()?;
        let index = app.index_mark().await?.to_wire();
        Ok(HeartbeatAck {
            state: record.state,
            delete,
            repairs: app.repairs.take_for(id),
            index: Some(index),
        })
    }

    /// Peer `id` wants to leave: it stops receiving new pieces. Asking again is harmless.
    pub async fn drain(&self, id: PeerId) -> Result<(), PeerError> {
        let app = self.app;
        let record = app.store.peer(id).await?.ok_or(PeerError::NotFound)?;
        refuse_if_gone(record.state)?;
        // A draining peer keeps draining, a departed one stays gone.
        if !matches!(record.state, PeerState::Draining | PeerState::Left) {
            app.store
                .set_peer_state(id, PeerState::Draining, app.now_ms())
                .await?;
            tracing::info!(peer = %id, "peer draining");
        }
        Ok(())
    }

    /// Peer `id`'s outcome of a repair job it ran; returns how many pieces were recorded.
    pub async fn repair_report(
        &self,
        id: PeerId,
        report: RepairReport,
    ) -> Result<usize, PeerError> {
        Ok(repair::report(self.app, id, report).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_bare_base_urls() {
        for good in [
            "http://127.0.0.1:7000",
            "https://peer.example:443",
            "http://[::1]:8",
        ] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:7000",
            "http://",
            "http://a/b",
            "ftp://a",
            "http://a b",
            "http://u@h",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
        assert!(check_address(&format!("http://{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn zones_are_short_and_printable() {
        assert!(check_zone(None).is_ok());
        assert!(check_zone(Some("eu-west-1")).is_ok());
        assert!(check_zone(Some("")).is_err());
        assert!(check_zone(Some("a b")).is_err());
        assert!(check_zone(Some(&"z".repeat(65))).is_err());
    }
}
