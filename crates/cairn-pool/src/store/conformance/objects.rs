//! Conformance cases of the object index: uploads, segments, commits, listing, renames, usage.

use super::*;

pub(super) async fn uncommitted_uploads_are_invisible<S: MetadataStore>(store: S) {
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

pub(super) async fn spare_placements_are_collected_on_commit<S: MetadataStore>(store: S) {
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

pub(super) async fn abort_and_expiry_collect_uploads<S: MetadataStore>(store: S) {
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

pub(super) async fn listing_pages_by_prefix<S: MetadataStore>(store: S) {
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

pub(super) async fn listing_one_level_skips_sub_folders<S: MetadataStore>(store: S) {
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

pub(super) async fn renames_move_objects_atomically<S: MetadataStore>(store: S) {
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

pub(super) async fn uploads_are_checked<S: MetadataStore>(store: S) {
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
        store
            .record_placement(ObjectId::random(&mut rand::rng()), pieces(0))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .commit_segment(
                alice,
                ObjectId::random(&mut rand::rng()),
                commit_of(0, pieces(0))
            )
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

pub(super) async fn objects_keep_segment_and_piece_order<S: MetadataStore>(store: S) {
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

pub(super) async fn segment_retries_replace_pieces<S: MetadataStore>(store: S) {
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

pub(super) async fn stats_count_everything<S: MetadataStore>(store: S) {
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

pub(super) async fn folder_renames_may_nest<S: MetadataStore>(store: S) {
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
pub(super) async fn the_empty_path_is_listed<S: MetadataStore>(store: S) {
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

pub(super) async fn objects_may_have_no_segments<S: MetadataStore>(store: S) {
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

/// A last segment and its object commit together, or neither does.
pub(super) async fn a_last_segment_commits_with_its_object<S: MetadataStore>(store: S) {
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

pub(super) async fn account_usage_counts_committed_and_placed_pieces<S: MetadataStore>(store: S) {
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
