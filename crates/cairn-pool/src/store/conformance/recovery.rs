//! Conformance cases of recovery: records given back find their pieces on the peers that
//! said they hold them, and wait for the rest.

use super::*;

fn imported(id: ObjectId, path: &str) -> ImportedObject {
    ImportedObject {
        id,
        path: path.to_owned(),
        redundancy: Redundancy::ec(2, 2).unwrap(),
        size: 200,
        metadata: b"sealed".to_vec(),
        segments: vec![ImportedSegment {
            index: 0,
            piece_size: 100,
            fragments: (0..4).map(|f| hash(0, f)).collect(),
        }],
    }
}

fn holders(record: &ObjectRecord) -> Vec<(u16, PeerId)> {
    let mut out: Vec<_> = record.segments[0]
        .pieces
        .iter()
        .map(|p| (p.fragment, p.peer))
        .collect();
    out.sort();
    out
}

pub(super) async fn records_given_back_find_their_pieces_and_wait_for_the_rest<S: MetadataStore>(
    store: S,
) {
    for n in 1..=4 {
        store.register_peer(registration(n), 10).await.unwrap();
    }
    let alice = account(1);
    let locator = [7u8; 16];
    let ledger_piece = PieceHash::of(b"ledger");
    // Peer 1 holds fragment 0 and a ledger piece; peer 2 fragment 1 and (wrongly) fragment 0.
    store
        .record_held(peer(1), vec![hash(0, 0)], vec![(locator, ledger_piece, 55)])
        .await
        .unwrap();
    store
        .record_held(peer(2), vec![hash(0, 1), hash(0, 0)], Vec::new())
        .await
        .unwrap();
    assert_eq!(
        store.ledger_held(locator, None, 10).await.unwrap(),
        vec![(ledger_piece, 55, peer(1))]
    );
    assert!(
        store
            .ledger_held([8; 16], None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .ledger_held(locator, Some(ledger_piece), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let before = store.index_mark().await.unwrap();
    let id = ObjectId::from_bytes([1; 16]);
    let outcome = store
        .import_objects(alice, vec![imported(id, "a/b")], 20)
        .await
        .unwrap()[0];
    assert_eq!(outcome.state, ImportState::Imported);
    // Fragment 0 goes on one of its holders, and the other is not given fragment 1 as well
    // as fragment 0 (invariant 2).
    assert_eq!(outcome.placed + outcome.awaited, 4);
    let record = store
        .object(alice, "a/b".to_owned())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.id, id);
    assert_eq!(record.metadata, b"sealed");
    let placed = holders(&record);
    assert_eq!(placed.len() as u64, outcome.placed);
    let mut peers: Vec<_> = placed.iter().map(|(_, p)| *p).collect();
    peers.dedup();
    assert_eq!(
        peers.len(),
        placed.len(),
        "a peer holds two fragments of a segment"
    );
    assert!(placed.iter().all(|(f, _)| *f < 2));
    assert!(store.index_mark().await.unwrap().generation > before.generation);

    // The same record again, or another at its path, changes nothing.
    let again = store
        .import_objects(
            alice,
            vec![
                imported(id, "a/b"),
                imported(ObjectId::from_bytes([2; 16]), "a/b"),
            ],
            30,
        )
        .await
        .unwrap();
    assert_eq!(again[0].state, ImportState::Known);
    assert_eq!(again[1].state, ImportState::Taken);
    assert_eq!(store.stats().await.unwrap().objects, 1);

    // Peers that come back with awaited fragments have them placed at once.
    assert_eq!(
        store
            .record_held(peer(3), vec![hash(0, 2)], Vec::new())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_held(
                peer(4),
                vec![hash(0, 3), PieceHash::of(b"stray")],
                Vec::new()
            )
            .await
            .unwrap(),
        1
    );
    let record = store
        .object(alice, "a/b".to_owned())
        .await
        .unwrap()
        .unwrap();
    let placed = holders(&record);
    assert!(placed.contains(&(2, peer(3))));
    assert!(placed.contains(&(3, peer(4))));
    // A stray piece stays merely held: a later import may claim it, nothing deletes it.
    assert!(store.pending_deletes(peer(4), 10).await.unwrap().is_empty());
}
