//! Placement: which peers receive the pieces of one segment — every piece on a distinct peer,
//! spread over as many failure domains as the network has (invariant 2), chosen by weighted
//! random choice over free space, availability and latency. Pure: the caller passes the
//! candidates and the random number generator.

mod auto;
mod domain;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;

use cairn_core::PeerId;
use cairn_core::policy::Redundancy;

pub use auto::{
    ASSUMED_AVAILABILITY, DEFAULT_DURABILITY_TARGET, Resolved, auto_redundancy, mean_availability,
    resolve_policy,
};
pub use domain::failure_domain;

/// Round-trip time, in milliseconds, at which a peer's weight is halved; also the time assumed
/// for a peer whose round trip has not been measured yet, so new peers are neither favoured
/// nor shunned.
pub const RTT_REFERENCE_MS: f64 = 100.0;

/// Smallest weight of an eligible peer, relative to the best possible weight of 1. It keeps the
/// choice well defined when scores are zero or garbage (NaN, infinite): such a peer is chosen
/// only when better ones run out.
pub const WEIGHT_FLOOR: f64 = 1e-6;

/// A peer that may receive a piece: an online peer as the registry knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The peer.
    pub id: PeerId,
    /// Its failure domain, from [`failure_domain`]; peers in one domain may fail together.
    pub domain: String,
    /// Bytes it can still accept, from its last heartbeat.
    pub free: u64,
    /// Its availability score in `[0, 1]` (see [`crate::health::next_availability`]).
    pub availability: f64,
    /// Its smoothed round-trip time in milliseconds, if measured.
    pub rtt_ms: Option<f64>,
}

/// What one segment needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementRequest {
    /// Pieces to place, each on its own peer: `(k + m) · r` of the segment's redundancy.
    pub pieces: usize,
    /// Size of each piece in bytes; a peer needs at least this much free space.
    pub piece_size: u64,
    /// Extra peers wanted beyond `pieces`, so the uploader can cancel the slowest; fewer are
    /// returned when the network has no more.
    pub spares: usize,
}

impl PlacementRequest {
    /// The request for a segment of `redundancy` whose pieces are `piece_size` bytes each.
    pub fn for_redundancy(redundancy: Redundancy, piece_size: u64, spares: usize) -> Self {
        Self {
            pieces: usize::from(redundancy.pieces()),
            piece_size,
            spares,
        }
    }
}

/// The peers chosen for one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Exactly `pieces` distinct peers, one per piece.
    pub peers: Vec<PeerId>,
    /// Up to `spares` further peers, distinct from `peers` and from each other.
    pub spares: Vec<PeerId>,
}

/// Why no placement or redundancy could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Fewer distinct peers have room for a piece than the segment has pieces.
    #[error("{}", not_enough_peers(*.needed, *.piece_size, *.eligible, *.online))]
    NotEnoughPeers {
        /// Pieces in the segment, each needing its own peer.
        needed: usize,
        /// Size of each piece in bytes.
        piece_size: u64,
        /// Distinct candidates with at least `piece_size` bytes free.
        eligible: usize,
        /// Distinct candidates (online peers) in all.
        online: usize,
    },
    /// A fixed redundancy needs more distinct peers than the network has.
    #[error(
        "the redundancy policy {redundancy} needs {needed} peers with free space, but the network has {}; add peers or choose a policy with fewer pieces",
        peers(*.available)
    )]
    PolicyTooWide {
        /// The redundancy asked for.
        redundancy: Redundancy,
        /// Its pieces per segment.
        needed: usize,
        /// Distinct online peers with any free space.
        available: usize,
    },
    /// `auto` found no redundancy, or was given an invalid availability or target.
    #[error(transparent)]
    Policy(#[from] cairn_core::PolicyError),
}

fn peers(count: usize) -> String {
    match count {
        1 => "only 1 online peer".to_owned(),
        n => format!("only {n} online peers"),
    }
}

fn not_enough_peers(needed: usize, piece_size: u64, eligible: usize, online: usize) -> String {
    let size = Bytes(piece_size);
    let noun = if needed == 1 { "peer" } else { "peers" };
    if eligible == online {
        format!(
            "this segment needs {needed} {noun} with {size} free each, but the network has {}; add peers or choose a policy with fewer pieces",
            peers(online)
        )
    } else {
        format!(
            "this segment needs {needed} {noun} with {size} free each, but only {eligible} of the {online} online peers have that much room; add peers or free space, or choose a policy with fewer pieces"
        )
    }
}

/// A byte count for people: `512 B`, `1.0 MiB`, `2.5 GiB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

/// The weight of a peer in the random choice, before the floor:
///
/// `share × availability² / (1 + rtt / RTT_REFERENCE_MS)`
///
/// where `share = free / max_free` is the peer's free space relative to the roomiest eligible
/// peer (so in `(0, 1]`), `availability` is clamped to `[0, 1]` (NaN and infinities count as 0),
/// and `rtt` is the measured round trip in ms ([`RTT_REFERENCE_MS`] when unmeasured, negative or
/// NaN). Free space counts linearly, so a peer with ten times the room gets about ten times the
/// pieces and peers fill at a similar rate; availability counts squared, because a piece on a
/// peer that is away is missing twice — for readers and for repair. The result is in `[0, 1]`;
/// [`place`] raises it to at least [`WEIGHT_FLOOR`].
pub fn weight(candidate: &Candidate, max_free: u64) -> f64 {
    let share = if max_free == 0 {
        0.0
    } else {
        candidate.free.min(max_free) as f64 / max_free as f64
    };
    let availability = if candidate.availability.is_finite() {
        candidate.availability.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let rtt = match candidate.rtt_ms {
        Some(rtt) if rtt >= 0.0 => rtt,
        _ => RTT_REFERENCE_MS,
    };
    // An infinite round trip divides to 0, which the floor then lifts.
    share * availability * availability / (1.0 + rtt / RTT_REFERENCE_MS)
}

/// Chooses distinct peers for one segment, plus spares.
///
/// Only candidates with at least `piece_size` bytes free qualify; a candidate listed twice
/// counts once, as its first entry. Peers are drawn one at a time by weighted random choice
/// without replacement (weights from [`weight`], at least [`WEIGHT_FLOOR`]), and each draw is
/// made among the peers whose failure domain is not used yet while any remain, so the segment
/// spans `min(pieces, eligible domains)` domains; after that domains repeat, but peers never do.
/// Spares are drawn the same way, continuing after the main set (so they too prefer new
/// domains).
///
/// The result depends only on the candidates, their order and the random stream, so a seeded
/// `rng` reproduces it. Each draw scans the remaining candidates: `O(n · (pieces + spares))`.
pub fn place<R: rand::Rng + ?Sized>(
    candidates: &[Candidate],
    request: &PlacementRequest,
    rng: &mut R,
) -> Result<Placement, PlacementError> {
    let mut seen = HashSet::new();
    let distinct: Vec<&Candidate> = candidates.iter().filter(|c| seen.insert(c.id)).collect();
    let eligible: Vec<&Candidate> = (distinct.iter().copied())
        .filter(|c| c.free >= request.piece_size)
        .collect();
    if eligible.len() < request.pieces {
        return Err(PlacementError::NotEnoughPeers {
            needed: request.pieces,
            piece_size: request.piece_size,
            eligible: eligible.len(),
            online: distinct.len(),
        });
    }
    let max_free = eligible.iter().map(|c| c.free).max().unwrap_or(0);
    let mut remaining: Vec<(&Candidate, f64)> = (eligible.iter())
        .map(|&c| (c, weight(c, max_free).max(WEIGHT_FLOOR)))
        .collect();
    let spares = request.spares.min(eligible.len() - request.pieces);
    let mut used_domains: HashSet<&str> = HashSet::new();
    let mut chosen = Vec::with_capacity(request.pieces + spares);
    for _ in 0..request.pieces + spares {
        let fresh = |(c, _): &(&Candidate, f64)| !used_domains.contains(c.domain.as_str());
        let only_fresh = remaining.iter().any(fresh);
        let index = draw(&remaining, rng, |entry| !only_fresh || fresh(entry));
        let (candidate, _) = remaining.swap_remove(index);
        used_domains.insert(candidate.domain.as_str());
        chosen.push(candidate.id);
    }
    let spares = chosen.split_off(request.pieces);
    Ok(Placement {
        peers: chosen,
        spares,
    })
}

/// Index of one entry of `remaining` that passes `allowed`, drawn with probability proportional
/// to its weight. `remaining` must hold at least one allowed entry.
fn draw<R: rand::Rng + ?Sized>(
    remaining: &[(&Candidate, f64)],
    rng: &mut R,
    allowed: impl Fn(&(&Candidate, f64)) -> bool,
) -> usize {
    let total: f64 = remaining.iter().filter(|e| allowed(e)).map(|e| e.1).sum();
    let mut target = rng.random::<f64>() * total;
    let mut last = 0;
    for (index, entry) in remaining.iter().enumerate() {
        if !allowed(entry) {
            continue;
        }
        if target < entry.1 {
            return index;
        }
        target -= entry.1;
        last = index;
    }
    // Rounding can leave `target` a hair above the last weight.
    last
}
