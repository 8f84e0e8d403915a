//! What the page's forms change, and how a refusal reaches the person: back on the folder
//! they were in, with what went wrong in front of them, and nothing changed.

mod common;

use std::time::Duration;

use cairn_core::RemotePath;
use cairn_testkit::proxy::Proxy;
use common::{Browser, network, serve};

fn path(text: &str) -> RemotePath {
    RemotePath::parse(text).unwrap()
}

#[tokio::test]
async fn refused_changes_come_back_to_the_folder_with_the_reason() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    for file in ["/docs/a.txt", "/docs/b.txt"] {
        assert_eq!(
            browser.upload(file, file.as_bytes(), 1024).await["stored"],
            true
        );
    }

    let taken = browser
        .post_form("/do/rename", &[("path", "/docs/a.txt"), ("name", "b.txt")])
        .await;
    assert_eq!(taken.status(), 303);
    let to = Browser::location(&taken);
    assert!(to.starts_with("/drive/docs/?problem="), "{to}");
    let page = browser.get(&to).await.text().await.unwrap();
    assert!(
        page.contains("role=\"alert\"") && page.contains("already exists"),
        "the folder says why"
    );
    assert_eq!(
        drive
            .read_range(&path("/docs/b.txt"), 0..100)
            .await
            .unwrap(),
        b"/docs/b.txt",
        "nothing changed"
    );

    let slash = browser
        .post_form("/do/rename", &[("path", "/docs/a.txt"), ("name", "x/y")])
        .await;
    assert!(Browser::location(&slash).contains("problem="));
    let into_itself = browser
        .post_form("/do/move", &[("path", "/docs"), ("to", "/docs/inner")])
        .await;
    assert!(
        Browser::location(&into_itself).starts_with("/?problem=")
            || Browser::location(&into_itself).starts_with("/drive/?problem=")
    );
    assert!(drive.stat(&path("/docs/a.txt")).await.unwrap().is_some());
    let again = browser
        .post_form("/do/mkdir", &[("dir", "/"), ("name", "docs")])
        .await;
    assert!(Browser::location(&again).starts_with("/drive/?problem="));

    // Renamed, moved, trashed, restored, purged: each where the person expects it.
    let renamed = browser
        .post_form("/do/rename", &[("path", "/docs/a.txt"), ("name", "c.txt")])
        .await;
    assert!(Browser::location(&renamed).starts_with("/drive/docs/?done="));
    let moved = browser
        .post_form(
            "/do/move",
            &[("path", "/docs/c.txt"), ("to", "/archive/2026")],
        )
        .await;
    assert!(Browser::location(&moved).starts_with("/drive/docs/?done="));
    assert!(
        drive
            .stat(&path("/archive/2026/c.txt"))
            .await
            .unwrap()
            .is_some(),
        "a missing folder is made"
    );
    let trashed = browser
        .post_form("/do/delete", &[("path", "/docs/b.txt")])
        .await;
    assert!(Browser::location(&trashed).starts_with("/drive/docs/?done="));
    assert!(drive.stat(&path("/docs/b.txt")).await.unwrap().is_none());
    let listing = browser.get("/drive/").await.text().await.unwrap();
    assert!(
        !listing.contains("data-path=\"/.trash\""),
        "the trash is not listed as a folder"
    );
    let trash = browser.get("/trash").await.text().await.unwrap();
    let id = trash
        .split("data-trash=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Something new took its place: restoring says so and changes nothing.
    assert_eq!(
        browser.upload("/docs/b.txt", b"newer", 1024).await["stored"],
        true
    );
    let blocked = browser.post_form("/do/restore", &[("id", &id)]).await;
    assert!(Browser::location(&blocked).starts_with("/trash?problem="));
    assert_eq!(
        drive
            .read_range(&path("/docs/b.txt"), 0..100)
            .await
            .unwrap(),
        b"newer"
    );
    browser
        .post_form(
            "/do/rename",
            &[("path", "/docs/b.txt"), ("name", "newer.txt")],
        )
        .await;
    let restored = browser.post_form("/do/restore", &[("id", &id)]).await;
    assert!(Browser::location(&restored).starts_with("/trash?done="));
    assert_eq!(
        drive
            .read_range(&path("/docs/b.txt"), 0..100)
            .await
            .unwrap(),
        b"/docs/b.txt"
    );

    browser
        .post_form("/do/delete", &[("path", "/docs/newer.txt")])
        .await;
    let trash = browser.get("/trash").await.text().await.unwrap();
    let id = trash
        .split("data-trash=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let purged = browser.post_form("/do/purge", &[("id", &id)]).await;
    assert!(Browser::location(&purged).starts_with("/trash?done="));
    assert!(
        !browser
            .get("/trash")
            .await
            .text()
            .await
            .unwrap()
            .contains("data-trash=")
    );
    let forged = browser.post_form("/do/purge", &[("id", "../docs")]).await;
    assert_eq!(forged.status(), 400, "only trash items can be purged");
    assert!(drive.stat(&path("/docs/b.txt")).await.unwrap().is_some());
    ui.shutdown().await;
}

/// A change whose page goes away while the change is under way (a closed tab, a
/// navigation) is made whole all the same: the server carries it to the end rather than
/// dropping it half way when the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_made_whole_even_when_the_page_goes_away() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let net = network().await;
    let gate = Proxy::start(&net.url).await;
    let (home, drive) = net.home_via("home", &gate.url).await;
    let (_ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    assert_eq!(browser.upload("/a.txt", b"a", 1024).await["stored"], true);

    // The page drops /a.txt onto a new folder; the change waits on the pool...
    gate.close();
    let addr = browser.base.trim_start_matches("http://").to_owned();
    let body = serde_json::json!({ "path": "/a.txt", "to": "/into/deeper" }).to_string();
    let request = format!(
        "POST /api/move HTTP/1.1\r\nhost: {addr}\r\norigin: {}\r\ncookie: {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        browser.base,
        browser.cookie.as_deref().unwrap(),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    cairn_testkit::wait_until("the move under way", Duration::from_secs(20), || async {
        (gate.held() > 0).then_some(())
    })
    .await
    .unwrap();
    // ...when the page goes away: the server closes the connection, unanswered.
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the server closes a connection the page left"
    );
    assert!(
        rest.is_empty(),
        "no answer: {}",
        String::from_utf8_lossy(&rest)
    );
    gate.open();

    cairn_testkit::wait_until("the move made whole", Duration::from_secs(20), || async {
        let moved = drive.stat(&path("/into/deeper/a.txt")).await.unwrap();
        let left = drive.stat(&path("/a.txt")).await.unwrap();
        (moved.is_some() && left.is_none()).then_some(())
    })
    .await
    .unwrap();
}
