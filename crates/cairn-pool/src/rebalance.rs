//! Rebalancing: pieces move off draining peers, off peers over their capacity, and from the
//! most to the least utilised online peers until utilisation is within a tolerance; and
//! segments crowded into one failure domain spread into domains they do not use yet. Each
//! move is a migration job on the repair machinery — copy to the target, switch the record,
//! delete at the source — so it never breaks distinct-peer placement or narrows a
//! segment's spread, and at most `max_migrations` run at once. A draining peer whose pieces
//! are all gone (and deleted) has left.

mod plan;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_core::PeerId;

pub use plan::{Load, Reason, imbalance, sources, target, widen};

use crate::app::App;
use crate::counters::Counters;
use crate::placement;
use crate::repair::{self, JobKind, Plan};
use crate::state::PeerState;
use crate::store::{MetadataStore, ObjectId, ObjectSegment, StoreError};

/// Segments looked at per source peer per pass.
const SEGMENTS_PER_SOURCE: u32 = 256;
/// Segments checked for spread per pass.
const SPREAD_PAGE: u32 = 256;

/// The rebalancer's memory between passes.
#[derive(Debug, Default)]
pub struct Rebalancer {
    /// Where the spread check stopped.
    cursor: Mutex<Option<(ObjectId, u32)>>,
}

/// One rebalancing pass.
pub async fn pass<S: MetadataStore>(app: &Arc<App<S>>) -> Result<(), StoreError> {
    // Segments read below must not be planned from records a finishing job is swapping.
    let _planning = app.repairs.planning().await;
    let records = app.store.peers().await?;
    let usage = app.store.peer_usage().await?;
    let now = app.now_ms();
    let fresh_ms = cairn_proto::clock::duration_ms(app.config.timers.heartbeat_interval * 2);
    for peer in records.iter().filter(|p| p.state == PeerState::Draining) {
        let left = usage
            .get(&peer.id)
            .is_none_or(|u| u.pieces == 0 && u.pending_deletes == 0);
        if left && app.repairs.migrations_from(peer.id) == 0 {
            app.store
                .set_peer_state(peer.id, PeerState::Left, app.now_ms())
                .await?;
            Counters::add(&app.counters.peers_left, 1);
            tracing::info!(peer = %peer.id, "peer drained and left");
        }
    }
    let mut loads: HashMap<PeerId, Load> = records
        .iter()
        .filter(|p| matches!(p.state, PeerState::Online | PeerState::Draining))
        // A peer that missed its last heartbeats may be gone already: moving pieces off it
        // or onto it would only fail; the health timers will tell.
        .filter(|p| now.saturating_sub(p.last_heartbeat) <= fresh_ms)
        .map(|p| {
            (
                p.id,
                Load {
                    id: p.id,
                    domain: placement::failure_domain(p.zone.as_deref(), &p.address),
                    capacity: p.capacity,
                    bytes: usage.get(&p.id).map_or(0, |u| u.bytes),
                    state: p.state,
                },
            )
        })
        .collect();
    let addresses: HashMap<PeerId, String> =
        records.iter().map(|p| (p.id, p.address.clone())).collect();
    let mut budget = app
        .config
        .max_migrations
        .saturating_sub(app.repairs.migrations_in_flight() as usize);
    for (source, reason) in sources(&loads, app.config.rebalance_tolerance) {
        if budget == 0 {
            return Ok(());
        }
        let mut segments = app
            .store
            .segments_on_peer(source, SEGMENTS_PER_SOURCE)
            .await?;
        // Largest pieces first: a migration moves as many bytes as it can (a page may hold
        // many tiny pieces, such as the accounts' ledgers).
        segments.sort_by_key(|s| std::cmp::Reverse(s.segment.piece_size));
        for segment in segments {
            if budget == 0 {
                break;
            }
            if reason == Reason::Balance
                && imbalance(&loads).is_none_or(|(fullest, spread)| {
                    fullest != source || spread <= app.config.rebalance_tolerance
                })
            {
                break;
            }
            if app.repairs.is_busy(segment.object, segment.segment.index) {
                continue;
            }
            let size = segment.segment.piece_size;
            let Some(to) = target(&segment.segment, source, size, &loads, reason) else {
                continue;
            };
            if migrate(app, &segment, source, to, &addresses) {
                budget -= 1;
                if let Some(l) = loads.get_mut(&source) {
                    l.bytes = l.bytes.saturating_sub(size);
                }
                if let Some(l) = loads.get_mut(&to) {
                    l.bytes += size;
                }
            }
        }
    }
    if budget > 0 {
        spread(app, &mut loads, &addresses, budget).await?;
    }
    Ok(())
}

/// Widens crowded segments, a page of the store per pass, round and round.
async fn spread<S: MetadataStore>(
    app: &Arc<App<S>>,
    loads: &mut HashMap<PeerId, Load>,
    addresses: &HashMap<PeerId, String>,
    mut budget: usize,
) -> Result<(), StoreError> {
    let after = *app
        .rebalance
        .cursor
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let page = app.store.segments_after(after, SPREAD_PAGE).await?;
    let next = page.last().map(|s| (s.object, s.segment.index));
    *app.rebalance
        .cursor
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = next;
    for segment in page {
        if budget == 0 {
            break;
        }
        if app.repairs.is_busy(segment.object, segment.segment.index) {
            continue;
        }
        if let Some((from, to)) = widen(&segment.segment, loads)
            && migrate(app, &segment, from, to, addresses)
        {
            budget -= 1;
            let size = segment.segment.piece_size;
            if let Some(l) = loads.get_mut(&to) {
                l.bytes += size;
            }
        }
    }
    Ok(())
}

/// Dispatches the move of `segment`'s piece on `from` to `to`, run by `to`.
fn migrate<S>(
    app: &App<S>,
    segment: &ObjectSegment,
    from: PeerId,
    to: PeerId,
    addresses: &HashMap<PeerId, String>,
) -> bool {
    let Some(piece) = segment.segment.pieces.iter().find(|p| p.peer == from) else {
        return false;
    };
    let plan = Plan {
        object: segment.object,
        index: segment.segment.index,
        redundancy: segment.redundancy,
        piece_size: segment.segment.piece_size,
        missing: vec![(piece.fragment, piece.hash)],
        sources: vec![piece.clone()],
        remove: vec![from],
        occupied: segment.segment.pieces.iter().map(|p| p.peer).collect(),
        margin: 0,
    };
    repair::dispatch(app, &plan, &[to], addresses, JobKind::Migration)
}
