//! Conformance cases with concurrent calls: repairs, migrations and segment commits racing
//! on one segment. Each race starts its calls together (spawned tasks behind a barrier, on
//! the multi-threaded runtime the generated tests use) and is run many times, so a backend
//! that checks invariant 2 (no peer ever holds two pieces of one segment) outside its
//! transaction, or at an isolation level that lets two writers both pass the check, fails.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::*;

/// How many times each race is run.
const ROUNDS: u32 = 16;

/// The peer both racers want: it holds nothing of the raced segments.
const NEW_PEER: u8 = 7;

/// A repair or migration of segment 0: the pieces on `removed` leave, `added` joins.
struct Move {
    removed: PeerId,
    added: PiecePlacement,
}

/// Fragment `fragment` of segment 0, rebuilt or moved onto `to`, with a hash of its own per
/// round (so a piece refused in one round is not referenced by another round's object).
fn moved(round: u32, fragment: u16, to: PeerId) -> PiecePlacement {
    PiecePlacement {
        segment: 0,
        fragment,
        hash: PieceHash::of(format!("race {round}/{fragment}").as_bytes()),
        size: 100,
        peer: to,
    }
}

/// Seven peers: 1–4 hold every committed fixture object, 5–7 nothing.
async fn seven_peers<S: MetadataStore>(store: &S) {
    for n in 1..=7 {
        store.register_peer(registration(n), 10).await.unwrap();
    }
}

/// Runs every move on segment 0 of `object` at once; returns each answer, in order.
async fn race<S: MetadataStore>(
    store: &Arc<S>,
    object: ObjectId,
    moves: Vec<Move>,
) -> Vec<StoreResult<()>> {
    let barrier = Arc::new(Barrier::new(moves.len()));
    let tasks: Vec<_> = moves
        .into_iter()
        .map(|m| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .repair_segment(object, 0, vec![m.removed], vec![m.added], 30)
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Checks the outcome of one race of `moves` on `path`: exactly one move is recorded, every
/// other is refused with [`StoreError::Conflict`] and its piece queued for deletion, and no
/// peer holds two pieces of the segment (invariant 2).
async fn one_won<S: MetadataStore>(
    store: &S,
    owner: AccountId,
    path: &str,
    moves: &[PiecePlacement],
    answers: &[StoreResult<()>],
) {
    let won: Vec<usize> = (0..answers.len()).filter(|&i| answers[i].is_ok()).collect();
    assert_eq!(won.len(), 1, "exactly one racer wins: {answers:?}");
    for answer in answers.iter().filter(|a| a.is_err()) {
        assert!(
            matches!(answer, Err(StoreError::Conflict(_))),
            "a loser is refused as a conflict: {answer:?}"
        );
    }
    let record = store.object(owner, path.into()).await.unwrap().unwrap();
    let pieces = &record.segments[0].pieces;
    let mut peers: Vec<PeerId> = pieces.iter().map(|p| p.peer).collect();
    peers.sort();
    let before = peers.len();
    peers.dedup();
    assert_eq!(peers.len(), before, "a peer holds two pieces: {pieces:?}");
    let winner = &moves[won[0]];
    assert!(
        pieces
            .iter()
            .any(|p| p.peer == winner.peer && p.hash == winner.hash),
        "the winner's piece is recorded"
    );
    let queued = store.pending_deletes(peer(NEW_PEER), 10_000).await.unwrap();
    for (i, lost) in moves.iter().enumerate() {
        if i != won[0] {
            assert!(
                !pieces.iter().any(|p| p.hash == lost.hash),
                "a loser's piece is recorded"
            );
            assert!(queued.contains(&lost.hash), "a loser's piece is collected");
        }
    }
}

/// Two repairs (of the pieces on two lost peers) place their rebuilt pieces on the same new
/// peer at once: one is recorded, the other refused.
pub(super) async fn two_repairs_racing_for_one_peer<S: MetadataStore>(store: S) {
    seven_peers(&store).await;
    let store = Arc::new(store);
    let owner = account(1);
    for round in 0..ROUNDS {
        let path = format!("race/{round}");
        let object = commit_at(&*store, owner, &path, 20).await;
        let added = [
            moved(round, 2, peer(NEW_PEER)),
            moved(round, 3, peer(NEW_PEER)),
        ];
        let moves = vec![
            Move {
                removed: peer(3),
                added: added[0].clone(),
            },
            Move {
                removed: peer(4),
                added: added[1].clone(),
            },
        ];
        let answers = race(&store, object, moves).await;
        one_won(&*store, owner, &path, &added, &answers).await;
    }
}

/// A repair (of the piece on a lost peer) and a migration (off a draining peer) of one
/// segment pick the same target peer at once: one is recorded, the other refused.
pub(super) async fn a_repair_and_a_migration_racing_for_one_peer<S: MetadataStore>(store: S) {
    seven_peers(&store).await;
    store
        .set_peer_state(peer(4), PeerState::Lost, 15)
        .await
        .unwrap();
    store
        .set_peer_state(peer(3), PeerState::Draining, 15)
        .await
        .unwrap();
    let store = Arc::new(store);
    let owner = account(1);
    for round in 0..ROUNDS {
        let path = format!("race/{round}");
        let object = commit_at(&*store, owner, &path, 20).await;
        // Even rounds start the repair first, odd ones the migration.
        let mut added = vec![
            moved(round, 3, peer(NEW_PEER)),
            moved(round, 2, peer(NEW_PEER)),
        ];
        let mut removed = [peer(4), peer(3)];
        if round % 2 == 1 {
            added.reverse();
            removed.reverse();
        }
        let moves = removed
            .iter()
            .zip(&added)
            .map(|(removed, added)| Move {
                removed: *removed,
                added: added.clone(),
            })
            .collect();
        let answers = race(&store, object, moves).await;
        one_won(&*store, owner, &path, &added, &answers).await;
    }
}

/// Retries of one segment's commit racing each other (each arrangement alone valid) leave
/// exactly one arrangement, never a mix of two that could put two pieces on one peer.
pub(super) async fn racing_segment_commits_leave_one_of_them<S: MetadataStore>(store: S) {
    seven_peers(&store).await;
    let store = Arc::new(store);
    let owner = account(1);
    for round in 0..ROUNDS {
        let upload = new_upload(owner, &format!("race/{round}"), 20);
        let id = upload.id;
        store.begin_upload(upload).await.unwrap();
        // Arrangement `a` puts fragment f on peer 1 + (f + a) % 7.
        let arrangements: Vec<Vec<PiecePlacement>> = (0..3u8)
            .map(|a| {
                (0..4u16)
                    .map(|f| PiecePlacement {
                        peer: peer(1 + (f as u8 + a) % 7),
                        ..moved(round, f, peer(1))
                    })
                    .collect()
            })
            .collect();
        let everything: Vec<PiecePlacement> = arrangements.iter().flatten().cloned().collect();
        store.record_placement(id, everything).await.unwrap();
        let barrier = Arc::new(Barrier::new(arrangements.len()));
        let tasks: Vec<_> = arrangements
            .iter()
            .cloned()
            .map(|pieces| {
                let (store, barrier) = (store.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.commit_segment(owner, id, commit_of(0, pieces)).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        store
            .commit_object(owner, id, object_of(1), 30)
            .await
            .unwrap();
        let record = store
            .object(owner, format!("race/{round}"))
            .await
            .unwrap()
            .unwrap();
        let stored = &record.segments[0].pieces;
        assert!(
            arrangements.iter().any(|a| {
                let mut a: Vec<_> = a.iter().map(|p| (p.fragment, p.peer, p.hash)).collect();
                let mut b: Vec<_> = stored
                    .iter()
                    .map(|p| (p.fragment, p.peer, p.hash))
                    .collect();
                a.sort();
                b.sort();
                a == b
            }),
            "the segment holds one committed arrangement: {stored:?}"
        );
    }
}
