//! `cairn status` and `cairn network`: how the user's files and the pool's peers stand.

use anyhow::Context;
use cairn_client::{FileStatus, Health, Home};
use cairn_core::RemotePath;
use cairn_proto::PeerState;
use cairn_proto::api::NetworkStatus;
use serde::Serialize;

use crate::session::{Global, human, runtime};

/// Options of `cairn status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A file: its redundancy and the state of every piece (default: the whole drive).
    path: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `cairn network`.
#[derive(Debug, clap::Args)]
pub struct NetworkArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Ask this pool instead of the home's.
    #[arg(long)]
    pool: Option<String>,
}

#[derive(Serialize)]
struct PieceJson {
    fragment: u16,
    peer: String,
    state: &'static str,
}

#[derive(Serialize)]
struct SegmentJson {
    index: u32,
    full_redundancy: bool,
    readable: bool,
    repairing: bool,
    pieces: Vec<PieceJson>,
}

#[derive(Serialize)]
struct FileJson {
    path: String,
    redundancy: String,
    size: u64,
    full_redundancy: bool,
    readable: bool,
    /// How durable its redundancy is on the network now, against the pool's target.
    #[serde(skip_serializing_if = "Option::is_none")]
    durability: Option<DurabilityJson>,
    segments: Vec<SegmentJson>,
}

/// `durability` of `cairn status PATH --json`: probabilities that a segment is readable.
#[derive(Debug, Serialize)]
struct DurabilityJson {
    survival: f64,
    target: f64,
    below_target: bool,
}

fn file_json(status: &FileStatus) -> FileJson {
    FileJson {
        path: status.path.to_string(),
        redundancy: status.redundancy.clone(),
        size: status.size,
        full_redundancy: status.full_redundancy(),
        readable: status.readable(),
        durability: status.durability.map(|d| DurabilityJson {
            survival: d.survival,
            target: d.target,
            below_target: !d.meets_target(),
        }),
        segments: status
            .segments
            .iter()
            .map(|s| SegmentJson {
                index: s.index,
                full_redundancy: s.full_redundancy,
                readable: s.readable,
                repairing: s.repairing,
                pieces: s
                    .pieces
                    .iter()
                    .map(|p| PieceJson {
                        fragment: p.fragment,
                        peer: p.peer.to_string(),
                        state: p.state.as_str(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct PeerJson {
    id: String,
    address: String,
    zone: Option<String>,
    state: &'static str,
    capacity_bytes: u64,
    used_bytes: u64,
    utilisation: f64,
    pieces: u64,
    availability: f64,
    rtt_ms: Option<f64>,
    audit_score: f64,
    audits_passed: u64,
    audits_failed: u64,
}

#[derive(Serialize)]
struct TotalsJson {
    peers: usize,
    online: usize,
    capacity_bytes: u64,
    used_bytes: u64,
    pieces: u64,
    objects: u64,
    stored_bytes: u64,
}

#[derive(Serialize)]
struct NetworkJson {
    pool: String,
    peers: Vec<PeerJson>,
    totals: TotalsJson,
    open_uploads: u64,
    repair_queue: u64,
    repairs_in_flight: u64,
    migrations_in_flight: u64,
}

fn totals(network: &NetworkStatus) -> TotalsJson {
    TotalsJson {
        peers: network.peers.len(),
        online: network
            .peers
            .iter()
            .filter(|p| p.state == PeerState::Online)
            .count(),
        capacity_bytes: network.peers.iter().map(|p| p.capacity).sum(),
        used_bytes: network.peers.iter().map(|p| p.used).sum(),
        pieces: network.peers.iter().map(|p| p.piece_count).sum(),
        objects: network.objects,
        stored_bytes: network.bytes,
    }
}

fn network_json(network: &NetworkStatus) -> NetworkJson {
    NetworkJson {
        pool: network.pool.to_string(),
        peers: network
            .peers
            .iter()
            .map(|p| PeerJson {
                id: p.peer.to_string(),
                address: p.address.to_string(),
                zone: p.zone.clone(),
                state: p.state.as_str(),
                capacity_bytes: p.capacity,
                used_bytes: p.used,
                utilisation: utilisation(p.used, p.capacity),
                pieces: p.piece_count,
                availability: p.availability,
                rtt_ms: p.rtt_ms,
                audit_score: p.audit_score,
                audits_passed: p.audits_passed,
                audits_failed: p.audits_failed,
            })
            .collect(),
        totals: totals(network),
        open_uploads: network.open_uploads,
        repair_queue: network.repair_queue,
        repairs_in_flight: network.repairs_in_flight,
        migrations_in_flight: network.migrations_in_flight,
    }
}

/// Used over offered (0 when nothing is offered).
fn utilisation(used: u64, capacity: u64) -> f64 {
    if capacity == 0 {
        0.0
    } else {
        used as f64 / capacity as f64
    }
}

/// A one-line summary of the network.
fn network_line(network: &NetworkStatus) -> String {
    let t = totals(network);
    format!(
        "{} of {} peers online, {} used of {}, {} segments below full redundancy, {} being repaired, {} pieces moving",
        t.online,
        t.peers,
        human(t.used_bytes),
        human(t.capacity_bytes),
        network.repair_queue,
        network.repairs_in_flight,
        network.migrations_in_flight
    )
}

#[derive(Serialize)]
struct HealthJson {
    objects: u64,
    full: u64,
    degraded: Vec<String>,
    unreadable: Vec<String>,
}

#[derive(Serialize)]
struct DriveJson {
    network: NetworkJson,
    files: HealthJson,
}

fn health_json(health: &Health) -> HealthJson {
    let paths = |list: &[RemotePath]| list.iter().map(ToString::to_string).collect();
    HealthJson {
        objects: health.objects,
        full: health.full,
        degraded: paths(&health.degraded),
        unreadable: paths(&health.unreadable),
    }
}

/// `cairn status`.
pub fn status(global: &Global, args: StatusArgs) -> anyhow::Result<()> {
    let drive = global.drive(|_| {})?;
    let rt = runtime()?;
    if let Some(text) = &args.path {
        let path = RemotePath::parse(text)
            .with_context(|| format!("`{text}` is not a valid drive path"))?;
        let status = rt.block_on(drive.status(&path))?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&file_json(&status))?);
            return Ok(());
        }
        let verdict = if status.full_redundancy() {
            "at full redundancy"
        } else if status.readable() {
            "readable, below full redundancy"
        } else {
            "NOT readable now"
        };
        say!(
            "{} — {}, {}, {verdict}",
            status.path,
            human(status.size),
            status.redundancy
        );
        if let Some(durability) = status.durability {
            say!("  durable {durability}");
        }
        for segment in &status.segments {
            let healthy = segment
                .pieces
                .iter()
                .filter(|p| p.state == cairn_proto::api::PieceState::Healthy)
                .count();
            let repairing = if segment.repairing { ", repairing" } else { "" };
            say!(
                "  segment {}: {healthy} of {} pieces healthy{repairing}",
                segment.index,
                segment.pieces.len()
            );
            for piece in segment
                .pieces
                .iter()
                .filter(|p| p.state != cairn_proto::api::PieceState::Healthy)
            {
                say!(
                    "    fragment {} on {}: {}",
                    piece.fragment,
                    piece.peer,
                    piece.state.as_str()
                );
            }
        }
        return Ok(());
    }
    let (network, health) = rt.block_on(async {
        Ok::<_, anyhow::Error>((drive.network().await?, drive.health().await?))
    })?;
    if args.json {
        let json = DriveJson {
            network: network_json(&network),
            files: health_json(&health),
        };
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    say!("network: {}", network_line(&network));
    say!(
        "files: {} stored, {} at full redundancy, {} degraded, {} unreadable",
        health.objects,
        health.full,
        health.degraded.len(),
        health.unreadable.len()
    );
    for path in &health.degraded {
        say!("  degraded: {path}");
    }
    for path in &health.unreadable {
        say!("  unreadable: {path}");
    }
    Ok(())
}

/// `cairn network` (needs no passphrase: the pool's status is public to its users).
pub fn network(global: &Global, args: NetworkArgs) -> anyhow::Result<()> {
    let pool = match args.pool {
        Some(pool) => pool,
        None => Home::open(&global.home_dir()?)?.pool().to_owned(),
    };
    let client = cairn_client::pool::PoolClient::anonymous(&pool)?;
    let network = runtime()?.block_on(client.network())?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&network_json(&network))?);
        return Ok(());
    }
    say!("pool {pool} ({})", network.pool);
    say!("{}", network_line(&network));
    say!(
        "{} objects storing {}; {} uploads open",
        network.objects,
        human(network.bytes),
        network.open_uploads
    );
    for p in &network.peers {
        say!(
            "  {}  {:12}  {:>10} / {:>10} ({:>3.0}%)  {:>6} pieces  audits {:>3.0}%  {}{}",
            p.peer,
            p.state.as_str(),
            human(p.used),
            human(p.capacity),
            utilisation(p.used, p.capacity) * 100.0,
            p.piece_count,
            p.audit_score * 100.0,
            p.address,
            p.zone
                .as_deref()
                .map(|z| format!("  zone {z}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
