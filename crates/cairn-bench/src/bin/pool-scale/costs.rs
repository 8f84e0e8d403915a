//! What the pool's store calls cost at this size, timed on the seeded store alone (no pool
//! running, nothing competing): the reads every begin and place make, the passes the
//! background loops run every heartbeat interval, and one heartbeat's transaction. These
//! explain the request figures and show which background work grows with the records.

use std::time::Instant;

use cairn_pool::store::{
    DeletionStore, HeartbeatStats, ObjectStore, PeerHealthUpdate, RegistryStore, RepairStore,
    SqliteStore,
};
use serde::Serialize;

use crate::fleet::Fleet;
use crate::seed::now_ms;

/// Tries per call; the median is reported (the first try also warms the page cache).
const TRIES: usize = 3;
/// Segments the repair checker reads per pass (`repair.rs`'s `SCAN_LIMIT`).
const REPAIR_SCAN: u32 = 10_000;
/// Segments the rebalancer's spreading cursor reads per pass (`rebalance.rs`'s `SPREAD_PAGE`).
const SPREAD_PAGE: u32 = 256;

/// One store call's median time.
#[derive(Debug, Clone, Serialize)]
pub struct QueryCost {
    /// The store call.
    pub call: String,
    /// Who makes it, and how often.
    pub made_by: String,
    /// Median milliseconds.
    pub ms: f64,
}

async fn time<T, F, Fut>(call: &str, made_by: &str, mut run: F) -> anyhow::Result<QueryCost>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, cairn_pool::store::StoreError>>,
{
    let mut times = Vec::with_capacity(TRIES);
    for _ in 0..TRIES {
        let started = Instant::now();
        run().await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(QueryCost {
        call: call.to_owned(),
        made_by: made_by.to_owned(),
        ms: times[TRIES / 2],
    })
}

/// Times the store calls that matter at scale.
pub async fn measure(store: &SqliteStore, fleet: &Fleet) -> anyhow::Result<Vec<QueryCost>> {
    let peer = fleet.peers.first().map(|p| (p.id, p.heartbeat()));
    let account = fleet.account_ids().first().copied();
    let mut costs = vec![
        time(
            "peers()",
            "each begin and each place (once); status",
            || store.peers(),
        )
        .await?,
        time(
            "damaged_segments(10000)",
            "repair checker, every heartbeat interval",
            || store.damaged_segments(REPAIR_SCAN),
        )
        .await?,
        time(
            "peer_usage()",
            "rebalancer, every heartbeat interval",
            || store.peer_usage(),
        )
        .await?,
        time(
            "segments_after(256)",
            "rebalancer's spreading cursor, every heartbeat interval",
            || store.segments_after(None, SPREAD_PAGE),
        )
        .await?,
        time("stats()", "GET /v1/status, /metrics", || store.stats()).await?,
        time("degraded_segments()", "GET /v1/status, /metrics", || {
            store.degraded_segments()
        })
        .await?,
    ];
    let records = store.peers().await?;
    let updates: Vec<PeerHealthUpdate> = records
        .iter()
        .map(|p| PeerHealthUpdate {
            id: p.id,
            state: p.state,
            state_since: p.state_since,
            availability: p.availability,
            read_state: p.state,
            read_heartbeat: p.last_heartbeat,
        })
        .collect();
    costs.push(
        time(
            &format!("update_health({} peers)", updates.len()),
            "health loop, every half heartbeat interval",
            || store.update_health(updates.clone()),
        )
        .await?,
    );
    if let Some(account) = account {
        costs.push(
            time(
                "account_usage(one account)",
                "a place whose quota bound cannot decide (first after a start, near the quota)",
                || store.account_usage(account),
            )
            .await?,
        );
    }
    if let Some((id, beat)) = peer {
        costs.push(
            time("pieces_on_peer(one peer)", "each registration", || {
                store.pieces_on_peer(id)
            })
            .await?,
        );
        let stats = HeartbeatStats {
            used: beat.used,
            piece_count: beat.piece_count,
            load: beat.load,
        };
        costs.push(
            time(
                "heartbeat(one peer)",
                "each heartbeat (a write, fsync)",
                || store.heartbeat(id, stats, now_ms()),
            )
            .await?,
        );
        costs.push(
            time("pending_deletes(one peer)", "each heartbeat", || {
                store.pending_deletes(id, 1000)
            })
            .await?,
        );
    }
    Ok(costs)
}
