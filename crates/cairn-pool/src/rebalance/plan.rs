//! Choosing migrations, pure: which peers must shed pieces (draining, over capacity, the
//! most utilised beyond the tolerance), and where one piece may go without breaking
//! distinct-peer placement or narrowing the segment's spread across failure domains.

use std::collections::{HashMap, HashSet};

use cairn_core::PeerId;

use crate::state::PeerState;
use crate::store::StoredSegment;

/// A peer's load as the records tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The peer.
    pub id: PeerId,
    /// Its failure domain.
    pub domain: String,
    /// Bytes it offers.
    pub capacity: u64,
    /// Bytes of the pieces recorded on it.
    pub bytes: u64,
    /// Its state.
    pub state: PeerState,
}

impl Load {
    /// Used over offered; a peer offering nothing is full.
    pub fn utilisation(&self) -> f64 {
        if self.capacity == 0 {
            f64::INFINITY
        } else {
            self.bytes as f64 / self.capacity as f64
        }
    }

    fn free(&self) -> u64 {
        self.capacity.saturating_sub(self.bytes)
    }
}

/// Why pieces move off a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The peer is leaving: everything goes.
    Draining,
    /// The peer holds more than it offers (its capacity shrank).
    OverCapacity,
    /// The peer is the most utilised and the spread exceeds the tolerance.
    Balance,
}

/// Online peers' utilisation spread: the most utilised peer and `max − min`.
pub fn imbalance(loads: &HashMap<PeerId, Load>) -> Option<(PeerId, f64)> {
    let online: Vec<&Load> = loads
        .values()
        .filter(|l| l.state == PeerState::Online && l.capacity > 0)
        .collect();
    let max = online
        .iter()
        .max_by(|a, b| a.utilisation().total_cmp(&b.utilisation()))?;
    let min = online
        .iter()
        .map(|l| l.utilisation())
        .min_by(f64::total_cmp)?;
    Some((max.id, max.utilisation() - min))
}

/// Peers to shed pieces from, most pressing first: draining peers with pieces, then peers
/// over their capacity (the most over first), then the most utilised peer when the online
/// peers' utilisation spread exceeds `tolerance`.
pub fn sources(loads: &HashMap<PeerId, Load>, tolerance: f64) -> Vec<(PeerId, Reason)> {
    let mut out: Vec<(PeerId, Reason)> = Vec::new();
    let mut draining: Vec<&Load> = loads
        .values()
        .filter(|l| l.state == PeerState::Draining && l.bytes > 0)
        .collect();
    draining.sort_by_key(|l| l.id);
    out.extend(draining.iter().map(|l| (l.id, Reason::Draining)));
    let mut over: Vec<&Load> = loads
        .values()
        .filter(|l| l.state == PeerState::Online && l.bytes > l.capacity)
        .collect();
    over.sort_by(|a, b| b.utilisation().total_cmp(&a.utilisation()));
    out.extend(over.iter().map(|l| (l.id, Reason::OverCapacity)));
    if let Some((fullest, spread)) = imbalance(loads)
        && spread > tolerance
        && !out.iter().any(|(id, _)| *id == fullest)
    {
        out.push((fullest, Reason::Balance));
    }
    out
}

fn domains_of<'a>(
    peers: impl Iterator<Item = &'a PeerId>,
    loads: &HashMap<PeerId, Load>,
) -> HashSet<String> {
    peers
        .filter_map(|p| loads.get(p).map(|l| l.domain.clone()))
        .collect()
}

/// Where the piece of `segment` on `from` (`size` bytes) may move: an online peer holding
/// no piece of the segment, with room, that keeps as many distinct domains (a new domain
/// preferred); for [`Reason::Balance`] it must also end less utilised than `from`. The
/// least utilised such peer wins.
pub fn target(
    segment: &StoredSegment,
    from: PeerId,
    size: u64,
    loads: &HashMap<PeerId, Load>,
    reason: Reason,
) -> Option<PeerId> {
    let holders: HashSet<PeerId> = segment.pieces.iter().map(|p| p.peer).collect();
    let before = domains_of(holders.iter(), loads).len();
    let others = domains_of(holders.iter().filter(|p| **p != from), loads);
    let source = loads.get(&from)?;
    let source_after = if source.capacity == 0 {
        f64::INFINITY
    } else {
        source.bytes.saturating_sub(size) as f64 / source.capacity as f64
    };
    loads
        .values()
        .filter(|l| l.state == PeerState::Online && !holders.contains(&l.id) && l.free() >= size)
        .filter_map(|l| {
            let after = others.len() + usize::from(!others.contains(&l.domain));
            let utilisation = (l.bytes + size) as f64 / l.capacity as f64;
            let keeps_spread = after >= before;
            let balances = reason != Reason::Balance || utilisation < source_after;
            (keeps_spread && balances).then_some((after, utilisation, l.id))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(b.2.cmp(&a.2)))
        .map(|(_, _, id)| id)
}

/// A move that widens `segment`'s spread: a piece sharing its domain with another piece
/// goes to an online peer, with room, in a domain the segment does not use yet.
pub fn widen(segment: &StoredSegment, loads: &HashMap<PeerId, Load>) -> Option<(PeerId, PeerId)> {
    let holders: HashSet<PeerId> = segment.pieces.iter().map(|p| p.peer).collect();
    let mut per_domain: HashMap<String, Vec<PeerId>> = HashMap::new();
    for peer in &holders {
        let load = loads.get(peer)?;
        per_domain
            .entry(load.domain.clone())
            .or_default()
            .push(*peer);
    }
    let size = segment.piece_size;
    let mut crowded: Vec<PeerId> = per_domain
        .values()
        .filter(|peers| peers.len() > 1)
        .flat_map(|peers| peers.iter().copied())
        .collect();
    crowded.sort();
    let from = *crowded.first()?;
    let to = loads
        .values()
        .filter(|l| {
            l.state == PeerState::Online
                && !holders.contains(&l.id)
                && !per_domain.contains_key(&l.domain)
                && l.free() >= size
        })
        .min_by(|a, b| {
            a.utilisation()
                .total_cmp(&b.utilisation())
                .then(a.id.cmp(&b.id))
        })?;
    Some((from, to.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PiecePlacement;
    use cairn_core::PieceHash;
    use ed25519_dalek::SigningKey;

    fn peer(n: u8) -> PeerId {
        PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
    }

    fn load(n: u8, domain: &str, capacity: u64, bytes: u64, state: PeerState) -> Load {
        Load {
            id: peer(n),
            domain: domain.into(),
            capacity,
            bytes,
            state,
        }
    }

    fn loads(list: Vec<Load>) -> HashMap<PeerId, Load> {
        list.into_iter().map(|l| (l.id, l)).collect()
    }

    /// A segment of `size`-byte pieces on the given peers.
    fn segment(holders: &[u8], size: u64) -> StoredSegment {
        StoredSegment {
            index: 0,
            piece_size: size,
            pieces: holders
                .iter()
                .enumerate()
                .map(|(f, n)| PiecePlacement {
                    segment: 0,
                    fragment: f as u16,
                    hash: PieceHash::of(&[f as u8]),
                    size,
                    peer: peer(*n),
                })
                .collect(),
            corrupt: Vec::new(),
        }
    }

    #[test]
    fn sources_come_draining_then_over_capacity_then_the_fullest() {
        let l = loads(vec![
            load(1, "a", 100, 50, PeerState::Draining),
            load(2, "b", 100, 150, PeerState::Online),
            load(3, "c", 100, 90, PeerState::Online),
            load(4, "d", 100, 10, PeerState::Online),
            load(5, "e", 100, 0, PeerState::Draining),
        ]);
        assert_eq!(
            sources(&l, 0.1),
            vec![(peer(1), Reason::Draining), (peer(2), Reason::OverCapacity)]
        );
        let l = loads(vec![
            load(3, "c", 100, 90, PeerState::Online),
            load(4, "d", 100, 10, PeerState::Online),
        ]);
        assert_eq!(sources(&l, 0.1), vec![(peer(3), Reason::Balance)]);
        assert_eq!(sources(&l, 0.9), vec![]);
    }

    #[test]
    fn targets_never_hold_the_segment_and_keep_the_spread() {
        // Holders 1..=3 in domains a, b, c; peer 4 shares domain a, peer 5 is in d.
        let l = loads(vec![
            load(1, "a", 100, 60, PeerState::Online),
            load(2, "b", 100, 60, PeerState::Online),
            load(3, "c", 100, 60, PeerState::Online),
            load(4, "b", 100, 0, PeerState::Online),
            load(5, "d", 100, 30, PeerState::Online),
            load(6, "e", 100, 0, PeerState::Suspect),
        ]);
        let s = segment(&[1, 2, 3], 10);
        // Moving off peer 1 (domain a): peer 4 would leave domains {b, c}; peer 5 keeps 3.
        assert_eq!(target(&s, peer(1), 10, &l, Reason::Balance), Some(peer(5)));
        // Nobody can take it if the only candidates narrow the spread or are not online.
        let l2 = loads(vec![
            load(1, "a", 100, 60, PeerState::Online),
            load(2, "b", 100, 60, PeerState::Online),
            load(3, "c", 100, 60, PeerState::Online),
            load(4, "b", 100, 0, PeerState::Online),
            load(6, "e", 100, 0, PeerState::Suspect),
        ]);
        assert_eq!(target(&s, peer(1), 10, &l2, Reason::Draining), None);
        // No room: no target.
        let l3 = loads(vec![
            load(1, "a", 100, 60, PeerState::Online),
            load(2, "b", 100, 60, PeerState::Online),
            load(3, "c", 100, 60, PeerState::Online),
            load(5, "d", 100, 95, PeerState::Online),
        ]);
        assert_eq!(target(&s, peer(1), 10, &l3, Reason::Draining), None);
    }

    #[test]
    fn balancing_moves_only_downhill() {
        let l = loads(vec![
            load(1, "a", 100, 50, PeerState::Online),
            load(2, "b", 100, 45, PeerState::Online),
        ]);
        let s = segment(&[1], 10);
        // 50 → 40 on the source, 45 → 55 on the target: no better.
        assert_eq!(target(&s, peer(1), 10, &l, Reason::Balance), None);
        // Draining moves regardless.
        assert_eq!(target(&s, peer(1), 10, &l, Reason::Draining), Some(peer(2)));
    }

    #[test]
    fn a_new_zone_widens_crowded_segments() {
        let l = loads(vec![
            load(1, "a", 100, 10, PeerState::Online),
            load(2, "a", 100, 10, PeerState::Online),
            load(3, "b", 100, 10, PeerState::Online),
            load(4, "c", 100, 10, PeerState::Online),
        ]);
        let (from, to) = widen(&segment(&[1, 2, 3], 5), &l).unwrap();
        assert!(from == peer(1) || from == peer(2));
        assert_eq!(to, peer(4));
        assert_eq!(widen(&segment(&[1, 3, 4], 5), &l), None);
    }

    #[test]
    fn imbalance_spans_online_peers_only() {
        let l = loads(vec![
            load(1, "a", 100, 80, PeerState::Online),
            load(2, "b", 100, 20, PeerState::Online),
            load(3, "c", 100, 0, PeerState::Offline),
        ]);
        let (fullest, spread) = imbalance(&l).unwrap();
        assert_eq!(fullest, peer(1));
        assert!((spread - 0.6).abs() < 1e-9);
    }
}
