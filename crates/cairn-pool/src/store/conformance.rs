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
            },
            PeerHealthUpdate {
                id: peer(7),
                state: PeerState::Lost,
                state_since: 50,
                availability: 0.0,
            },
        ])
        .await
        .unwrap();
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
            case!(renames_move_objects_atomically);
        }
    };
}
pub(crate) use suite;
