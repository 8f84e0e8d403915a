//! Moving bytes through the drive's server: chunked uploads that resume from the offset
//! the server names and store nothing when wrong, byte ranges for resuming and seeking, and
//! a folder as one zip that unpacks to the same tree.

mod common;

use std::io::Read;

use cairn_core::RemotePath;
use common::{network, pattern, serve, serve_with};
use reqwest::header::{CONTENT_RANGE, RANGE};

#[tokio::test]
async fn uploads_go_in_chunks_resume_where_the_server_says_and_store_nothing_when_wrong() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;

    let bytes = pattern(300_000, 7);
    let begun: serde_json::Value = browser
        .post_json(
            "/api/uploads",
            serde_json::json!({ "path": "/docs/big.bin", "size": bytes.len() }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = begun["id"].as_u64().unwrap();
    let first = browser
        .put(
            &format!("/api/uploads/{id}?offset=0"),
            bytes[..100_000].to_vec(),
        )
        .await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.json::<serde_json::Value>().await.unwrap()["received"],
        100_000
    );
    // A chunk from before where the upload is is refused with where to go on from.
    let behind = browser
        .put(
            &format!("/api/uploads/{id}?offset=5000"),
            bytes[5000..9000].to_vec(),
        )
        .await;
    assert_eq!(behind.status(), 409);
    let body: serde_json::Value = behind.json().await.unwrap();
    assert_eq!(body["expected"], 100_000);
    // The page polls the transfer while it goes.
    let panel: serde_json::Value = browser.get("/api/transfers").await.json().await.unwrap();
    let row = &panel["transfers"][0];
    assert_eq!(row["path"], "/docs/big.bin");
    assert_eq!(row["direction"], "upload");
    assert_eq!(row["size"], 300_000);
    // Two chunks in flight, the later one first: it waits for its turn.
    let later = {
        let (http, base, headers) = (
            browser.http.clone(),
            browser.base.clone(),
            browser.headers(),
        );
        let body = bytes[200_000..].to_vec();
        tokio::spawn(async move {
            http.put(format!("{base}/api/uploads/{id}?offset=200000"))
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap()
        })
    };
    let mut later = std::pin::pin!(later);
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut later).await;
    assert!(
        early.is_err(),
        "a chunk from ahead waits for the one before it"
    );
    let earlier = browser
        .put(
            &format!("/api/uploads/{id}?offset=100000"),
            bytes[100_000..200_000].to_vec(),
        )
        .await;
    let later = later.await.unwrap();
    assert_eq!(earlier.status(), 200);
    assert_eq!(
        earlier.json::<serde_json::Value>().await.unwrap()["received"],
        200_000
    );
    assert_eq!(later.status(), 200);
    assert_eq!(
        later.json::<serde_json::Value>().await.unwrap()["stored"],
        true
    );
    let path = RemotePath::parse("/docs/big.bin").unwrap();
    assert_eq!(drive.read_range(&path, 0..u64::MAX).await.unwrap(), bytes);
    let panel: serde_json::Value = browser.get("/api/transfers").await.json().await.unwrap();
    assert_eq!(panel["transfers"][0]["state"], "done");
    assert_eq!(panel["transfers"][0]["done"], 300_000);

    // Uploading over a file keeps the older one in the trash.
    let newer = pattern(1000, 9);
    assert_eq!(
        browser.upload("/docs/big.bin", &newer, 1 << 20).await["stored"],
        true
    );
    assert_eq!(drive.read_range(&path, 0..u64::MAX).await.unwrap(), newer);
    let trash = browser.get("/trash").await.text().await.unwrap();
    assert!(
        trash.contains("data-path=\"/docs/big.bin\""),
        "the replaced file is in the trash"
    );

    // More than announced: refused, nothing stored.
    let begun: serde_json::Value = browser
        .post_json(
            "/api/uploads",
            serde_json::json!({ "path": "/liar.bin", "size": 10 }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = begun["id"].as_u64().unwrap();
    let over = browser
        .put(&format!("/api/uploads/{id}?offset=0"), vec![1; 11])
        .await;
    assert_eq!(over.status(), 400);
    let liar = RemotePath::parse("/liar.bin").unwrap();
    assert!(drive.stat(&liar).await.unwrap().is_none());

    // Cancelled halfway: nothing stored, and the panel says so.
    let begun: serde_json::Value = browser
        .post_json(
            "/api/uploads",
            serde_json::json!({ "path": "/half.bin", "size": 200_000 }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = begun["id"].as_u64().unwrap();
    let half = browser
        .put(
            &format!("/api/uploads/{id}?offset=0"),
            bytes[..100_000].to_vec(),
        )
        .await;
    assert_eq!(half.status(), 200);
    let cancelled = browser
        .post_json(
            &format!("/api/transfers/{id}/cancel"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let rest = browser
        .put(
            &format!("/api/uploads/{id}?offset=100000"),
            bytes[100_000..200_000].to_vec(),
        )
        .await;
    assert_eq!(rest.status(), 409, "a cancelled upload takes no more");
    assert!(
        drive
            .stat(&RemotePath::parse("/half.bin").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let panel: serde_json::Value = browser.get("/api/transfers").await.json().await.unwrap();
    let row = panel["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(row["state"], "cancelled");

    // Into a file, or the trash: refused with a reason.
    let refused = browser.upload("/docs/big.bin/inside.txt", b"x", 1024).await;
    assert!(
        refused["error"].as_str().unwrap().contains("file"),
        "{refused}"
    );
    let refused = browser
        .post_json(
            "/api/uploads",
            serde_json::json!({ "path": "/.trash/x", "size": 1 }),
        )
        .await;
    assert_eq!(refused.status(), 400);
    ui.shutdown().await;
}

#[tokio::test]
async fn ranges_serve_resumed_downloads_and_seeks() {
    let net = network().await;
    let (home, _) = net.home("home", None).await;
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let bytes = pattern(200_000, 3);
    assert_eq!(
        browser.upload("/clip.webm", &bytes, 64 * 1024).await["stored"],
        true
    );

    let whole = browser.get("/raw/clip.webm").await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &bytes[..]);

    for (range, want) in [
        ("bytes=70000-130000", 70_000..130_001),
        ("bytes=150000-", 150_000..200_000),
        ("bytes=-10", 199_990..200_000),
    ] {
        let part = browser
            .http
            .get(format!("{}/raw/clip.webm", browser.base))
            .headers(browser.headers())
            .header(RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206, "{range}");
        assert_eq!(
            part.headers()[CONTENT_RANGE].to_str().unwrap(),
            format!("bytes {}-{}/200000", want.start, want.end - 1)
        );
        assert_eq!(
            part.bytes().await.unwrap().as_ref(),
            &bytes[want],
            "{range}"
        );
    }
    let beyond = browser
        .http
        .get(format!("{}/raw/clip.webm", browser.base))
        .headers(browser.headers())
        .header(RANGE, "bytes=200000-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()[CONTENT_RANGE], "bytes */200000");
    // Resuming against a file that changed since gets the whole new file.
    let stale = browser
        .http
        .get(format!("{}/raw/clip.webm", browser.base))
        .headers(browser.headers())
        .header(RANGE, "bytes=100-")
        .header("if-range", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    let fresh = browser
        .http
        .get(format!("{}/raw/clip.webm", browser.base))
        .headers(browser.headers())
        .header(RANGE, "bytes=100-")
        .header("if-range", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 206);
    let missing = browser.get("/raw/nothing-here.txt").await;
    assert_eq!(missing.status(), 404);
    ui.shutdown().await;
}

#[tokio::test]
async fn a_folder_downloads_as_one_zip_that_unpacks_to_the_same_tree() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let files = [
        ("/album/a.jpg", pattern(150_000, 1)),
        ("/album/2024/b.jpg", pattern(70_000, 2)),
        ("/album/2024/empty.txt", Vec::new()),
        ("/album/ünï cødé.txt", b"names are UTF-8".to_vec()),
        ("/elsewhere.txt", b"not in the zip".to_vec()),
    ];
    for (path, bytes) in &files {
        assert_eq!(
            browser.upload(path, bytes, 1 << 20).await["stored"],
            true,
            "{path}"
        );
    }
    drive
        .mkdir(&RemotePath::parse("/album/nothing yet").unwrap(), false)
        .await
        .unwrap();

    let answer = browser.get("/zip/album").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/zip");
    assert!(
        answer.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("album.zip")
    );
    let bytes = answer.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        if !entry.is_dir() {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            let want = &files
                .iter()
                .find(|(p, _)| p.trim_start_matches('/') == name)
                .unwrap()
                .1;
            assert_eq!(&content, want, "{name}");
        }
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "album/",
            "album/2024/b.jpg",
            "album/2024/empty.txt",
            "album/a.jpg",
            "album/nothing yet/",
            "album/ünï cødé.txt"
        ]
    );
    ui.shutdown().await;
}

#[tokio::test]
async fn an_upload_whose_page_stops_sending_ends_and_stores_nothing() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let idle = std::time::Duration::from_millis(300);
    let (ui, mut browser) = serve_with(&home, |c| c.upload_idle = idle).await;
    browser.sign_in().await;
    let begun: serde_json::Value = browser
        .post_json(
            "/api/uploads",
            serde_json::json!({ "path": "/abandoned.bin", "size": 100_000 }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = begun["id"].as_u64().unwrap();
    let first = browser
        .put(&format!("/api/uploads/{id}?offset=0"), pattern(40_000, 1))
        .await;
    assert_eq!(first.status(), 200);
    // The tab is closed: no more chunks.
    let row = cairn_testkit::wait_until(
        "the upload given up",
        std::time::Duration::from_secs(10),
        || async {
            let panel: serde_json::Value =
                browser.get("/api/transfers").await.json().await.unwrap();
            let row = panel["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .cloned()?;
            (row["state"] != "running").then_some(row)
        },
    )
    .await
    .unwrap();
    assert_eq!(row["state"], "failed");
    assert!(
        row["error"].as_str().unwrap().contains("stopped sending"),
        "{row}"
    );
    assert!(
        drive
            .stat(&RemotePath::parse("/abandoned.bin").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let late = browser
        .put(
            &format!("/api/uploads/{id}?offset=40000"),
            pattern(60_000, 2),
        )
        .await;
    assert!(
        late.status().is_client_error(),
        "a late chunk is refused: {}",
        late.status()
    );
    ui.shutdown().await;
}

/// Piece bytes the network's peers took in since they started, summed.
async fn received(pool: &str) -> u64 {
    let network = cairn_client::pool::PoolClient::anonymous(pool)
        .unwrap()
        .network()
        .await
        .unwrap();
    let mut total = 0;
    for peer in network.peers {
        let info: cairn_proto::peer_api::PeerInfo =
            reqwest::get(peer.address.url(cairn_proto::peer_api::PEER_STATUS))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        total += info.received;
    }
    total
}

#[tokio::test]
async fn an_upload_given_up_goes_on_where_it_stopped_when_the_file_is_sent_again() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let idle = std::time::Duration::from_millis(300);
    let (ui, mut browser) = serve_with(&home, |c| c.upload_idle = idle).await;
    browser.sign_in().await;
    // Sixteen 64 KiB segments under ec:2+2: two piece bytes per byte.
    let bytes = pattern(1 << 20, 9);
    let before = received(&net.url).await;
    let id = browser.announce("/resumed.bin", 1 << 20).await;
    let first = browser
        .put(
            &format!("/api/uploads/{id}?offset=0"),
            bytes[..700_000].to_vec(),
        )
        .await;
    assert_eq!(first.status(), 200);
    // The tab is closed; the upload is given up, and nothing is listed.
    cairn_testkit::wait_until(
        "the upload given up",
        std::time::Duration::from_secs(10),
        || async {
            let panel: serde_json::Value =
                browser.get("/api/transfers").await.json().await.unwrap();
            let running = panel["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == id && r["state"] == "running");
            (!running).then_some(())
        },
    )
    .await
    .unwrap();
    let path = RemotePath::parse("/resumed.bin").unwrap();
    assert!(drive.stat(&path).await.unwrap().is_none());
    let given_up = received(&net.url).await - before;

    // Sent again whole (the panel's Retry): the peers take only what they lacked.
    let before = received(&net.url).await;
    let id = browser.announce("/resumed.bin", 1 << 20).await;
    let last = browser
        .put(&format!("/api/uploads/{id}?offset=0"), bytes.clone())
        .await;
    assert_eq!(last.status(), 200);
    let stored = cairn_testkit::wait_until(
        "the file stored",
        std::time::Duration::from_secs(20),
        || async { drive.stat(&path).await.unwrap() },
    )
    .await
    .unwrap();
    assert_eq!(stored.size, 1 << 20);
    let again = received(&net.url).await - before;
    let whole = 2 << 20;
    eprintln!("given up after {given_up} piece bytes; then {again} of about {whole}");
    assert!(
        again < whole * 6 / 10,
        "sent {again} piece bytes again of {whole}"
    );
    assert_eq!(drive.read_range(&path, 0..u64::MAX).await.unwrap(), bytes);
    ui.shutdown().await;
}

#[tokio::test]
async fn an_upload_on_a_network_too_small_for_the_target_says_so() {
    // Four new peers (at the assumed 99% availability) cannot carry six nines under `auto`.
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (ui, mut browser) = serve_with(&home, |c| {
        c.options.redundancy = cairn_core::RedundancyPolicy::Auto;
    })
    .await;
    browser.sign_in().await;
    let bytes = pattern(10_000, 3);
    let id = browser.announce("/small.bin", bytes.len()).await;
    let last = browser
        .put(&format!("/api/uploads/{id}?offset=0"), bytes.clone())
        .await;
    assert_eq!(last.status(), 200);
    let body: serde_json::Value = last.json().await.unwrap();
    assert_eq!(body["stored"], true);
    let note = body["note"].as_str().unwrap_or_default();
    assert!(
        note.starts_with("stored at 99.") && note.contains("below this pool's target of 99.9999%"),
        "{body}"
    );
    let path = RemotePath::parse("/small.bin").unwrap();
    assert_eq!(drive.read_range(&path, 0..u64::MAX).await.unwrap(), bytes);
    // The file's page says the same, marked for a script.
    let page = browser.get("/file/small.bin").await.text().await.unwrap();
    assert!(page.contains("data-below-target"), "{page}");
    assert!(
        page.contains("below this pool&#39;s target of 99.9999%")
            || page.contains("below this pool's target of 99.9999%"),
        "{page}"
    );
    ui.shutdown().await;
}
