//! Segment health, pure: from the pieces the pool records and their peers' states, whether a
//! segment still has every copy its redundancy asks for, and whether it can be read now.

use std::collections::HashMap;

use cairn_core::{PeerId, Redundancy};
use cairn_proto::api::{ObjectHealth, PieceHealth, PieceState, SegmentHealth};

use crate::state::PeerState;
use crate::store::{ObjectRecord, StoredSegment};

/// Whether a piece in this state can be fetched now: its peer answers, if slowly or while
/// it leaves.
pub const fn is_readable(state: PieceState) -> bool {
    matches!(
        state,
        PieceState::Healthy | PieceState::Suspect | PieceState::Draining
    )
}

/// A piece's state from its peer's; a peer the registry does not know counts as lost.
pub fn piece_state(peers: &HashMap<PeerId, PeerState>, peer: &PeerId) -> PieceState {
    peers
        .get(peer)
        .map_or(PieceState::Lost, |state| PieceState::of_peer(*state))
}

/// One segment's health under `redundancy`: every recorded piece with its state; at full
/// redundancy when every fragment `0..k+m` has at least `r` healthy copies; readable when at
/// least `k` distinct fragments have a copy that can be fetched ([`is_readable`]). Pieces
/// naming a fragment outside the redundancy are listed but count for nothing.
pub fn segment_health(
    redundancy: Redundancy,
    segment: &StoredSegment,
    peers: &HashMap<PeerId, PeerState>,
) -> SegmentHealth {
    let fragments = usize::from(redundancy.fragments());
    let mut healthy = vec![0u16; fragments];
    let mut fetchable = vec![false; fragments];
    let mut pieces = Vec::with_capacity(segment.pieces.len());
    for piece in &segment.pieces {
        let state = if segment.corrupt.contains(&piece.peer) {
            PieceState::Corrupt
        } else {
            piece_state(peers, &piece.peer)
        };
        let slot = usize::from(piece.fragment);
        if let Some(count) = healthy.get_mut(slot)
            && state == PieceState::Healthy
        {
            *count = count.saturating_add(1);
        }
        if let Some(readable) = fetchable.get_mut(slot) {
            *readable |= is_readable(state);
        }
        pieces.push(PieceHealth {
            fragment: piece.fragment,
            peer: piece.peer,
            state,
        });
    }
    SegmentHealth {
        index: segment.index,
        pieces,
        full_redundancy: healthy.iter().all(|copies| *copies >= redundancy.r()),
        readable: fetchable.iter().filter(|r| **r).count() >= usize::from(redundancy.k()),
        repairing: false,
    }
}

/// Every segment's health of a committed object, in order.
pub fn object_health(object: &ObjectRecord, peers: &HashMap<PeerId, PeerState>) -> ObjectHealth {
    ObjectHealth {
        path: object.path.clone(),
        redundancy: object.redundancy.to_string(),
        segments: object
            .segments
            .iter()
            .map(|segment| segment_health(object.redundancy, segment, peers))
            .collect(),
    }
}

/// How an object stands, by its worst segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectCondition {
    /// Every segment is at full redundancy (an object without segments is too).
    Full,
    /// Every segment can be read, but some lack healthy copies: repair is due.
    Degraded,
    /// Some segment cannot be read now.
    Unreadable,
}

/// The condition of an object with these segments.
pub fn object_condition(segments: &[SegmentHealth]) -> ObjectCondition {
    if segments.iter().any(|s| !s.readable) {
        ObjectCondition::Unreadable
    } else if segments.iter().any(|s| !s.full_redundancy) {
        ObjectCondition::Degraded
    } else {
        ObjectCondition::Full
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::PieceHash;
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::store::PiecePlacement;

    fn peer(n: u8) -> PeerId {
        PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
    }

    /// Fragment `f`, copy `c` on peer `f * copies + c + 1`.
    fn segment(redundancy: Redundancy) -> StoredSegment {
        let copies = redundancy.r();
        StoredSegment {
            index: 7,
            piece_size: 10,
            pieces: (0..redundancy.fragments())
                .flat_map(|f| {
                    (0..copies).map(move |c| PiecePlacement {
                        segment: 7,
                        fragment: f,
                        hash: PieceHash::of(&[f as u8]),
                        size: 10,
                        peer: peer((f * copies + c + 1) as u8),
                    })
                })
                .collect(),
            corrupt: Vec::new(),
        }
    }

    fn states(redundancy: Redundancy, state: PeerState) -> HashMap<PeerId, PeerState> {
        (1..=redundancy.pieces() as u8)
            .map(|n| (peer(n), state))
            .collect()
    }

    #[test]
    fn all_online_is_full_and_readable() {
        let redundancy = Redundancy::ec(2, 2).unwrap();
        let health = segment_health(
            redundancy,
            &segment(redundancy),
            &states(redundancy, PeerState::Online),
        );
        assert_eq!(health.index, 7);
        assert_eq!(health.pieces.len(), 4);
        assert!(health.pieces.iter().all(|p| p.state == PieceState::Healthy));
        assert!(health.full_redundancy && health.readable);
    }

    #[test]
    fn one_piece_down_is_degraded_but_readable() {
        let redundancy = Redundancy::ec(2, 2).unwrap();
        for state in [
            PeerState::Suspect,
            PeerState::Offline,
            PeerState::Lost,
            PeerState::Draining,
            PeerState::Left,
            PeerState::Disqualified,
        ] {
            let mut peers = states(redundancy, PeerState::Online);
            peers.insert(peer(1), state);
            let health = segment_health(redundancy, &segment(redundancy), &peers);
            assert_eq!(health.pieces[0].state, PieceState::of_peer(state));
            assert!(!health.full_redundancy, "{state}");
            assert!(health.readable, "{state}");
        }
    }

    #[test]
    fn readability_needs_k_distinct_fragments() {
        let redundancy = Redundancy::ec(2, 2).unwrap();
        let mut peers = states(redundancy, PeerState::Offline);
        // Suspect and draining pieces still read.
        peers.insert(peer(3), PeerState::Suspect);
        peers.insert(peer(4), PeerState::Draining);
        let health = segment_health(redundancy, &segment(redundancy), &peers);
        assert!(health.readable && !health.full_redundancy);
        // One fragment is not enough.
        peers.insert(peer(3), PeerState::Lost);
        let health = segment_health(redundancy, &segment(redundancy), &peers);
        assert!(!health.readable);
    }

    #[test]
    fn copies_of_one_fragment_do_not_stand_in_for_another() {
        // rep:2x3: fragment 0 on peers 1-3, fragment 1 on peers 4-6.
        let redundancy = Redundancy::rep(2, 3).unwrap();
        let mut peers = states(redundancy, PeerState::Online);
        for n in 4..=6 {
            peers.insert(peer(n), PeerState::Left);
        }
        let health = segment_health(redundancy, &segment(redundancy), &peers);
        assert!(
            !health.readable,
            "three copies of fragment 0 are still one fragment"
        );
        // Two healthy copies of each of the two fragments are below r = 3.
        let mut peers = states(redundancy, PeerState::Online);
        peers.insert(peer(1), PeerState::Offline);
        let health = segment_health(redundancy, &segment(redundancy), &peers);
        assert!(health.readable && !health.full_redundancy);
    }

    #[test]
    fn extra_copies_count_and_missing_fragments_do_not() {
        let redundancy = Redundancy::ec(2, 2).unwrap();
        let mut extra = segment(redundancy);
        extra.pieces.push(PiecePlacement {
            peer: peer(9),
            ..extra.pieces[0].clone()
        });
        let mut peers = states(redundancy, PeerState::Online);
        peers.insert(peer(9), PeerState::Online);
        peers.insert(peer(1), PeerState::Offline);
        let health = segment_health(redundancy, &extra, &peers);
        assert!(
            health.full_redundancy,
            "the second copy of fragment 0 is healthy"
        );
        // A fragment with no recorded piece at all is below redundancy.
        let mut missing = segment(redundancy);
        missing.pieces.retain(|p| p.fragment != 3);
        let health = segment_health(redundancy, &missing, &states(redundancy, PeerState::Online));
        assert!(!health.full_redundancy && health.readable);
    }

    #[test]
    fn unknown_peers_and_foreign_fragments_count_for_nothing() {
        let redundancy = Redundancy::ec(2, 2).unwrap();
        let mut peers = states(redundancy, PeerState::Online);
        peers.remove(&peer(1));
        let mut stray = segment(redundancy);
        stray.pieces.push(PiecePlacement {
            fragment: 9,
            peer: peer(20),
            ..stray.pieces[0].clone()
        });
        peers.insert(peer(20), PeerState::Online);
        let health = segment_health(redundancy, &stray, &peers);
        assert_eq!(health.pieces[0].state, PieceState::Lost);
        assert_eq!(health.pieces.len(), 5, "every recorded piece is listed");
        assert!(!health.full_redundancy && health.readable);
    }

    #[test]
    fn objects_take_their_worst_segment() {
        let redundancy = Redundancy::ec(2, 2).unwrap();
        let object = ObjectRecord {
            id: crate::store::ObjectId::from_bytes([0; 16]),
            path: "abcd".to_owned(),
            redundancy,
            metadata: Vec::new(),
            size: 0,
            committed_at: 0,
            segments: Vec::new(),
        };
        let online = states(redundancy, PeerState::Online);
        let empty = object_health(&object, &online);
        assert_eq!(
            (empty.path.as_str(), empty.redundancy.as_str()),
            ("abcd", "ec:2+2")
        );
        assert_eq!(object_condition(&empty.segments), ObjectCondition::Full);
        let object = ObjectRecord {
            segments: vec![segment(redundancy), segment(redundancy)],
            ..object
        };
        assert_eq!(
            object_condition(&object_health(&object, &online).segments),
            ObjectCondition::Full
        );
        let mut peers = online.clone();
        peers.insert(peer(2), PeerState::Offline);
        assert_eq!(
            object_condition(&object_health(&object, &peers).segments),
            ObjectCondition::Degraded
        );
        peers.insert(peer(3), PeerState::Lost);
        peers.insert(peer(4), PeerState::Lost);
        assert_eq!(
            object_condition(&object_health(&object, &peers).segments),
            ObjectCondition::Unreadable
        );
    }
}
