//! The drive over WebDAV beside its pages in `cairn ui`: the address the Network page
//! shows works with no cookie (its secret is the key), a wrong secret or a foreign host
//! gets nothing, and a drive not yet open answers 503.

mod common;

use cairn_core::RemotePath;
use common::{network, serve};

#[tokio::test]
async fn the_network_page_gives_a_webdav_address_that_works_without_the_cookie() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (_ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let page = browser.get("/network").await.text().await.unwrap();
    let at = page
        .find("id=\"dav-address\"")
        .expect("the page shows the address");
    let tag = &page[page[..at].rfind('<').unwrap()..];
    let value = tag.split("value=\"").nth(1).unwrap();
    let address = value[..value.find('"').unwrap()].to_owned();
    assert!(
        address.starts_with(&format!("{}/dav/", browser.base)),
        "{address}"
    );

    // A WebDAV client: no cookie, no Origin.
    let dav = reqwest::Client::new();
    let put = dav
        .put(format!("{address}notes.txt"))
        .body("over webdav")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let listed = dav
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), &address)
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 207);
    assert!(listed.text().await.unwrap().contains("notes.txt"));
    assert_eq!(
        drive
            .read_range(&RemotePath::parse("/notes.txt").unwrap(), 0..100)
            .await
            .unwrap(),
        b"over webdav"
    );

    // Without the secret, or through another name, nothing.
    let guessed = dav
        .get(format!("{}/dav/guess/notes.txt", browser.base))
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), 403);
    let rebound = dav
        .get(format!("{address}notes.txt"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
    // The pages still want the cookie.
    assert_eq!(
        dav.get(format!("{}/drive/", browser.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_locked_drive_serves_no_webdav() {
    let net = network().await;
    let (home, _) = net.home("home", Some("correct horse")).await;
    let (_ui, browser) = serve(&home).await;
    let answer = reqwest::Client::new()
        .get(format!("{}/dav/anything/", browser.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
}
