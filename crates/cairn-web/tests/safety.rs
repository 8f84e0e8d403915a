//! The rules of a local web server holding someone's files, over real HTTP: sign-in by a
//! one-time secret, the cookie it becomes, `Host` and `Origin` checks, the policies on
//! pages and on user files, and loopback only.

mod common;

use std::net::SocketAddr;

use cairn_core::RemotePath;
use cairn_web::{RunningUi, UiConfig, UiError};
use common::{Browser, network, serve};
use reqwest::header::{
    CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, SET_COOKIE,
};

#[tokio::test]
async fn the_printed_address_signs_in_once_and_nothing_else_gets_in() {
    let net = network().await;
    let (home, _) = net.home("home", None).await;
    let (ui, mut browser) = serve(&home).await;
    assert!(ui.url().starts_with(&format!(
        "http://127.0.0.1:{}/login?secret=",
        ui.local_addr().port()
    )));

    for path in ["/", "/drive/", "/raw/x", "/api/transfers", "/network"] {
        assert_eq!(
            browser.get(path).await.status(),
            401,
            "{path} without the cookie"
        );
    }
    let wrong = browser
        .http
        .get(format!("{}/login?secret=guess", browser.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), ui.signed_in()).await;
    assert!(waiting.is_err(), "no browser has signed in yet");
    let first = browser.http.get(&browser.login).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(
        Browser::location(&first),
        "/",
        "the secret leaves the address bar"
    );
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(ui.url().rsplit('=').next().unwrap()),
        "the cookie is not the secret"
    );

    tokio::time::timeout(std::time::Duration::from_secs(5), ui.signed_in())
        .await
        .expect("the server tells the address was used");
    let again = browser.http.get(&browser.login).send().await.unwrap();
    assert_eq!(again.status(), 401, "the secret works once");

    browser.cookie = Some(cookie.split(';').next().unwrap().to_owned());
    let page = browser.get("/drive/").await;
    assert_eq!(page.status(), 200);
    let policy = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    ui.shutdown().await;
}

#[tokio::test]
async fn a_foreign_host_and_a_foreign_origin_are_refused() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let port = ui.local_addr().port();

    // DNS rebinding: a page on evil.example whose name now points at 127.0.0.1.
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "localhost".to_owned(),
    ] {
        let answer = browser
            .http
            .get(format!("{}/drive/", browser.base))
            .headers(browser.headers())
            .header(HOST, host.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 421, "Host {host}");
    }
    let localhost = browser
        .http
        .get(format!("{}/drive/", browser.base))
        .headers(browser.headers())
        .header(HOST, format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(localhost.status(), 200, "localhost:PORT names this server");

    // A cross-site form post, and a post with no origin at all, change nothing.
    for origin in [Some("http://evil.example"), Some("null"), None] {
        let mut headers = browser.headers();
        match origin {
            Some(o) => {
                headers.insert("origin", o.parse().unwrap());
            }
            None => {
                headers.remove("origin");
            }
        }
        let answer = browser
            .http
            .post(format!("{}/do/mkdir", browser.base))
            .headers(headers)
            .form(&[("dir", "/"), ("name", "planted")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "origin {origin:?}");
    }
    let cross_site = browser
        .http
        .post(format!("{}/do/mkdir", browser.base))
        .headers(browser.headers())
        .header("sec-fetch-site", "cross-site")
        .form(&[("dir", "/"), ("name", "planted")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let planted = RemotePath::parse("/planted").unwrap();
    assert!(
        drive.stat(&planted).await.unwrap().is_none(),
        "nothing was made"
    );

    let made = browser
        .post_form("/do/mkdir", &[("dir", "/"), ("name", "mine")])
        .await;
    assert_eq!(made.status(), 303);
    assert!(
        drive
            .stat(&RemotePath::parse("/mine").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    ui.shutdown().await;
}

#[tokio::test]
async fn uploaded_pages_and_images_cannot_run_script_in_the_drives_origin() {
    let net = network().await;
    let (home, _) = net.home("home", None).await;
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let html =
        b"<html><script>fetch('/api/transfers').then(r=>r.text()).then(alert)</script></html>";
    for name in ["evil.html", "evil.svg", "tool.bin", "photo.png"] {
        let stored = browser.upload(&format!("/{name}"), html, 1 << 20).await;
        assert_eq!(stored["stored"], true, "{name}: {stored}");
    }
    for (name, inline_type) in [
        ("evil.html", Some("text/plain; charset=utf-8")),
        ("evil.svg", Some("text/plain; charset=utf-8")),
        ("photo.png", Some("image/png")),
        ("tool.bin", None),
    ] {
        let shown = browser.get(&format!("/raw/{name}")).await;
        assert_eq!(shown.status(), 200);
        let policy = shown.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            policy.starts_with("sandbox") && policy.contains("default-src 'none'"),
            "{name}: {policy}"
        );
        assert!(!policy.contains("script-src"), "{name}: {policy}");
        assert_eq!(shown.headers()["x-content-type-options"], "nosniff");
        let disposition = shown.headers()[CONTENT_DISPOSITION].to_str().unwrap();
        match inline_type {
            Some(mime) => {
                assert_eq!(shown.headers()[CONTENT_TYPE], mime, "{name}");
                assert_eq!(disposition, "inline");
            }
            None => assert!(
                disposition.starts_with("attachment"),
                "{name}: {disposition}"
            ),
        }
        let downloaded = browser.get(&format!("/raw/{name}?download=1")).await;
        let disposition = downloaded.headers()[CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.starts_with("attachment"),
            "{name}: {disposition}"
        );
        assert_eq!(
            downloaded.headers()[CONTENT_TYPE],
            "application/octet-stream"
        );
        assert_eq!(downloaded.bytes().await.unwrap().as_ref(), html);
    }
    ui.shutdown().await;
}

#[tokio::test]
async fn the_drive_is_never_served_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = UiConfig::new(dir.path());
    config.listen = SocketAddr::from(([0, 0, 0, 0], 0));
    match RunningUi::start(config).await {
        Err(UiError::NotLoopback(addr)) => assert_eq!(addr.port(), 0),
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("served on every interface"),
    }
}
