//! Sharing (issue 17) through the library, against a real pool and peers: a file and a
//! folder received through a link by someone with no account; a wrong password or a
//! tampered link opens nothing; revoked, expired and spent links are refused, each
//! with a clear error; the owner's list says where each stands.

mod common;

use std::time::Duration;

use cairn_client::{ClientError, Progress, Received, ShareOptions};
use cairn_core::share::Link;
use cairn_core::{KdfParams, MasterSecret, RemotePath};
use cairn_proto::codes;

/// Opens `link` as a recipient with no account would (weak password stretching, as the
/// owner used in these tests).
async fn receive(link: &Link, password: Option<&str>) -> Result<Received, ClientError> {
    Received::open_with(link, password, common::options(), KdfParams::INSECURE_FAST).await
}

fn code(e: &ClientError) -> Option<&str> {
    e.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_gives_a_file_and_a_folder_to_someone_without_an_account() {
    let net = common::start().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = common::drive_at(&net.url, &secret);
    drive.register().await.unwrap();
    let local = net.dir.path().join("local");
    std::fs::create_dir_all(local.join("album/day 1")).unwrap();
    std::fs::write(local.join("album/day 1/a.jpg"), vec![1u8; 30_000]).unwrap();
    std::fs::write(local.join("album/b.txt"), b"hello").unwrap();
    std::fs::write(local.join("report.pdf"), vec![7u8; 50_000]).unwrap();
    drive
        .put(
            &local.join("report.pdf"),
            &RemotePath::parse("/report.pdf").unwrap(),
            &Progress::silent(),
        )
        .await
        .unwrap();
    drive
        .put_tree(
            &local.join("album"),
            &RemotePath::parse("/album").unwrap(),
            &Progress::silent(),
        )
        .await
        .unwrap();
    drive
        .mkdir(&RemotePath::parse("/album/empty").unwrap(), false)
        .await
        .unwrap();
    let options = ShareOptions::default();
    let share = |path: &str, options: &ShareOptions| {
        let drive = &drive;
        let path = RemotePath::parse(path).unwrap();
        let options = options.clone();
        async move {
            drive
                .share_with(&path, &options, KdfParams::INSECURE_FAST)
                .await
        }
    };

    // A file.
    let link = share("/report.pdf", &options).await.unwrap();
    let text = link.to_string();
    assert!(text.starts_with(&format!("{}/s/", net.url)), "{text}");
    let received = receive(&Link::parse(&text).unwrap(), None).await.unwrap();
    assert!(!received.manifest.folder);
    let out = net.dir.path().join("got");
    std::fs::create_dir_all(&out).unwrap();
    let saved = received.save(&out, &Progress::silent()).await.unwrap();
    assert_eq!((saved.files, saved.bytes), (1, 50_000));
    assert_eq!(
        std::fs::read(out.join("report.pdf")).unwrap(),
        vec![7u8; 50_000]
    );

    // A folder, as it is: its files, its sub-folders, an empty one.
    let link = share("/album", &options).await.unwrap();
    let received = receive(&link, None).await.unwrap();
    assert!(received.manifest.folder);
    let tree = net.dir.path().join("album-copy");
    let saved = received.save(&tree, &Progress::silent()).await.unwrap();
    assert_eq!(saved.files, 2);
    assert_eq!(
        std::fs::read(tree.join("day 1/a.jpg")).unwrap(),
        vec![1u8; 30_000]
    );
    assert_eq!(std::fs::read(tree.join("b.txt")).unwrap(), b"hello");
    assert!(tree.join("empty").is_dir());

    // Nothing is shared that was not: an unknown path, and the link opens no other file.
    let missing = share("/nope", &options).await.unwrap_err();
    assert!(matches!(missing, ClientError::NotFound(_)), "{missing}");

    // A password: without it, with the wrong one, nothing opens.
    let guarded = ShareOptions {
        password: Some("correct horse".into()),
        ..ShareOptions::default()
    };
    let link = share("/report.pdf", &guarded).await.unwrap();
    assert!(link.to_string().ends_with(".pw"));
    let none = receive(&link, None).await.err().unwrap();
    assert!(matches!(none, ClientError::SharePasswordNeeded), "{none}");
    let wrong = receive(&link, Some("wrong horse")).await.err().unwrap();
    assert_eq!(code(&wrong), Some(codes::SHARE_WRONG_TOKEN), "{wrong}");
    receive(&link, Some("correct horse")).await.unwrap();
    let guarded_link = link.clone();

    // A tampered link: another key opens nothing; another id names nothing.
    let mut tampered = link.clone();
    tampered.secret = cairn_core::ShareSecret::generate(&mut rand::rng());
    let refused = receive(&tampered, Some("correct horse"))
        .await
        .err()
        .unwrap();
    assert_eq!(code(&refused), Some(codes::SHARE_WRONG_TOKEN), "{refused}");
    let mut elsewhere = link.clone();
    elsewhere.id = cairn_core::ShareId::random(&mut rand::rng());
    let refused = receive(&elsewhere, Some("correct horse"))
        .await
        .err()
        .unwrap();
    assert_eq!(code(&refused), Some(codes::SHARE_NOT_FOUND), "{refused}");

    // A download count.
    let once = ShareOptions {
        max_downloads: Some(1),
        ..ShareOptions::default()
    };
    let link = share("/report.pdf", &once).await.unwrap();
    let first = receive(&link, None).await.unwrap();
    let spent = receive(&link, None).await.err().unwrap();
    assert_eq!(code(&spent), Some(codes::SHARE_EXHAUSTED), "{spent}");
    assert!(spent.to_string().contains("as many times"), "{spent}");
    // The one who opened it may still download.
    let mut bytes = Vec::new();
    first
        .get_to(&first.manifest.files[0], &mut bytes, &Progress::silent())
        .await
        .unwrap();
    assert_eq!(bytes, vec![7u8; 50_000]);

    // Expiry.
    let brief = ShareOptions {
        expires: Some(Duration::from_millis(300)),
        ..ShareOptions::default()
    };
    let link = share("/report.pdf", &brief).await.unwrap();
    let expired = cairn_testkit::wait_until("the link to expire", Duration::from_secs(10), || {
        let link = link.clone();
        async move { receive(&link, None).await.err() }
    })
    .await
    .unwrap();
    assert_eq!(code(&expired), Some(codes::SHARE_EXPIRED), "{expired}");

    // Revocation: refused for every new request, opening and downloading alike.
    let link = share("/album", &options).await.unwrap();
    let opened = receive(&link, None).await.unwrap();
    drive.revoke_share(link.id).await.unwrap();
    let refused = receive(&link, None).await.err().unwrap();
    assert_eq!(code(&refused), Some(codes::SHARE_REVOKED), "{refused}");
    let refused = opened
        .save(&net.dir.path().join("late"), &Progress::silent())
        .await
        .unwrap_err();
    assert_eq!(code(&refused), Some(codes::SHARE_REVOKED), "{refused}");

    // The owner's list: newest first, with its path and state.
    let listed = drive.shares().await.unwrap();
    assert_eq!(listed.len(), 6);
    assert_eq!(listed[0].id, link.id);
    assert_eq!(listed[0].state, "revoked");
    assert_eq!(listed[0].path, Some(RemotePath::parse("/album").unwrap()));
    // The owner's client gives each link again, password mark and all; no other does.
    assert_eq!(listed[0].link.as_ref(), Some(&link));
    let again = listed.iter().find(|s| s.id == guarded_link.id).unwrap();
    assert_eq!(again.link.as_ref(), Some(&guarded_link));
    assert!(again.link.as_ref().unwrap().to_string().ends_with(".pw"));
    let states: Vec<&str> = listed.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(
        states,
        ["revoked", "expired", "exhausted", "live", "live", "live"]
    );
    // Another account sees none of them, and cannot revoke them.
    let other = common::drive_at(&net.url, &MasterSecret::generate(&mut rand::rng()));
    other.register().await.unwrap();
    assert!(other.shares().await.unwrap().is_empty());
    let refused = other.revoke_share(listed[3].id).await.unwrap_err();
    assert_eq!(code(&refused), Some(codes::SHARE_NOT_FOUND), "{refused}");
}
