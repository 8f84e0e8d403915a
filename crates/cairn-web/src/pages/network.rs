//! The Network page: the peers the pool knows, their states and space, and the repairs and
//! moves under way.

use axum::extract::State;
use axum::response::IntoResponse;
use cairn_proto::PeerState;
use maud::html;

use super::{Section, human, layout};
use crate::routes::{Page, gate};
use crate::state::AppState;

fn state_word(state: PeerState) -> (&'static str, &'static str) {
    match state {
        PeerState::Online => ("online", "good"),
        PeerState::Suspect => ("slow to answer", "warn"),
        PeerState::Offline => ("offline", "warn"),
        PeerState::Lost => ("lost", "bad"),
        PeerState::Draining => ("leaving", "warn"),
        PeerState::Left => ("left", "bad"),
        PeerState::Disqualified => ("disqualified", "bad"),
    }
}

/// `GET /network`.
pub(crate) async fn network(State(state): State<AppState>) -> Page {
    let drive = gate(&state)?;
    let (network, health) = tokio::join!(drive.network(), drive.health());
    let (network, health) = (network?, health?);
    let online = network
        .peers
        .iter()
        .filter(|p| p.state == PeerState::Online)
        .count();
    let capacity: u64 = network.peers.iter().map(|p| p.capacity).sum();
    let used: u64 = network.peers.iter().map(|p| p.used).sum();
    let files = health.objects;
    let body = html! {
        h1 { "Network" }
        section class="summary" aria-label="Summary" {
            div class="stat" { span class="figure" data-online=(online) { (online) " of " (network.peers.len()) } span { "peers online" } }
            div class="stat" { span class="figure" { (human(used)) " of " (human(capacity)) } span { "space used" } }
            div class="stat" { span class="figure" data-repairs=(network.repair_queue) { (network.repair_queue) } span { "segments below full redundancy" } }
            div class="stat" { span class="figure" { (network.repairs_in_flight) } span { "being repaired now" } }
            div class="stat" { span class="figure" { (network.migrations_in_flight) } span { "pieces moving between peers" } }
        }
        section aria-labelledby="mine" {
            h2 id="mine" { "Your files" }
            p {
                (files) " files and folders stored; " (health.full) " at full redundancy, "
                (health.degraded.len()) " degraded, " (health.unreadable.len()) " unreadable."
            }
            @if !health.degraded.is_empty() || !health.unreadable.is_empty() {
                ul class="problems" {
                    @for path in &health.unreadable { li { a href=(super::href("/file", path)) { (path.to_string()) } " — unreadable now" } }
                    @for path in &health.degraded { li { a href=(super::href("/file", path)) { (path.to_string()) } " — degraded, being repaired" } }
                }
            }
        }
        @if let Some(mount) = state.dav() {
            section class="dav" aria-labelledby="dav-title" {
                h2 id="dav-title" { "Your drive as a network folder" }
                p {
                    "Finder, Windows Explorer, GNOME Files and rclone can open your drive as a folder "
                    "while Cairn runs: connect to this WebDAV address (its last part is this run's secret)."
                }
                div class="link-box" {
                    label for="dav-address" { "WebDAV address" }
                    input id="dav-address" class="link" type="text" readonly spellcheck="false"
                        value={ "http://" (state.addr()) (mount.path()) };
                    button type="button" data-copy="dav-address" { "Copy address" }
                }
            }
        }
        section aria-labelledby="peers" {
            h2 id="peers" { "Peers" }
            p class="hint" { "Pool " code { (network.pool.to_string().get(..16).unwrap_or("")) } " — each peer lends disk and holds encrypted pieces it cannot read." }
            table class="peers" {
                caption class="visually-hidden" { "Peers of the pool" }
                thead { tr {
                    th scope="col" { "Peer" } th scope="col" { "State" } th scope="col" { "Space used" }
                    th scope="col" { "Pieces" } th scope="col" { "Audits" } th scope="col" { "Zone" }
                } }
                tbody {
                    @for peer in &network.peers {
                        @let (word, class) = state_word(peer.state);
                        @let share = if peer.capacity > 0 { peer.used as f64 / peer.capacity as f64 } else { 0.0 };
                        tr data-peer=(peer.peer.to_string()) data-state=(word) {
                            td { code { (peer.peer.to_string().get(..16).unwrap_or("")) } br; span class="hint" { (peer.address.to_string()) } }
                            td class={ "state " (class) } { (word) }
                            td {
                                (human(peer.used)) " of " (human(peer.capacity))
                                meter min="0" max="1" value=(format!("{share:.3}")) aria-label="Share of its space used" {}
                            }
                            td { (peer.piece_count) }
                            td { (format!("{:.0}%", peer.audit_score * 100.0)) }
                            td { (peer.zone.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Network", Section::Network, None, body).into_response())
}
