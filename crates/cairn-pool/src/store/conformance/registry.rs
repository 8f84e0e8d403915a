//! Conformance cases of the peer registry: registration, heartbeats, health updates.

use super::*;

pub(super) async fn registration_and_heartbeats<S: MetadataStore>(store: S) {
    let record = store.register_peer(registration(1), 100).await.unwrap();
    assert_eq!(record.state, PeerState::Online);
    assert_eq!(record.registered_at, 100);
    assert_eq!(record.free(), 1 << 30);
    let stats = HeartbeatStats {
        used: 10,
        piece_count: 2,
        load: 3,
    };
    let record = store.heartbeat(peer(1), stats, 200).await.unwrap();
    assert_eq!(
        (
            record.used,
            record.piece_count,
            record.load,
            record.last_heartbeat
        ),
        (10, 2, 3, 200)
    );
    assert!(matches!(
        store.heartbeat(peer(9), stats, 200).await,
        Err(StoreError::NotFound(_))
    ));
    // A timed-out peer that heartbeats is online again; draining stays draining.
    for (state, after) in [
        (PeerState::Suspect, PeerState::Online),
        (PeerState::Offline, PeerState::Online),
        (PeerState::Lost, PeerState::Online),
        (PeerState::Draining, PeerState::Draining),
        (PeerState::Disqualified, PeerState::Disqualified),
    ] {
        store.set_peer_state(peer(1), state, 300).await.unwrap();
        assert_eq!(
            store.heartbeat(peer(1), stats, 400).await.unwrap().state,
            after
        );
    }
    // Disqualified survives re-registration; anything else comes back online.
    assert_eq!(
        store
            .register_peer(registration(1), 500)
            .await
            .unwrap()
            .state,
        PeerState::Disqualified
    );
    store
        .set_peer_state(peer(1), PeerState::Left, 600)
        .await
        .unwrap();
    let back = store.register_peer(registration(1), 700).await.unwrap();
    assert_eq!(
        (back.state, back.state_since, back.registered_at),
        (PeerState::Online, 700, 100)
    );
    assert!(matches!(
        store.set_peer_state(peer(9), PeerState::Left, 1).await,
        Err(StoreError::NotFound(_))
    ));
}

pub(super) async fn health_updates_are_applied<S: MetadataStore>(store: S) {
    store.register_peer(registration(1), 0).await.unwrap();
    store.register_peer(registration(2), 0).await.unwrap();
    store
        .update_health(vec![
            PeerHealthUpdate {
                id: peer(1),
                state: PeerState::Suspect,
                state_since: 50,
                availability: 0.5,
                read_state: PeerState::Online,
                read_heartbeat: 0,
            },
            PeerHealthUpdate {
                id: peer(7),
                state: PeerState::Lost,
                state_since: 50,
                availability: 0.0,
                read_state: PeerState::Online,
                read_heartbeat: 0,
            },
        ])
        .await
        .unwrap();
    // A tick that read peer 2 before its heartbeat at 60 must not mark it offline: the
    // heartbeat wins; the score is still written.
    let stats = HeartbeatStats {
        used: 0,
        piece_count: 0,
        load: 0,
    };
    store.heartbeat(peer(2), stats, 60).await.unwrap();
    store
        .update_health(vec![PeerHealthUpdate {
            id: peer(2),
            state: PeerState::Offline,
            state_since: 70,
            availability: 0.25,
            read_state: PeerState::Online,
            read_heartbeat: 0,
        }])
        .await
        .unwrap();
    let two = store.peer(peer(2)).await.unwrap().unwrap();
    assert_eq!(
        (two.state, two.last_heartbeat, two.availability),
        (PeerState::Online, 60, 0.25)
    );
    store.set_peer_rtt(peer(2), 12.5).await.unwrap();
    let peers = store.peers().await.unwrap();
    assert_eq!(peers.len(), 2);
    let one = store.peer(peer(1)).await.unwrap().unwrap();
    assert_eq!(
        (one.state, one.state_since, one.availability),
        (PeerState::Suspect, 50, 0.5)
    );
    assert_eq!(
        store.peer(peer(2)).await.unwrap().unwrap().rtt_ms,
        Some(12.5)
    );
    assert_eq!(store.peer(peer(7)).await.unwrap(), None);
}

pub(super) async fn registration_updates_details<S: MetadataStore>(store: S) {
    for n in [3, 1, 2] {
        store.register_peer(registration(n), 100).await.unwrap();
    }
    let ids: Vec<PeerId> = store.peers().await.unwrap().iter().map(|p| p.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "peers are listed by id");
    let moved = PeerRegistration {
        address: "http://10.0.0.1:7000".to_owned(),
        zone: None,
        capacity: 500,
        used: 600,
        piece_count: 7,
        ..registration(1)
    };
    let record = store.register_peer(moved, 200).await.unwrap();
    assert_eq!(
        (
            record.address.as_str(),
            record.zone.as_deref(),
            record.capacity,
            record.used,
            record.piece_count
        ),
        ("http://10.0.0.1:7000", None, 500, 600, 7)
    );
    assert_eq!(record.free(), 0, "over-full peers have nothing free");
    assert_eq!(
        (
            record.registered_at,
            record.state_since,
            record.last_heartbeat
        ),
        (100, 100, 200),
        "an online peer stays online since it first registered"
    );
    assert_eq!(record.rtt_ms, None);
    assert!((0.0..=1.0).contains(&record.availability));
    // Neither a heartbeat nor setting the same state again moves `state_since`.
    let stats = HeartbeatStats {
        used: 1,
        piece_count: 1,
        load: 0,
    };
    assert_eq!(
        store
            .heartbeat(peer(1), stats, 300)
            .await
            .unwrap()
            .state_since,
        100
    );
    store
        .set_peer_state(peer(1), PeerState::Online, 400)
        .await
        .unwrap();
    store
        .set_peer_state(peer(2), PeerState::Draining, 400)
        .await
        .unwrap();
    let one = store.peer(peer(1)).await.unwrap().unwrap();
    let two = store.peer(peer(2)).await.unwrap().unwrap();
    assert_eq!((one.state, one.state_since), (PeerState::Online, 100));
    assert_eq!((two.state, two.state_since), (PeerState::Draining, 400));
    // Re-registering brings a draining peer back online, since now.
    let back = store.register_peer(registration(2), 500).await.unwrap();
    assert_eq!((back.state, back.state_since), (PeerState::Online, 500));
}

pub(super) async fn the_index_keeps_its_identity_and_counts_where_pieces_go<S: MetadataStore>(
    store: S,
) {
    let first = store.index_mark().await.unwrap();
    assert_ne!(first.id, [0; 16], "an identity made at random");
    // A registration records no piece; placements and commits do, each time.
    store.register_peer(registration(1), 100).await.unwrap();
    assert_eq!(store.index_mark().await.unwrap(), first);
    let upload = new_upload(account(1), "/kept", 100);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    store.record_placement(id, pieces(0)).await.unwrap();
    let placed = store.index_mark().await.unwrap();
    assert_eq!(placed.id, first.id);
    assert!(placed.generation > first.generation);
    commit_at(&store, account(1), "/other", 100).await;
    let committed = store.index_mark().await.unwrap();
    assert_eq!(committed.id, first.id);
    assert!(committed.generation > placed.generation);
    // Reading, listing and deleting do not count.
    store
        .list_objects(account(1), String::new(), None, 10)
        .await
        .unwrap();
    store
        .delete_object(account(1), "/other".to_owned(), 200)
        .await
        .unwrap();
    assert_eq!(store.index_mark().await.unwrap(), committed);
}
