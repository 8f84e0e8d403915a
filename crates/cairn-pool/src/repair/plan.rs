//! Planning one segment's repair, pure: which pieces are gone, which copies to rebuild,
//! which healthy pieces to read from, and how urgent it is.

use std::collections::{HashMap, HashSet};

use cairn_core::{PeerId, PieceHash, Redundancy};

use crate::state::PeerState;
use crate::store::{ObjectId, ObjectSegment, PiecePlacement};

/// What repairing one segment takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The object.
    pub object: ObjectId,
    /// The segment.
    pub index: u32,
    /// The object's redundancy.
    pub redundancy: Redundancy,
    /// Every piece's size.
    pub piece_size: u64,
    /// One entry per copy to rebuild: the fragment and its recorded hash.
    pub missing: Vec<(u16, PieceHash)>,
    /// Pieces that can be read now (peer online, suspect or draining, piece not damaged).
    pub sources: Vec<PiecePlacement>,
    /// Peers whose piece leaves the records when the repair lands.
    pub remove: Vec<PeerId>,
    /// Every peer with a piece of the segment: new pieces go to others.
    pub occupied: HashSet<PeerId>,
    /// Distinct fragments still present minus `k`: the smaller, the more urgent.
    pub margin: i64,
}

/// Why a damaged segment cannot be repaired now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrepairable {
    /// Too few fragments can be read to rebuild anything.
    #[error("only {readable} of the {needed} fragments needed can be read now")]
    TooFewSources {
        /// Distinct fragments readable.
        readable: usize,
        /// Fragments needed (`k`, or for `rep` one copy of each fragment to restore).
        needed: usize,
    },
}

/// Whether a piece on a peer in `state` (unknown peer: `None`) is gone for good.
fn is_gone(state: Option<PeerState>, corrupt: bool) -> bool {
    corrupt
        || matches!(
            state,
            None | Some(PeerState::Lost | PeerState::Left | PeerState::Disqualified)
        )
}

/// Whether a piece on a peer in `state` can be fetched now.
fn is_readable(state: Option<PeerState>) -> bool {
    matches!(
        state,
        Some(PeerState::Online | PeerState::Suspect | PeerState::Draining)
    )
}

/// Plans the repair of `damaged` once at least `threshold` of its pieces are gone;
/// `Ok(None)` while fewer are.
pub fn plan(
    damaged: &ObjectSegment,
    peers: &HashMap<PeerId, PeerState>,
    threshold: u16,
) -> Result<Option<Plan>, Unrepairable> {
    let redundancy = damaged.redundancy;
    let segment = &damaged.segment;
    let fragments = usize::from(redundancy.fragments());
    let mut present = vec![0u16; fragments];
    let mut hashes: Vec<Option<PieceHash>> = vec![None; fragments];
    let mut readable = vec![false; fragments];
    let mut sources = Vec::new();
    let mut remove = Vec::new();
    for piece in &segment.pieces {
        let slot = usize::from(piece.fragment);
        if slot >= fragments {
            remove.push(piece.peer);
            continue;
        }
        hashes[slot].get_or_insert(piece.hash);
        let state = peers.get(&piece.peer).copied();
        let corrupt = segment.corrupt.contains(&piece.peer);
        if is_gone(state, corrupt) {
            remove.push(piece.peer);
            continue;
        }
        present[slot] += 1;
        if is_readable(state) {
            readable[slot] = true;
            sources.push(piece.clone());
        }
    }
    let mut missing = Vec::new();
    for (slot, count) in present.iter().enumerate() {
        if let Some(hash) = hashes[slot] {
            for _ in *count..redundancy.r() {
                missing.push((slot as u16, hash));
            }
        }
    }
    if missing.is_empty() || missing.len() < usize::from(threshold.max(1)) {
        return Ok(None);
    }
    let readable_fragments = readable.iter().filter(|r| **r).count();
    if redundancy.is_replicated() {
        // Copies are restored from a surviving copy; fragments with none cannot be.
        missing.retain(|(f, _)| readable[usize::from(*f)]);
        if missing.is_empty() {
            return Err(Unrepairable::TooFewSources {
                readable: readable_fragments,
                needed: fragments,
            });
        }
    } else if readable_fragments < usize::from(redundancy.k()) {
        return Err(Unrepairable::TooFewSources {
            readable: readable_fragments,
            needed: usize::from(redundancy.k()),
        });
    }
    let still_present = present.iter().filter(|c| **c > 0).count() as i64;
    Ok(Some(Plan {
        object: damaged.object,
        index: segment.index,
        redundancy,
        piece_size: segment.piece_size,
        missing,
        sources,
        remove,
        occupied: segment.pieces.iter().map(|p| p.peer).collect(),
        margin: still_present - i64::from(redundancy.k()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredSegment;
    use ed25519_dalek::SigningKey;

    fn peer(n: u8) -> PeerId {
        PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
    }

    fn hash(f: u16) -> PieceHash {
        PieceHash::of(&f.to_be_bytes())
    }

    /// Fragment `f`, copy `c` on peer `f * r + c + 1`, all online.
    fn damaged(redundancy: Redundancy) -> (ObjectSegment, HashMap<PeerId, PeerState>) {
        let r = redundancy.r();
        let pieces: Vec<PiecePlacement> = (0..redundancy.fragments())
            .flat_map(|f| {
                (0..r).map(move |c| PiecePlacement {
                    segment: 3,
                    fragment: f,
                    hash: hash(f),
                    size: 10,
                    peer: peer((f * r + c + 1) as u8),
                })
            })
            .collect();
        let states = pieces.iter().map(|p| (p.peer, PeerState::Online)).collect();
        let segment = ObjectSegment {
            object: ObjectId::from_bytes([1; 16]),
            redundancy,
            segment: StoredSegment {
                index: 3,
                piece_size: 10,
                pieces,
                corrupt: Vec::new(),
            },
        };
        (segment, states)
    }

    #[test]
    fn nothing_to_do_while_every_piece_is_there_or_below_the_threshold() {
        let redundancy = Redundancy::ec(4, 2).unwrap();
        let (segment, mut states) = damaged(redundancy);
        assert_eq!(plan(&segment, &states, 1), Ok(None));
        // Offline is not gone: the timers decide when it is.
        states.insert(peer(1), PeerState::Offline);
        assert_eq!(plan(&segment, &states, 1), Ok(None));
        states.insert(peer(1), PeerState::Lost);
        assert_eq!(plan(&segment, &states, 2), Ok(None));
        assert!(plan(&segment, &states, 1).unwrap().is_some());
    }

    #[test]
    fn lost_damaged_and_unknown_pieces_are_rebuilt_from_readable_ones() {
        let redundancy = Redundancy::ec(2, 4).unwrap();
        let (mut segment, mut states) = damaged(redundancy);
        states.insert(peer(1), PeerState::Lost);
        states.insert(peer(2), PeerState::Disqualified);
        states.remove(&peer(3));
        segment.segment.corrupt.push(peer(4));
        states.insert(peer(5), PeerState::Suspect);
        let p = plan(&segment, &states, 1).unwrap().unwrap();
        assert_eq!(
            p.missing,
            vec![(0, hash(0)), (1, hash(1)), (2, hash(2)), (3, hash(3))]
        );
        assert_eq!(p.remove, vec![peer(1), peer(2), peer(3), peer(4)]);
        let sources: Vec<PeerId> = p.sources.iter().map(|s| s.peer).collect();
        assert_eq!(sources, vec![peer(5), peer(6)]);
        assert_eq!(p.margin, 0);
        assert_eq!(p.occupied.len(), 6);
    }

    #[test]
    fn offline_pieces_still_count_but_are_not_read_from() {
        let redundancy = Redundancy::ec(4, 2).unwrap();
        let (segment, mut states) = damaged(redundancy);
        states.insert(peer(1), PeerState::Lost);
        states.insert(peer(2), PeerState::Offline);
        let p = plan(&segment, &states, 1).unwrap().unwrap();
        assert_eq!(p.missing, vec![(0, hash(0))]);
        assert_eq!(p.remove, vec![peer(1)]);
        assert!(p.sources.iter().all(|s| s.peer != peer(2)));
        assert_eq!(p.sources.len(), 4);
    }

    #[test]
    fn too_few_readable_fragments_is_unrepairable() {
        let redundancy = Redundancy::ec(2, 1).unwrap();
        let (segment, mut states) = damaged(redundancy);
        states.insert(peer(1), PeerState::Lost);
        states.insert(peer(2), PeerState::Offline);
        assert_eq!(
            plan(&segment, &states, 1),
            Err(Unrepairable::TooFewSources {
                readable: 1,
                needed: 2
            })
        );
    }

    #[test]
    fn replicated_segments_restore_copies_from_a_surviving_copy() {
        let redundancy = Redundancy::rep(2, 3).unwrap();
        let (segment, mut states) = damaged(redundancy);
        // Fragment 0 on peers 1..=3, fragment 1 on peers 4..=6.
        states.insert(peer(1), PeerState::Lost);
        states.insert(peer(2), PeerState::Lost);
        states.insert(peer(4), PeerState::Lost);
        let p = plan(&segment, &states, 1).unwrap().unwrap();
        assert_eq!(p.missing, vec![(0, hash(0)), (0, hash(0)), (1, hash(1))]);
        assert_eq!(p.margin, 0);
        // All copies of a fragment gone: nothing to copy from.
        states.insert(peer(3), PeerState::Lost);
        let p = plan(&segment, &states, 1).unwrap().unwrap();
        assert_eq!(p.missing, vec![(1, hash(1))]);
    }

    #[test]
    fn urgency_orders_by_margin() {
        let redundancy = Redundancy::ec(4, 2).unwrap();
        let (segment, mut states) = damaged(redundancy);
        states.insert(peer(1), PeerState::Lost);
        let one = plan(&segment, &states, 1).unwrap().unwrap();
        states.insert(peer(2), PeerState::Lost);
        let two = plan(&segment, &states, 1).unwrap().unwrap();
        assert!(two.margin < one.margin);
    }
}
