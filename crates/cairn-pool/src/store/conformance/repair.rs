//! Conformance cases of repair and migration: the repair queue, damaged segments, audits, cursors.

use super::*;

pub(super) async fn repair_queue_counts_segments_below_redundancy<S: MetadataStore>(store: S) {
    assert_eq!(store.degraded_segments().await.unwrap(), 0);
    let (_, alice) = committed_object(&store).await;
    store.register_peer(registration(5), 10).await.unwrap();
    let ec = Redundancy::ec(2, 2).unwrap();
    // `c`: two segments; `d`: fragment 0 has a second copy on peer 5; `r`: rep:2x2 with
    // fragment 0 on peers 1 and 2, fragment 1 on peers 3 and 4; `e`: no segments.
    commit_shaped(&store, alice, "c", ec, vec![pieces(0), pieces(1)]).await;
    let mut extra = pieces(0);
    extra.push(PiecePlacement {
        peer: peer(5),
        ..extra[0].clone()
    });
    commit_shaped(&store, account(2), "d", ec, vec![extra]).await;
    let rep = (1..=4u8)
        .map(|n| PiecePlacement {
            segment: 0,
            fragment: u16::from((n - 1) / 2),
            hash: hash(9, u16::from((n - 1) / 2)),
            size: 100,
            peer: peer(n),
        })
        .collect();
    commit_shaped(
        &store,
        alice,
        "r",
        Redundancy::rep(2, 2).unwrap(),
        vec![rep],
    )
    .await;
    commit_shaped(&store, alice, "e", ec, Vec::new()).await;
    // An open upload's committed segment is not in the queue, whatever its peers do.
    let open = new_upload(alice, "open", 30);
    let open_id = open.id;
    store.begin_upload(open).await.unwrap();
    store
        .commit_segment(alice, open_id, commit_of(0, pieces(0)))
        .await
        .unwrap();
    assert_eq!(
        store.degraded_segments().await.unwrap(),
        0,
        "every piece is on an online peer"
    );
    // Peer 2 holds fragment 1 of every ec segment and a copy of rep fragment 0.
    store
        .set_peer_state(peer(2), PeerState::Offline, 40)
        .await
        .unwrap();
    assert_eq!(store.degraded_segments().await.unwrap(), 5);
    // Anything but online counts against a piece; an extra copy makes up for one.
    store
        .set_peer_state(peer(2), PeerState::Online, 50)
        .await
        .unwrap();
    store
        .set_peer_state(peer(1), PeerState::Suspect, 50)
        .await
        .unwrap();
    assert_eq!(
        store.degraded_segments().await.unwrap(),
        4,
        "d still has peer 5"
    );
    store
        .set_peer_state(peer(1), PeerState::Online, 60)
        .await
        .unwrap();
    store
        .set_peer_state(peer(5), PeerState::Lost, 60)
        .await
        .unwrap();
    assert_eq!(
        store.degraded_segments().await.unwrap(),
        0,
        "a lost extra copy leaves r copies"
    );
    // Deleting an object takes its segments off the queue.
    store
        .set_peer_state(peer(3), PeerState::Draining, 70)
        .await
        .unwrap();
    assert_eq!(store.degraded_segments().await.unwrap(), 5);
    store.delete_object(alice, "c".into(), 80).await.unwrap();
    assert_eq!(store.degraded_segments().await.unwrap(), 3);
}

pub(super) async fn damaged_segments_are_found_and_repaired<S: MetadataStore>(store: S) {
    let (object, owner) = committed_object(&store).await;
    store.register_peer(registration(5), 10).await.unwrap();
    assert_eq!(store.damaged_segments(10).await.unwrap(), vec![]);
    // Offline is not damage yet; lost is.
    store
        .set_peer_state(peer(2), PeerState::Offline, 30)
        .await
        .unwrap();
    assert_eq!(store.damaged_segments(10).await.unwrap(), vec![]);
    store
        .set_peer_state(peer(2), PeerState::Lost, 40)
        .await
        .unwrap();
    let damaged = store.damaged_segments(10).await.unwrap();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0].object, object);
    assert_eq!(damaged[0].redundancy, Redundancy::ec(2, 2).unwrap());
    assert_eq!(damaged[0].segment.index, 0);
    assert_eq!(damaged[0].segment.pieces.len(), 4);
    assert!(damaged[0].segment.corrupt.is_empty());
    // A damaged piece counts too, once; only its own record is marked.
    assert_eq!(store.mark_corrupt(peer(3), hash(0, 2)).await.unwrap(), 1);
    assert_eq!(store.mark_corrupt(peer(3), hash(0, 2)).await.unwrap(), 0);
    assert_eq!(store.mark_corrupt(peer(4), hash(0, 2)).await.unwrap(), 0);
    let damaged = store.damaged_segments(10).await.unwrap();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0].segment.corrupt, vec![peer(3)]);
    assert_eq!(store.degraded_segments().await.unwrap(), 1);
    // The repair drops the lost and the damaged piece and rebuilds fragment 1 on peer 5.
    let rebuilt = PiecePlacement {
        segment: 0,
        fragment: 1,
        hash: hash(0, 1),
        size: 100,
        peer: peer(5),
    };
    store
        .repair_segment(object, 0, vec![peer(2), peer(3)], vec![rebuilt.clone()], 50)
        .await
        .unwrap();
    let record = store.object(owner, "a/b".into()).await.unwrap().unwrap();
    let holders: Vec<(u16, PeerId)> = record.segments[0]
        .pieces
        .iter()
        .map(|p| (p.fragment, p.peer))
        .collect();
    assert_eq!(holders, vec![(0, peer(1)), (1, peer(5)), (3, peer(4))]);
    assert!(record.segments[0].corrupt.is_empty());
    // The removed pieces are queued for their peers, so a returning peer sheds them.
    assert_eq!(
        store.pending_deletes(peer(2), 10).await.unwrap(),
        vec![hash(0, 1)]
    );
    assert_eq!(
        store.pending_deletes(peer(3), 10).await.unwrap(),
        vec![hash(0, 2)]
    );
    assert_eq!(store.damaged_segments(10).await.unwrap(), vec![]);
    // A repair of a segment whose object is gone records nothing and frees its pieces.
    store.delete_object(owner, "a/b".into(), 60).await.unwrap();
    let late = PiecePlacement {
        peer: peer(6),
        ..rebuilt
    };
    assert!(matches!(
        store
            .repair_segment(object, 0, vec![], vec![late], 70)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.pending_deletes(peer(6), 10).await.unwrap(),
        vec![hash(0, 1)]
    );
}

/// No repair or migration ever records a second piece of a segment on one peer: such a
/// record is refused whole (the source keeps its piece) and the stray copy is collected.
pub(super) async fn a_repair_never_doubles_a_peer_in_a_segment<S: MetadataStore>(store: S) {
    let (object, owner) = committed_object(&store).await;
    let before = store.object(owner, "a/b".into()).await.unwrap().unwrap();
    // Moving fragment 3 off peer 4 onto peer 1, which holds fragment 0 already.
    let doubled = PiecePlacement {
        segment: 0,
        fragment: 3,
        hash: hash(0, 3),
        size: 100,
        peer: peer(1),
    };
    assert!(matches!(
        store
            .repair_segment(object, 0, vec![peer(4)], vec![doubled.clone()], 10)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let after = store.object(owner, "a/b".into()).await.unwrap().unwrap();
    assert_eq!(after.segments, before.segments);
    assert_eq!(
        store.pending_deletes(peer(1), 10).await.unwrap(),
        vec![hash(0, 3)]
    );
    assert_eq!(store.pending_deletes(peer(4), 10).await.unwrap(), vec![]);
    // Two new pieces on one new peer are refused the same way.
    let twice = vec![
        PiecePlacement {
            peer: peer(7),
            ..doubled.clone()
        },
        PiecePlacement {
            fragment: 2,
            hash: hash(0, 2),
            peer: peer(7),
            ..doubled
        },
    ];
    assert!(matches!(
        store
            .repair_segment(object, 0, vec![peer(3), peer(4)], twice, 20)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let after = store.object(owner, "a/b".into()).await.unwrap().unwrap();
    assert_eq!(after.segments, before.segments);
}

pub(super) async fn audits_are_tallied_and_pieces_sampled<S: MetadataStore>(store: S) {
    let (_, owner) = committed_object(&store).await;
    let first = store.record_audit(peer(1), true).await.unwrap();
    assert_eq!(
        (first.passed, first.failed, first.failed_in_a_row),
        (1, 0, 0)
    );
    assert!((first.score - 1.0).abs() < 1e-9);
    store.record_audit(peer(1), false).await.unwrap();
    let second = store.record_audit(peer(1), false).await.unwrap();
    assert_eq!(
        (second.passed, second.failed, second.failed_in_a_row),
        (1, 2, 2)
    );
    assert!(second.score < first.score);
    let third = store.record_audit(peer(1), true).await.unwrap();
    assert_eq!(third.failed_in_a_row, 0);
    assert!(third.score > second.score);
    let record = store.peer(peer(1)).await.unwrap().unwrap();
    assert_eq!((record.audits_passed, record.audits_failed), (2, 2));
    assert!(matches!(
        store.record_audit(peer(9), true).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.random_piece(peer(2)).await.unwrap(),
        Some((hash(0, 1), 100))
    );
    assert_eq!(store.random_piece(peer(9)).await.unwrap(), None);
    store.mark_corrupt(peer(2), hash(0, 1)).await.unwrap();
    assert_eq!(store.random_piece(peer(2)).await.unwrap(), None);
    assert!(
        store
            .account_has_piece(owner, peer(2), hash(0, 1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .account_has_piece(owner, peer(3), hash(0, 1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .account_has_piece(account(2), peer(2), hash(0, 1))
            .await
            .unwrap()
    );
}

pub(super) async fn usage_and_segment_cursors<S: MetadataStore>(store: S) {
    let (first, owner) = committed_object(&store).await;
    let second = commit_at(&store, owner, "a/c", 30).await;
    let usage = store.peer_usage().await.unwrap();
    // Two one-segment objects, fragment f on peer f + 1; the hashes repeat, so each peer
    // holds two records of 100 bytes.
    for n in 1..=4 {
        assert_eq!(
            usage[&peer(n)],
            PeerUsage {
                bytes: 200,
                pieces: 2,
                pending_deletes: 0
            }
        );
    }
    assert!(!usage.contains_key(&peer(5)));
    let on_two = store.segments_on_peer(peer(2), 10).await.unwrap();
    let mut objects: Vec<ObjectId> = on_two.iter().map(|s| s.object).collect();
    objects.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(objects, expected);
    assert!(on_two.iter().all(|s| s.segment.pieces.len() == 4));
    assert_eq!(store.segments_on_peer(peer(2), 1).await.unwrap().len(), 1);
    assert!(
        store
            .segments_on_peer(peer(9), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A cursor visits every committed segment once, in order.
    let page = store.segments_after(None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    let cursor = (page[0].object, page[0].segment.index);
    let rest = store.segments_after(Some(cursor), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0].object, page[0].object);
    let last = (rest[0].object, rest[0].segment.index);
    assert!(
        store
            .segments_after(Some(last), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Deleting one object queues its pieces' deletion only where no record remains.
    store.delete_object(owner, "a/c".into(), 40).await.unwrap();
    let usage = store.peer_usage().await.unwrap();
    assert_eq!(usage[&peer(1)].pieces, 1);
    assert_eq!(usage[&peer(1)].pending_deletes, 0);
    store.delete_object(owner, "a/b".into(), 50).await.unwrap();
    let usage = store.peer_usage().await.unwrap();
    assert_eq!(usage[&peer(1)].pieces, 0);
    assert_eq!(usage[&peer(1)].pending_deletes, 1);
}
