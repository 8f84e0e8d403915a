//! Public read-only endpoints: who the pool is, the network's state, and Prometheus metrics.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use cairn_proto::api::{NetworkStatus, PeerStatus, PoolInfo};
use cairn_proto::{PeerAddr, PeerState};

use crate::app::App;
use crate::error::ApiError;
use crate::store::MetadataStore;
use cairn_proto::clock::duration_ms;

/// `GET /v1/info`.
pub async fn info<S: MetadataStore>(State(app): State<Arc<App<S>>>) -> Json<PoolInfo> {
    // A store that cannot be read leaves the index out; clients then ask another time.
    let index = app.index_mark().await.ok().map(|mark| mark.to_wire());
    let availability = match crate::service::Uploads::new(&app).candidates().await {
        Ok((candidates, _)) if !candidates.is_empty() => {
            Some(crate::placement::mean_availability(&candidates))
        }
        _ => None,
    };
    Json(PoolInfo {
        index,
        pool: app.pool_id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        heartbeat_interval_ms: duration_ms(app.config.timers.heartbeat_interval),
        durability_target: app.config.durability_target,
        availability,
    })
}

/// `GET /v1/status`.
pub async fn status<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
) -> Result<Json<NetworkStatus>, ApiError> {
    let peers = app.store.peers().await?;
    let stats = app.store.stats().await?;
    let repair_queue = app.store.degraded_segments().await?;
    let index = app.store.index_mark().await?;
    Ok(Json(NetworkStatus {
        pool: app.pool_id(),
        peers: peers
            .into_iter()
            // A peer whose stored address is not one (none passes registration) is not listed.
            .filter_map(|p| {
                Some(PeerStatus {
                    peer: p.id,
                    address: PeerAddr::parse(&p.address).ok()?,
                    zone: p.zone,
                    state: p.state,
                    capacity: p.capacity,
                    used: p.used,
                    piece_count: p.piece_count,
                    availability: p.availability,
                    rtt_ms: p.rtt_ms,
                    last_heartbeat_ms: p.last_heartbeat,
                    audit_score: p.audit_score,
                    audits_passed: p.audits_passed,
                    audits_failed: p.audits_failed,
                })
            })
            .collect(),
        objects: stats.objects,
        bytes: stats.bytes,
        open_uploads: stats.pending_uploads,
        repair_queue,
        repairs_in_flight: app.repairs.in_flight(),
        migrations_in_flight: app.repairs.migrations_in_flight(),
        index: Some(index.to_wire()),
    }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics<S: MetadataStore>(
    State(app): State<Arc<App<S>>>,
) -> Result<impl IntoResponse, ApiError> {
    let peers = app.store.peers().await?;
    let stats = app.store.stats().await?;
    let repair_queue = app.store.degraded_segments().await?;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let by_state: Vec<(String, f64)> = PeerState::ALL
        .iter()
        .map(|state| {
            let count = peers.iter().filter(|p| p.state == *state).count();
            (format!("{{state=\"{state}\"}}"), count as f64)
        })
        .collect();
    gauge(
        "cairn_peers",
        "Peers known to the pool, by state.",
        &by_state,
    );
    let online = |p: &&crate::store::PeerRecord| p.state == PeerState::Online;
    let capacity: u64 = peers.iter().filter(online).map(|p| p.capacity).sum();
    let used: u64 = peers.iter().filter(online).map(|p| p.used).sum();
    gauge(
        "cairn_online_capacity_bytes",
        "Capacity offered by online peers.",
        &[(String::new(), capacity as f64)],
    );
    gauge(
        "cairn_online_used_bytes",
        "Bytes used on online peers.",
        &[(String::new(), used as f64)],
    );
    gauge(
        "cairn_accounts",
        "Accounts.",
        &[(String::new(), stats.accounts as f64)],
    );
    gauge(
        "cairn_objects",
        "Committed objects.",
        &[(String::new(), stats.objects as f64)],
    );
    gauge(
        "cairn_object_bytes",
        "Bytes stored by committed objects.",
        &[(String::new(), stats.bytes as f64)],
    );
    gauge(
        "cairn_pieces",
        "Pieces recorded.",
        &[(String::new(), stats.pieces as f64)],
    );
    gauge(
        "cairn_open_uploads",
        "Uploads begun and not yet committed or abandoned.",
        &[(String::new(), stats.pending_uploads as f64)],
    );
    gauge(
        "cairn_repair_queue",
        "Committed segments below full redundancy (some fragment has fewer than r pieces on online peers).",
        &[(String::new(), repair_queue as f64)],
    );
    gauge(
        "cairn_repairs_in_flight",
        "Repair jobs peers are running now.",
        &[(String::new(), app.repairs.in_flight() as f64)],
    );
    gauge(
        "cairn_migrations_in_flight",
        "Pieces moving between peers now.",
        &[(String::new(), app.repairs.migrations_in_flight() as f64)],
    );
    for (name, help, value) in app.counters.samples() {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
