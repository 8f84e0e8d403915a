//! Conformance cases of shares: kept as made, listed by owner, opened while live and never
//! past a limit, revoked only by their owner, sharing only what they name.

use cairn_core::ShareId;

use super::*;

fn new_share(id: u8, account: AccountId, objects: Vec<ObjectId>) -> NewShare {
    NewShare {
        id: ShareId::from_bytes([id; 16]),
        account,
        token_hash: [id; 32],
        manifest: vec![id; 40],
        label: b"sealed label".to_vec(),
        objects,
        created_ms: 100 + u64::from(id),
        expires_ms: None,
        max_downloads: None,
    }
}

pub(super) async fn shares_open_while_live_and_share_only_what_they_name<S: MetadataStore>(
    store: S,
) {
    let (object, alice) = committed_object(&store).await;
    let other = commit_at(&store, alice, "a/c", 30).await;
    let bob = account(2);
    store.ensure_account(bob, 10).await.unwrap();

    // Kept as made; its id is taken once; objects must be the owner's committed ones.
    let share = new_share(1, alice, vec![object]);
    store.create_share(share.clone()).await.unwrap();
    assert!(matches!(
        store.create_share(share.clone()).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.create_share(new_share(2, bob, vec![object])).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.share(ShareId::from_bytes([2; 16])).await.unwrap(),
        None
    );
    let kept = store.share(share.id).await.unwrap().unwrap();
    assert_eq!(
        (
            kept.account,
            kept.token_hash,
            &kept.manifest[..],
            &kept.label[..]
        ),
        (alice, [1; 32], &[1u8; 40][..], &b"sealed label"[..])
    );
    assert_eq!(
        (kept.objects, kept.downloads, kept.revoked_ms),
        (1, 0, None)
    );
    assert_eq!(kept.state(1_000_000), ShareState::Live);

    // It shares what it names, and nothing else.
    let record = store
        .shared_object(share.id, object)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.id, record.path.as_str()), (object, "a/b"));
    assert_eq!(record.segments.len(), 1);
    assert_eq!(store.shared_object(share.id, other).await.unwrap(), None);

    // Listed by owner, newest first.
    let mut limited = new_share(3, alice, vec![object, other]);
    limited.max_downloads = Some(2);
    limited.expires_ms = Some(5_000);
    store.create_share(limited.clone()).await.unwrap();
    let listed: Vec<ShareId> = (store.shares(alice).await.unwrap().iter())
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![limited.id, share.id]);
    assert!(store.shares(bob).await.unwrap().is_empty());

    // Opened while live, never past its count or its time.
    assert!(store.count_download(limited.id, 1_000).await.unwrap());
    assert!(store.count_download(limited.id, 1_000).await.unwrap());
    assert!(!store.count_download(limited.id, 1_000).await.unwrap());
    let spent = store.share(limited.id).await.unwrap().unwrap();
    assert_eq!(spent.downloads, 2);
    assert_eq!(spent.state(1_000), ShareState::Exhausted);
    assert_eq!(spent.state(5_000), ShareState::Expired);
    let mut timed = new_share(4, alice, vec![object]);
    timed.expires_ms = Some(5_000);
    store.create_share(timed.clone()).await.unwrap();
    assert!(!store.count_download(timed.id, 5_000).await.unwrap());
    assert!(store.count_download(timed.id, 4_999).await.unwrap());
    assert!(
        !store
            .count_download(ShareId::from_bytes([9; 16]), 1)
            .await
            .unwrap()
    );

    // Revoked only by its owner; revoking again keeps the first time.
    assert!(matches!(
        store.revoke_share(bob, share.id, 2_000).await,
        Err(StoreError::NotFound(_))
    ));
    store.revoke_share(alice, share.id, 2_000).await.unwrap();
    store.revoke_share(alice, share.id, 3_000).await.unwrap();
    let revoked = store.share(share.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_ms, Some(2_000));
    assert_eq!(revoked.state(2_500), ShareState::Revoked);
    assert!(!store.count_download(share.id, 2_500).await.unwrap());

    // Deleted once no share naming it still opens (revoked, spent, expired), it goes at
    // once (the next case keeps one a live share names).
    store
        .delete_object(alice, "a/b".into(), 6_000)
        .await
        .unwrap();
    assert_eq!(store.shared_object(timed.id, object).await.unwrap(), None);
}

pub(super) async fn a_shared_object_its_owner_removes_is_kept_until_no_live_share_names_it<
    S: MetadataStore,
>(
    store: S,
) {
    let (object, alice) = committed_object(&store).await;
    let replaced = commit_at(&store, alice, "a/c", 30).await;
    let lone = commit_at(&store, alice, "a/d", 30).await;
    let mut share = new_share(1, alice, vec![object, replaced]);
    share.expires_ms = Some(10_000);
    store.create_share(share.clone()).await.unwrap();
    let other = new_share(2, alice, vec![object]);
    store.create_share(other.clone()).await.unwrap();

    // Deleted and replaced by its owner: gone from the owner's folders, still shared.
    store
        .delete_object(alice, "a/b".into(), 1_000)
        .await
        .unwrap();
    let newer = commit_at(&store, alice, "a/c", 1_000).await;
    store
        .delete_object(alice, "a/d".into(), 1_000)
        .await
        .unwrap();
    let listed: Vec<String> = (store.list_objects(alice, "a/".into(), None, 10).await)
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    assert_eq!(listed, vec!["a/c".to_owned()]);
    assert_eq!(
        store.object(alice, "a/c".into()).await.unwrap().unwrap().id,
        newer
    );
    for kept in [object, replaced] {
        let record = store.shared_object(share.id, kept).await.unwrap().unwrap();
        assert_eq!(record.path, format!("{KEPT_FOLDER}/{kept}"));
        assert_eq!(record.segments[0].pieces.len(), 4, "its pieces stay placed");
    }
    // An object no share named went at once.
    assert_eq!(store.shared_object(share.id, lone).await.unwrap(), None);

    // Nothing ends while a live share names them.
    assert_eq!(store.sweep_kept(5_000).await.unwrap(), 0);
    // Share 1 expires: `replaced` goes, `object` stays for share 2.
    assert_eq!(store.sweep_kept(10_000).await.unwrap(), 1);
    assert_eq!(store.shared_object(share.id, replaced).await.unwrap(), None);
    assert!(
        store
            .shared_object(other.id, object)
            .await
            .unwrap()
            .is_some()
    );
    // Share 2 revoked: the last kept object goes with it.
    store.revoke_share(alice, other.id, 11_000).await.unwrap();
    assert_eq!(store.shared_object(other.id, object).await.unwrap(), None);
    assert_eq!(store.sweep_kept(12_000).await.unwrap(), 0);
    assert_eq!(store.stats().await.unwrap().objects, 1);
}
