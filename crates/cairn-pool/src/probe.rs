//! Round-trip probes: the pool asks a peer for its status, checks that the answer comes
//! from that peer, and folds the time it took into the peer's round-trip estimate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::PeerId;
use cairn_proto::PeerAddr;

use crate::app::App;
use crate::health::next_rtt;
use crate::store::MetadataStore;

/// How long a probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes `peer` at `address` in the background.
pub fn spawn_probe<S: MetadataStore>(app: Arc<App<S>>, peer: PeerId, address: PeerAddr) {
    tokio::spawn(async move {
        if let Err(why) = probe(&app, peer, &address).await {
            tracing::warn!(peer = %peer, %address, "peer did not answer a probe: {why}");
        }
    });
}

/// Probes `peer` once and records its round-trip time.
pub async fn probe<S: MetadataStore>(
    app: &App<S>,
    peer: PeerId,
    address: &PeerAddr,
) -> Result<f64, String> {
    let started = Instant::now();
    (app.peers)
        .status(peer, address, PROBE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let sample = started.elapsed().as_secs_f64() * 1000.0;
    let previous = app
        .store
        .peer(peer)
        .await
        .ok()
        .flatten()
        .and_then(|p| p.rtt_ms);
    let rtt = next_rtt(previous, sample).unwrap_or(sample);
    app.store
        .set_peer_rtt(peer, rtt)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rtt)
}
