//! Conformance cases of the deletion queue: what replaced and deleted objects leave to collect.

use super::*;

pub(super) async fn replacing_and_deleting_queue_pieces<S: MetadataStore>(store: S) {
    let (first, alice) = committed_object(&store).await;
    // Same pieces again at the same path (e.g. identical content): nothing to delete,
    // because the new object still references them.
    let second = commit_at(&store, alice, "a/b", 30).await;
    assert_ne!(first, second);
    for n in 1..=4 {
        assert!(store.pending_deletes(peer(n), 10).await.unwrap().is_empty());
    }
    let object = store
        .object(alice, "a/b".to_owned())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(object.id, second);
    assert_eq!(store.stats().await.unwrap().objects, 1);
    assert!(matches!(
        store.delete_object(account(2), "a/b".to_owned(), 40).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .delete_object(alice, "a/b".to_owned(), 40)
        .await
        .unwrap();
    for n in 1..=4 {
        assert_eq!(store.pending_deletes(peer(n), 10).await.unwrap().len(), 1);
    }
    assert!(matches!(
        store.delete_object(alice, "a/b".to_owned(), 40).await,
        Err(StoreError::NotFound(_))
    ));
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.objects, stats.pieces, stats.bytes), (0, 0, 0));
}

pub(super) async fn shared_pieces_are_deleted_last<S: MetadataStore>(store: S) {
    let alice = account(1);
    // Two objects whose pieces are the same bytes on the same peers.
    commit_at(&store, alice, "one", 10).await;
    commit_at(&store, alice, "two", 10).await;
    // And an open upload that was told to put one of them on peer 1 again.
    let open = new_upload(alice, "three", 10);
    let open_id = open.id;
    store.begin_upload(open).await.unwrap();
    store
        .record_placement(open_id, vec![pieces(0)[0].clone()])
        .await
        .unwrap();
    store.delete_object(alice, "one".into(), 20).await.unwrap();
    for n in 1..=4 {
        assert!(store.pending_deletes(peer(n), 10).await.unwrap().is_empty());
    }
    store.delete_object(alice, "two".into(), 30).await.unwrap();
    assert!(
        store.pending_deletes(peer(1), 10).await.unwrap().is_empty(),
        "the open upload still needs it"
    );
    for n in 2..=4 {
        assert_eq!(store.pending_deletes(peer(n), 10).await.unwrap().len(), 1);
    }
    store.abort_upload(alice, open_id, 40).await.unwrap();
    assert_eq!(
        store.pending_deletes(peer(1), 10).await.unwrap(),
        vec![hash(0, 0)]
    );
    // Limits, and acknowledging twice or for the wrong peer, are harmless.
    let big = new_upload(alice, "big", 50);
    let big_id = big.id;
    store.begin_upload(big).await.unwrap();
    let many: Vec<PiecePlacement> = (1..6)
        .flat_map(|segment| pieces(segment).into_iter().take(1))
        .collect();
    store.record_placement(big_id, many).await.unwrap();
    store.abort_upload(alice, big_id, 60).await.unwrap();
    assert_eq!(store.pending_deletes(peer(1), 100).await.unwrap().len(), 6);
    let first = store.pending_deletes(peer(1), 2).await.unwrap();
    assert_eq!(first.len(), 2);
    store.ack_deletes(peer(2), first.clone()).await.unwrap();
    assert_eq!(store.pending_deletes(peer(1), 100).await.unwrap().len(), 6);
    store.ack_deletes(peer(1), first.clone()).await.unwrap();
    store.ack_deletes(peer(1), first.clone()).await.unwrap();
    let rest = store.pending_deletes(peer(1), 100).await.unwrap();
    assert_eq!(rest.len(), 4);
    assert!(rest.iter().all(|h| !first.contains(h)));
    assert!(store.pending_deletes(peer(1), 0).await.unwrap().is_empty());
}
