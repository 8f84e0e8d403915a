//! The behaviour every metadata-store backend must show, written once against the trait.
//! A backend instantiates it with `suite!(|| (store, guard))`, where `guard` keeps the
//! backend's resources (a temp dir, a test database) alive for the test.

use cairn_core::{AccountId, PeerId, PieceHash, Redundancy};
use ed25519_dalek::SigningKey;

use super::*;
use crate::state::PeerState;

pub(crate) fn peer(n: u8) -> PeerId {
    PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
}

pub(crate) fn account(n: u8) -> AccountId {
    AccountId::from_verifying_key(&SigningKey::from_bytes(&[100 + n; 32]).verifying_key())
}

fn registration(n: u8) -> PeerRegistration {
    PeerRegistration {
        id: peer(n),
        address: format!("http://127.0.0.{n}:7000"),
        zone: Some(format!("z{n}")),
        capacity: 1 << 30,
        used: 0,
        piece_count: 0,
    }
}

fn hash(segment: u32, fragment: u16) -> PieceHash {
    PieceHash::of(format!("{segment}/{fragment}").as_bytes())
}

/// Pieces of segment `segment`: fragment `f` on peer `f + 1` (`ec:2+2`).
fn pieces(segment: u32) -> Vec<PiecePlacement> {
    (0..4u16)
        .map(|f| PiecePlacement {
            segment,
            fragment: f,
            hash: hash(segment, f),
            size: 100,
            peer: peer(f as u8 + 1),
        })
        .collect()
}

fn new_upload(account: AccountId, path: &str, now: u64) -> NewUpload {
    NewUpload {
        id: UploadId::random(),
        account,
        path: path.to_owned(),
        redundancy: Redundancy::ec(2, 2).unwrap(),
        created_at: now,
        expires_at: now + 1000,
    }
}

/// Uploads and commits a one-segment object at `path`; returns its id.
pub(crate) async fn commit_at<S: MetadataStore>(
    store: &S,
    account: AccountId,
    path: &str,
    now: u64,
) -> UploadId {
    let upload = new_upload(account, path, now);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    store.record_placement(id, pieces(0)).await.unwrap();
    store
        .commit_segment(
            account,
            id,
            SegmentCommit {
                index: 0,
                piece_size: 100,
                pieces: pieces(0),
            },
        )
        .await
        .unwrap();
    store
        .commit_object(
            account,
            id,
            CommitObject {
                metadata: b"sealed".to_vec(),
                size: 200,
                segment_count: 1,
            },
            now,
        )
        .await
        .unwrap();
    id
}

/// Four peers and one committed object at `a/b`.
pub(crate) async fn committed_object<S: MetadataStore>(store: &S) -> (UploadId, AccountId) {
    for n in 1..=4 {
        store.register_peer(registration(n), 10).await.unwrap();
    }
    (commit_at(store, account(1), "a/b", 20).await, account(1))
}

pub(crate) async fn registration_and_heartbeats<S: MetadataStore>(store: S) {
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

pub(crate) async fn health_updates_are_applied<S: MetadataStore>(store: S) {
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

pub(crate) async fn uncommitted_uploads_are_invisible<S: MetadataStore>(store: S) {
    let alice = account(1);
    assert!(store.ensure_account(alice, 1).await.unwrap());
    assert!(!store.ensure_account(alice, 2).await.unwrap());
    let upload = new_upload(alice, "a/b", 10);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    store.record_placement(id, pieces(0)).await.unwrap();
    assert_eq!(store.placements(id, 0).await.unwrap(), pieces(0));
    assert!(store.placements(id, 1).await.unwrap().is_empty());
    store
        .commit_segment(
            alice,
            id,
            SegmentCommit {
                index: 0,
                piece_size: 100,
                pieces: pieces(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .upload(alice, id)
            .await
            .unwrap()
            .unwrap()
            .committed_segments,
        vec![0]
    );
    assert_eq!(
        store.upload(account(2), id).await.unwrap(),
        None,
        "accounts are isolated"
    );
    assert!(
        store
            .list_objects(alice, String::new(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.object(alice, "a/b".to_owned()).await.unwrap(), None);
    // Another account cannot commit it.
    assert!(matches!(
        store
            .commit_segment(
                account(2),
                id,
                SegmentCommit {
                    index: 1,
                    piece_size: 100,
                    pieces: pieces(1)
                }
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    let commit = CommitObject {
        metadata: b"m".to_vec(),
        size: 1,
        segment_count: 2,
    };
    assert_eq!(
        store.commit_object(alice, id, commit.clone(), 20).await,
        Err(StoreError::Incomplete { missing: vec![1] })
    );
    assert!(matches!(
        store.commit_object(account(2), id, commit, 20).await,
        Err(StoreError::NotFound(_))
    ));
    let commit = CommitObject {
        metadata: b"m".to_vec(),
        size: 1,
        segment_count: 1,
    };
    assert_eq!(
        store.commit_object(alice, id, commit.clone(), 20).await,
        Ok(None)
    );
    assert_eq!(
        store.upload(alice, id).await.unwrap(),
        None,
        "no longer open"
    );
    assert!(matches!(
        store.commit_object(alice, id, commit, 20).await,
        Err(StoreError::NotFound(_))
    ));
    let listed = store
        .list_objects(alice, String::new(), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].path.as_str(), listed[0].metadata.as_slice()),
        ("a/b", &b"m"[..])
    );
    assert!(
        store
            .list_objects(account(2), String::new(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn spare_placements_are_collected_on_commit<S: MetadataStore>(store: S) {
    let alice = account(1);
    let upload = new_upload(alice, "x", 10);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    let mut placed = pieces(0);
    let spare = PiecePlacement {
        peer: peer(9),
        ..placed[0].clone()
    };
    placed.push(spare);
    store.record_placement(id, placed).await.unwrap();
    assert!(
        store
            .pieces_on_peer(peer(9))
            .await
            .unwrap()
            .contains(&hash(0, 0))
    );
    store
        .commit_segment(
            alice,
            id,
            SegmentCommit {
                index: 0,
                piece_size: 100,
                pieces: pieces(0),
            },
        )
        .await
        .unwrap();
    store
        .commit_object(
            alice,
            id,
            CommitObject {
                metadata: vec![],
                size: 1,
                segment_count: 1,
            },
            20,
        )
        .await
        .unwrap();
    assert_eq!(
        store.pending_deletes(peer(9), 10).await.unwrap(),
        vec![hash(0, 0)]
    );
    assert!(store.pending_deletes(peer(1), 10).await.unwrap().is_empty());
    assert!(store.pieces_on_peer(peer(9)).await.unwrap().is_empty());
    assert_eq!(
        store.pieces_on_peer(peer(1)).await.unwrap(),
        vec![hash(0, 0)]
    );
    store.ack_deletes(peer(9), vec![hash(0, 0)]).await.unwrap();
    assert!(store.pending_deletes(peer(9), 10).await.unwrap().is_empty());
}

pub(crate) async fn replacing_and_deleting_queue_pieces<S: MetadataStore>(store: S) {
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

pub(crate) async fn abort_and_expiry_collect_uploads<S: MetadataStore>(store: S) {
    let alice = account(1);
    let a = new_upload(alice, "p", 10);
    let b = NewUpload {
        expires_at: 5000,
        ..new_upload(alice, "q", 10)
    };
    let (a_id, b_id) = (a.id, b.id);
    store.begin_upload(a).await.unwrap();
    store.begin_upload(b).await.unwrap();
    store.record_placement(a_id, pieces(0)).await.unwrap();
    store.record_placement(b_id, pieces(1)).await.unwrap();
    assert_eq!(store.stats().await.unwrap().pending_uploads, 2);
    assert_eq!(store.expire_uploads(1009).await.unwrap(), 0);
    assert_eq!(store.expire_uploads(1010).await.unwrap(), 1);
    assert_eq!(store.upload(alice, a_id).await.unwrap(), None);
    assert_eq!(
        store.pending_deletes(peer(1), 10).await.unwrap(),
        vec![hash(0, 0)]
    );
    assert!(matches!(
        store.abort_upload(account(2), b_id, 20).await,
        Err(StoreError::NotFound(_))
    ));
    store.abort_upload(alice, b_id, 20).await.unwrap();
    assert_eq!(store.pending_deletes(peer(1), 10).await.unwrap().len(), 2);
    assert_eq!(store.stats().await.unwrap().pending_uploads, 0);
    // Placing a queued piece again takes it off the queue.
    let c = new_upload(alice, "r", 30);
    let c_id = c.id;
    store.begin_upload(c).await.unwrap();
    store.record_placement(c_id, pieces(0)).await.unwrap();
    assert_eq!(
        store.pending_deletes(peer(1), 10).await.unwrap(),
        vec![hash(1, 0)]
    );
}

pub(crate) async fn listing_pages_by_prefix<S: MetadataStore>(store: S) {
    let alice = account(1);
    for path in ["a/x", "a/y", "a/z/1", "ab", "b", "a%/q", "a_/q"] {
        commit_at(&store, alice, path, 10).await;
    }
    let paths = |v: Vec<ObjectSummary>| v.into_iter().map(|o| o.path).collect::<Vec<_>>();
    assert_eq!(
        paths(
            store
                .list_objects(alice, "a/".into(), None, 10)
                .await
                .unwrap()
        ),
        ["a/x", "a/y", "a/z/1"]
    );
    assert_eq!(
        paths(
            store
                .list_objects(alice, "a/".into(), None, 2)
                .await
                .unwrap()
        ),
        ["a/x", "a/y"]
    );
    assert_eq!(
        paths(
            store
                .list_objects(alice, "a/".into(), Some("a/y".into()), 2)
                .await
                .unwrap()
        ),
        ["a/z/1"]
    );
    assert_eq!(
        paths(
            store
                .list_objects(alice, "a%/".into(), None, 10)
                .await
                .unwrap()
        ),
        ["a%/q"],
        "no wildcard semantics"
    );
    assert_eq!(
        store
            .list_objects(alice, String::new(), None, 100)
            .await
            .unwrap()
            .len(),
        7
    );
}

pub(crate) async fn listing_one_level_skips_sub_folders<S: MetadataStore>(store: S) {
    let alice = account(1);
    for path in [
        "a/x", "a/y/1", "a/y/2", "a/y/z/3", "a/z", "a/zz/1", "a-/q", "ab", "b/c/d",
    ] {
        commit_at(&store, alice, path, 10).await;
    }
    commit_at(&store, account(2), "a/w", 10).await;
    let level = |prefix: &str, after: Option<&str>, limit| {
        let (prefix, after) = (prefix.to_owned(), after.map(str::to_owned));
        let store = &store;
        async move {
            let entries = store.list_level(alice, prefix, after, limit).await.unwrap();
            entries
                .into_iter()
                .map(|e| match e {
                    LevelEntry::Object(o) => o.path,
                    LevelEntry::Folder(f) => f,
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(level("a/", None, 10).await, ["a/x", "a/y/", "a/z", "a/zz/"]);
    assert_eq!(level("a/", None, 2).await, ["a/x", "a/y/"]);
    assert_eq!(level("a/", Some("a/y/"), 2).await, ["a/z", "a/zz/"]);
    assert_eq!(level("a/", Some("a/x"), 1).await, ["a/y/"]);
    assert!(level("a/", Some("a/zz/"), 2).await.is_empty());
    assert_eq!(level("a/y/", None, 10).await, ["a/y/1", "a/y/2", "a/y/z/"]);
    assert_eq!(level("", None, 10).await, ["a-/", "a/", "ab", "b/"]);
    assert!(level("nothing/", None, 10).await.is_empty());
}

pub(crate) async fn renames_move_objects_atomically<S: MetadataStore>(store: S) {
    let alice = account(1);
    for path in ["d/1", "d/2", "e/2", "f"] {
        commit_at(&store, alice, path, 10).await;
    }
    assert!(matches!(
        store
            .rename_object(alice, "nope".into(), "x".into(), 20)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .rename_object(alice, "f".into(), "d/1".into(), 20)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    store
        .rename_object(alice, "f".into(), "g".into(), 20)
        .await
        .unwrap();
    assert!(store.object(alice, "f".into()).await.unwrap().is_none());
    assert!(store.object(alice, "g".into()).await.unwrap().is_some());
    // A folder rename that would overwrite anything changes nothing.
    assert!(matches!(
        store
            .rename_prefix(alice, "d/".into(), "e/".into(), 30)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(store.object(alice, "d/1".into()).await.unwrap().is_some());
    assert_eq!(
        store
            .rename_prefix(alice, "d/".into(), "h/".into(), 30)
            .await
            .unwrap(),
        2
    );
    let all: Vec<_> = store
        .list_objects(alice, String::new(), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    assert_eq!(all, ["e/2", "g", "h/1", "h/2"]);
    assert_eq!(
        store
            .rename_prefix(account(2), "h/".into(), "i/".into(), 30)
            .await
            .unwrap(),
        0
    );
}

fn commit_of(index: u32, pieces: Vec<PiecePlacement>) -> SegmentCommit {
    SegmentCommit {
        index,
        piece_size: 100,
        pieces,
    }
}

fn object_of(segment_count: u32) -> CommitObject {
    CommitObject {
        metadata: b"sealed".to_vec(),
        size: 100 * u64::from(segment_count),
        segment_count,
    }
}

pub(crate) async fn registration_updates_details<S: MetadataStore>(store: S) {
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

pub(crate) async fn uploads_are_checked<S: MetadataStore>(store: S) {
    let alice = account(1);
    let upload = new_upload(alice, "u", 10);
    let id = upload.id;
    store.begin_upload(upload.clone()).await.unwrap();
    let record = store.upload(alice, id).await.unwrap().unwrap();
    assert_eq!(
        (
            record.path.as_str(),
            record.redundancy,
            record.created_at,
            record.expires_at,
            record.committed_segments.len()
        ),
        ("u", upload.redundancy, 10, 1010, 0)
    );
    assert!(matches!(
        store.begin_upload(upload).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.record_placement(UploadId::random(), pieces(0)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .commit_segment(alice, UploadId::random(), commit_of(0, pieces(0)))
            .await,
        Err(StoreError::NotFound(_))
    ));
    // The same fragment twice on one peer is refused, and changes nothing.
    let mut twice = pieces(0);
    twice.push(twice[0].clone());
    assert!(matches!(
        store.commit_segment(alice, id, commit_of(0, twice)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .upload(alice, id)
            .await
            .unwrap()
            .unwrap()
            .committed_segments
            .is_empty()
    );
    // Segments beyond the count are as wrong as missing ones.
    for index in [0, 1, 2] {
        store
            .commit_segment(alice, id, commit_of(index, pieces(index)))
            .await
            .unwrap();
    }
    assert_eq!(
        store.commit_object(alice, id, object_of(2), 20).await,
        Err(StoreError::Incomplete { missing: vec![2] })
    );
    assert_eq!(
        store.commit_object(alice, id, object_of(4), 20).await,
        Err(StoreError::Incomplete { missing: vec![3] })
    );
    assert_eq!(
        store.commit_object(alice, id, object_of(3), 20).await,
        Ok(None)
    );
    assert_eq!(
        store.upload(alice, id).await.unwrap(),
        None,
        "a committed upload is no longer open"
    );
    assert!(matches!(
        store.record_placement(id, pieces(5)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.abort_upload(alice, id, 30).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.expire_uploads(u64::MAX / 2).await.unwrap(),
        0,
        "committed objects never expire"
    );
    assert!(store.object(alice, "u".into()).await.unwrap().is_some());
}

pub(crate) async fn objects_keep_segment_and_piece_order<S: MetadataStore>(store: S) {
    let alice = account(1);
    let upload = new_upload(alice, "big", 10);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    for index in [2, 0, 1] {
        let mut segment = pieces(index);
        segment.reverse();
        // A second copy of fragment 0, on a peer that sorts anywhere.
        segment.push(PiecePlacement {
            peer: peer(9),
            ..pieces(index)[0].clone()
        });
        store.record_placement(id, segment.clone()).await.unwrap();
        store
            .commit_segment(alice, id, commit_of(index, segment))
            .await
            .unwrap();
    }
    store
        .commit_object(alice, id, object_of(3), 50)
        .await
        .unwrap();
    let object = store.object(alice, "big".into()).await.unwrap().unwrap();
    assert_eq!(
        (
            object.id,
            object.path.as_str(),
            object.redundancy,
            object.metadata.as_slice(),
            object.size,
            object.committed_at
        ),
        (
            id,
            "big",
            Redundancy::ec(2, 2).unwrap(),
            &b"sealed"[..],
            300,
            50
        )
    );
    let indexes: Vec<u32> = object.segments.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 1, 2]);
    for segment in &object.segments {
        assert_eq!(segment.piece_size, 100);
        assert!(segment.pieces.iter().all(|p| p.segment == segment.index));
        let mut expected = pieces(segment.index);
        expected.push(PiecePlacement {
            peer: peer(9),
            ..pieces(segment.index)[0].clone()
        });
        expected.sort_by_key(|p| (p.fragment, p.peer));
        assert_eq!(segment.pieces, expected);
    }
    let listed = store
        .list_objects(alice, String::new(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![ObjectSummary {
            path: "big".into(),
            size: 300,
            committed_at: 50,
            metadata: b"sealed".to_vec()
        }]
    );
    assert_eq!(
        store.pieces_on_peer(peer(9)).await.unwrap(),
        {
            let mut hashes = vec![hash(0, 0), hash(1, 0), hash(2, 0)];
            hashes.sort();
            hashes
        },
        "every piece the peer holds, once each, sorted"
    );
    assert!(
        store
            .object(account(2), "big".into())
            .await
            .unwrap()
            .is_none()
    );
}

pub(crate) async fn segment_retries_replace_pieces<S: MetadataStore>(store: S) {
    let alice = account(1);
    let upload = new_upload(alice, "r", 10);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    // Fragment 0 was placed on peers 1 and 5; the first attempt used peer 1, the retry 5.
    let moved = PiecePlacement {
        peer: peer(5),
        ..pieces(0)[0].clone()
    };
    let mut placed = pieces(0);
    placed.push(moved.clone());
    store.record_placement(id, placed).await.unwrap();
    store
        .commit_segment(alice, id, commit_of(0, pieces(0)))
        .await
        .unwrap();
    let mut retry = pieces(0);
    retry[0] = moved;
    store
        .commit_segment(alice, id, commit_of(0, retry.clone()))
        .await
        .unwrap();
    assert_eq!(
        store
            .upload(alice, id)
            .await
            .unwrap()
            .unwrap()
            .committed_segments,
        vec![0]
    );
    assert_eq!(
        store.stats().await.unwrap().pieces,
        4,
        "replaced, not added"
    );
    store
        .commit_object(alice, id, object_of(1), 20)
        .await
        .unwrap();
    let object = store.object(alice, "r".into()).await.unwrap().unwrap();
    assert_eq!(object.segments[0].pieces, retry);
    assert_eq!(
        store.pending_deletes(peer(1), 10).await.unwrap(),
        vec![hash(0, 0)],
        "the first attempt's piece is collected"
    );
    assert!(store.pending_deletes(peer(5), 10).await.unwrap().is_empty());
}

pub(crate) async fn shared_pieces_are_deleted_last<S: MetadataStore>(store: S) {
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

pub(crate) async fn stats_count_everything<S: MetadataStore>(store: S) {
    assert_eq!(store.stats().await.unwrap(), StoreStats::default());
    for n in 1..=4 {
        store.register_peer(registration(n), 10).await.unwrap();
    }
    store
        .set_peer_state(peer(4), PeerState::Lost, 20)
        .await
        .unwrap();
    commit_at(&store, account(1), "a", 30).await;
    commit_at(&store, account(2), "a", 30).await;
    let open = new_upload(account(3), "b", 40);
    let open_id = open.id;
    store.begin_upload(open).await.unwrap();
    store.record_placement(open_id, pieces(0)).await.unwrap();
    store
        .commit_segment(account(3), open_id, commit_of(0, pieces(0)))
        .await
        .unwrap();
    let mut stats = store.stats().await.unwrap();
    stats
        .peers_by_state
        .sort_by_key(|(state, _)| state.as_str());
    let mut expected = vec![(PeerState::Online, 3), (PeerState::Lost, 1)];
    expected.sort_by_key(|(state, _)| state.as_str());
    assert_eq!(
        stats,
        StoreStats {
            peers_by_state: expected,
            accounts: 3,
            objects: 2,
            bytes: 400,
            pieces: 12,
            pending_uploads: 1,
        }
    );
}

pub(crate) async fn folder_renames_may_nest<S: MetadataStore>(store: S) {
    let alice = account(1);
    for path in ["d/1", "d/x/1", "dz"] {
        commit_at(&store, alice, path, 10).await;
    }
    // `d/1` lands where `d/x/1` was, which moves on too: nothing is overwritten.
    assert_eq!(
        store
            .rename_prefix(alice, "d/".into(), "d/x/".into(), 20)
            .await
            .unwrap(),
        2
    );
    let all: Vec<_> = store
        .list_objects(alice, String::new(), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    assert_eq!(all, ["d/x/1", "d/x/x/1", "dz"]);
    // A rename onto itself changes nothing and counts what it covered.
    assert_eq!(
        store
            .rename_prefix(alice, "d/".into(), "d/".into(), 30)
            .await
            .unwrap(),
        2
    );
    store
        .rename_object(alice, "dz".into(), "dz".into(), 30)
        .await
        .unwrap();
    // Open uploads are not objects: they are neither moved nor in the way.
    let open = new_upload(alice, "e/1", 40);
    store.begin_upload(open).await.unwrap();
    store
        .rename_object(alice, "dz".into(), "e/1".into(), 50)
        .await
        .unwrap();
    assert_eq!(
        store
            .rename_prefix(alice, "e/".into(), "f/".into(), 60)
            .await
            .unwrap(),
        1
    );
    assert!(store.object(alice, "f/1".into()).await.unwrap().is_some());
}

/// Regression: listing without `after` once skipped an object at the empty path.
pub(crate) async fn the_empty_path_is_listed<S: MetadataStore>(store: S) {
    let alice = account(1);
    commit_at(&store, alice, "", 10).await;
    commit_at(&store, alice, "a", 10).await;
    let paths: Vec<String> = store
        .list_objects(alice, String::new(), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    assert_eq!(paths, ["", "a"]);
    let after: Vec<String> = store
        .list_objects(alice, String::new(), Some(String::new()), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    assert_eq!(after, ["a"]);
}

/// Begins an upload of `shape` at `path`, commits `segments` (segment `i` is `segments[i]`)
/// and the object; returns its id.
async fn commit_shaped<S: MetadataStore>(
    store: &S,
    account: AccountId,
    path: &str,
    shape: Redundancy,
    segments: Vec<Vec<PiecePlacement>>,
) -> UploadId {
    let upload = NewUpload {
        redundancy: shape,
        ..new_upload(account, path, 10)
    };
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    let count = segments.len() as u32;
    for (index, pieces) in segments.into_iter().enumerate() {
        store
            .commit_segment(account, id, commit_of(index as u32, pieces))
            .await
            .unwrap();
    }
    store
        .commit_object(account, id, object_of(count), 20)
        .await
        .unwrap();
    id
}

pub(crate) async fn repair_queue_counts_segments_below_redundancy<S: MetadataStore>(store: S) {
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

pub(crate) async fn objects_may_have_no_segments<S: MetadataStore>(store: S) {
    let alice = account(1);
    let empty = new_upload(alice, "folder", 10);
    let id = empty.id;
    store.begin_upload(empty).await.unwrap();
    let commit = CommitObject {
        metadata: b"sealed".to_vec(),
        size: 0,
        segment_count: 0,
    };
    assert_eq!(
        store.commit_object(alice, id, commit.clone(), 20).await,
        Ok(None)
    );
    let object = store.object(alice, "folder".into()).await.unwrap().unwrap();
    assert_eq!((object.size, object.segments.len()), (0, 0));
    assert_eq!(
        store
            .list_objects(alice, String::new(), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // An upload with a committed segment is not empty.
    let full = new_upload(alice, "file", 30);
    let full_id = full.id;
    store.begin_upload(full).await.unwrap();
    store
        .commit_segment(alice, full_id, commit_of(0, pieces(0)))
        .await
        .unwrap();
    assert_eq!(
        store.commit_object(alice, full_id, commit, 40).await,
        Err(StoreError::Incomplete { missing: vec![0] })
    );
    assert_eq!(store.degraded_segments().await.unwrap(), 0);
}

/// Commits one object per path, then checks that paging through `prefix` with pages of
/// `limit` gives exactly the sorted, byte-wise prefix matches, starting after `after`.
pub(crate) async fn listing_matches_model<S: MetadataStore>(
    store: S,
    paths: Vec<String>,
    prefix: String,
    after: Option<String>,
    limit: u32,
) {
    let alice = account(1);
    for path in &paths {
        commit_at(&store, alice, path, 10).await;
    }
    commit_at(&store, account(2), &prefix, 10).await;
    let mut expected: Vec<String> = paths
        .into_iter()
        .filter(|p| p.as_bytes().starts_with(prefix.as_bytes()))
        .filter(|p| after.as_ref().is_none_or(|a| p.as_bytes() > a.as_bytes()))
        .collect();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    expected.dedup();
    let mut listed = Vec::new();
    let mut cursor = after;
    loop {
        let page = store
            .list_objects(alice, prefix.clone(), cursor.clone(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit as usize);
        let full = page.len() == limit as usize;
        listed.extend(page.into_iter().map(|o| o.path));
        if !full || limit == 0 {
            break;
        }
        cursor = listed.last().cloned();
    }
    if limit > 0 {
        assert_eq!(listed, expected);
    } else {
        assert!(listed.is_empty());
    }
}

pub(crate) async fn damaged_segments_are_found_and_repaired<S: MetadataStore>(store: S) {
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

/// A last segment and its object commit together, or neither does.
pub(crate) async fn a_last_segment_commits_with_its_object<S: MetadataStore>(store: S) {
    for n in 1..=4 {
        store.register_peer(registration(n), 10).await.unwrap();
    }
    let owner = account(1);
    let segment = |index: u32| SegmentCommit {
        index,
        piece_size: 100,
        pieces: pieces(index),
    };
    let commit = |segment_count: u32| CommitObject {
        metadata: b"sealed".to_vec(),
        size: 200 * u64::from(segment_count),
        segment_count,
    };
    // One segment: one call stores both.
    let upload = new_upload(owner, "one", 20);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    store.record_placement(id, pieces(0)).await.unwrap();
    let replaced = store
        .commit_with_segment(owner, id, segment(0), commit(1), 30)
        .await
        .unwrap();
    assert_eq!(replaced, None);
    let record = store.object(owner, "one".into()).await.unwrap().unwrap();
    assert_eq!(record.segments.len(), 1);
    assert_eq!(record.segments[0].pieces.len(), 4);
    // Two segments, the first never committed: refused, and the second is not recorded
    // either (the upload stays open, nothing is listed).
    let upload = new_upload(owner, "two", 40);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    store.record_placement(id, pieces(1)).await.unwrap();
    assert!(matches!(
        store
            .commit_with_segment(owner, id, segment(1), commit(2), 50)
            .await,
        Err(StoreError::Incomplete { .. })
    ));
    assert_eq!(store.object(owner, "two".into()).await.unwrap(), None);
    store.commit_segment(owner, id, segment(0)).await.unwrap();
    assert!(matches!(
        store.commit_object(owner, id, commit(2), 60).await,
        Err(StoreError::Incomplete { .. })
    ));
    store
        .commit_with_segment(owner, id, segment(1), commit(2), 70)
        .await
        .unwrap();
    let record = store.object(owner, "two".into()).await.unwrap().unwrap();
    assert_eq!(record.segments.len(), 2);
    // An upload can begin with its first segment placed, in one step.
    let upload = new_upload(owner, "four", 75);
    let id = upload.id;
    store
        .begin_with_placement(upload.clone(), pieces(0))
        .await
        .unwrap();
    assert_eq!(store.placements(id, 0).await.unwrap(), pieces(0));
    // A taken id is refused whole: no second set of placements.
    assert!(matches!(
        store.begin_with_placement(upload, pieces(1)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(store.placements(id, 1).await.unwrap().is_empty());
    // Another account cannot commit this account's upload.
    let upload = new_upload(owner, "three", 80);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    assert!(matches!(
        store
            .commit_with_segment(account(2), id, segment(0), commit(1), 90)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// No repair or migration ever records a second piece of a segment on one peer: such a
/// record is refused whole (the source keeps its piece) and the stray copy is collected.
pub(crate) async fn a_repair_never_doubles_a_peer_in_a_segment<S: MetadataStore>(store: S) {
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

pub(crate) async fn audits_are_tallied_and_pieces_sampled<S: MetadataStore>(store: S) {
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

pub(crate) async fn usage_and_segment_cursors<S: MetadataStore>(store: S) {
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
    let mut objects: Vec<UploadId> = on_two.iter().map(|s| s.object).collect();
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

pub(crate) async fn account_usage_counts_committed_and_placed_pieces<S: MetadataStore>(store: S) {
    let (alice, bob) = (account(1), account(2));
    assert_eq!(store.account_usage(alice).await.unwrap(), 0);
    let upload = new_upload(alice, "a", 10);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 0);
    // Placed, not committed: every put order counts (four pieces of 100 bytes).
    store.record_placement(id, pieces(0)).await.unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 400);
    // A spare for fragment 0 on a fifth peer counts too while the segment is open.
    let spare = PiecePlacement {
        peer: peer(5),
        ..pieces(0)[0].clone()
    };
    store.record_placement(id, vec![spare]).await.unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 500);
    // Committed: only the stored pieces count, not the spare nor the placements again.
    store
        .commit_segment(
            alice,
            id,
            SegmentCommit {
                index: 0,
                piece_size: 100,
                pieces: pieces(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 400);
    store.record_placement(id, pieces(1)).await.unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 800);
    assert_eq!(store.account_usage(bob).await.unwrap(), 0);
    // Segment 1 is dropped from the object; its placements are collected on commit.
    store
        .commit_object(
            alice,
            id,
            CommitObject {
                metadata: b"m".to_vec(),
                size: 100,
                segment_count: 1,
            },
            20,
        )
        .await
        .unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 400);
    // Another account's objects are not counted, and aborted uploads free what they placed.
    commit_at(&store, bob, "b", 30).await;
    assert_eq!(store.account_usage(bob).await.unwrap(), 400);
    assert_eq!(store.account_usage(alice).await.unwrap(), 400);
    let open = new_upload(alice, "c", 40);
    let open_id = open.id;
    store.begin_upload(open).await.unwrap();
    store.record_placement(open_id, pieces(0)).await.unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 800);
    store.abort_upload(alice, open_id, 50).await.unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 400);
    store.delete_object(alice, "a".into(), 60).await.unwrap();
    assert_eq!(store.account_usage(alice).await.unwrap(), 0);
    assert_eq!(store.account_usage(bob).await.unwrap(), 400);
}

/// Instantiates every conformance test for one backend.
macro_rules! suite {
    ($make:expr) => {
        mod conformance_suite {
            #[allow(unused_imports)]
            use super::*;
            use crate::store::conformance as c;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        let make = $make;
                        let (store, _guard) = make();
                        c::$name(store).await;
                    }
                };
            }

            case!(registration_and_heartbeats);
            case!(health_updates_are_applied);
            case!(uncommitted_uploads_are_invisible);
            case!(spare_placements_are_collected_on_commit);
            case!(replacing_and_deleting_queue_pieces);
            case!(abort_and_expiry_collect_uploads);
            case!(listing_pages_by_prefix);
            case!(listing_one_level_skips_sub_folders);
            case!(renames_move_objects_atomically);
            case!(registration_updates_details);
            case!(uploads_are_checked);
            case!(objects_keep_segment_and_piece_order);
            case!(segment_retries_replace_pieces);
            case!(shared_pieces_are_deleted_last);
            case!(stats_count_everything);
            case!(folder_renames_may_nest);
            case!(the_empty_path_is_listed);
            case!(repair_queue_counts_segments_below_redundancy);
            case!(objects_may_have_no_segments);
            case!(damaged_segments_are_found_and_repaired);
            case!(a_repair_never_doubles_a_peer_in_a_segment);
            case!(a_last_segment_commits_with_its_object);
            case!(audits_are_tallied_and_pieces_sampled);
            case!(usage_and_segment_cursors);
            case!(account_usage_counts_committed_and_placed_pieces);
        }
    };
}
pub(crate) use suite;
