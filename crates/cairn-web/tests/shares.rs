//! Sharing through the drive's server: links made, listed and revoked by forms, a link
//! opened by a drive with no account and its files served with ranges, and every bad
//! input refused with its reason in front of the person and nothing changed.

mod common;

use common::{Browser, network, pattern, serve};

/// The `value` of the input `id` in `page`.
fn field_value(page: &str, id: &str) -> Option<String> {
    let at = page.find(&format!("id=\"{id}\""))?;
    let tag_start = page[..at].rfind('<')?;
    let tag = &page[tag_start..tag_start + page[tag_start..].find('>')?];
    let value = tag.split("value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_owned())
}

#[tokio::test]
async fn links_are_made_listed_opened_and_revoked_through_the_page() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (_ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let bytes = pattern(300_000, 4);
    assert_eq!(
        browser.upload("/docs/report.bin", &bytes, 64 * 1024).await["stored"],
        true
    );

    // A link that expires in an hour, opened twice at most.
    let made = browser
        .post_form(
            "/do/share",
            &[
                ("path", "/docs/report.bin"),
                ("expires", "1h"),
                ("password", ""),
                ("max_downloads", "2"),
            ],
        )
        .await;
    assert_eq!(made.status(), 303);
    let to = Browser::location(&made);
    assert!(to.starts_with("/share/docs/report.bin?made="), "{to}");
    let listed = drive.shares().await.unwrap();
    assert_eq!(listed.len(), 1);
    let share = &listed[0];
    assert_eq!(share.max_downloads, Some(2));
    let hour = share.expires_ms.unwrap() - share.created_ms;
    assert!((3_590_000..=3_610_000).contains(&hour), "{hour} ms");
    let link = share.link.as_ref().unwrap().to_string();
    let page = browser.get(&to).await.text().await.unwrap();
    assert_eq!(
        field_value(&page, "share-link").as_deref(),
        Some(link.as_str())
    );
    let links = browser.get("/links").await.text().await.unwrap();
    assert!(links.contains(&format!("data-share=\"{}\"", share.id)));
    assert!(links.contains(&link), "the list gives the link again");

    // Opened by a drive with no account: the files, whole and by range.
    let (_other, mut stranger) = serve(&net.dir.path().join("nobody")).await;
    stranger.sign_in().await;
    assert_eq!(Browser::location(&stranger.get("/links").await), "/setup");
    assert_eq!(stranger.get("/open").await.status(), 200);
    let opened = stranger.post_form("/open", &[("link", &link)]).await;
    assert_eq!(opened.status(), 303);
    let received = Browser::location(&opened);
    assert!(received.starts_with("/received/"), "{received}");
    let page = stranger.get(&received).await.text().await.unwrap();
    assert!(page.contains("data-received=\"report.bin\""));
    let whole = stranger.get(&format!("{received}/file/0")).await;
    assert_eq!(whole.status(), 200);
    assert!(
        whole.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let part = stranger
        .http
        .get(format!("{}{received}/file/0", stranger.base))
        .headers(stranger.headers())
        .header("range", "bytes=100000-100009")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        &bytes[100_000..100_010]
    );
    let beyond = stranger
        .http
        .get(format!("{}{received}/file/0", stranger.base))
        .headers(stranger.headers())
        .header("range", "bytes=400000-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(
        stranger.get(&format!("{received}/file/1")).await.status(),
        404
    );
    assert_eq!(stranger.get("/received/nothing-here").await.status(), 404);
    // However many files were fetched, the opening counted once.
    assert_eq!(drive.shares().await.unwrap()[0].downloads, 1);

    // Revoked in the page: the next opening is refused with the reason.
    let revoked = browser
        .post_form(
            "/do/revoke",
            &[("id", &share.id.to_string()), ("back", "/links")],
        )
        .await;
    let to = Browser::location(&revoked);
    assert!(to.starts_with("/links?done="), "{to}");
    assert_eq!(drive.shares().await.unwrap()[0].state, "revoked");
    let refused = stranger.post_form("/open", &[("link", &link)]).await;
    assert_eq!(refused.status(), 410);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("role=\"alert\"") && page.contains("revoked"),
        "{page}"
    );
    assert_eq!(
        field_value(&page, "open-link").as_deref(),
        Some(link.as_str()),
        "the link stays in the field"
    );
}

#[tokio::test]
async fn bad_share_requests_say_why_and_change_nothing() {
    let net = network().await;
    let (home, drive) = net.home("home", None).await;
    let (_ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    assert_eq!(
        browser.upload("/a.txt", b"alpha", 1024).await["stored"],
        true
    );
    let problem = |answer: &reqwest::Response| {
        let to = Browser::location(answer);
        assert!(to.contains("problem="), "{to}");
        to
    };
    let share = |path: &'static str, expires: &'static str, max: &'static str| {
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/do/share",
                    &[("path", path), ("expires", expires), ("max_downloads", max)],
                )
                .await
        }
    };
    let to = problem(&share("/missing.txt", "never", "").await);
    assert!(to.starts_with("/share/missing.txt?problem="), "{to}");
    problem(&share("/a.txt", "3y", "").await);
    problem(&share("/a.txt", "never", "0").await);
    problem(&share("/a.txt", "never", "many").await);
    problem(&share("/.trash", "never", "").await);
    assert_eq!(
        browser.get("/share/nothing/here").await.status(),
        404,
        "no dialog for what is not there"
    );
    assert!(drive.shares().await.unwrap().is_empty(), "no link was made");

    // Revoking: a malformed id, an id the account has not, and a foreign place to go back to.
    let made = share("/a.txt", "", "").await;
    assert!(Browser::location(&made).contains("made="));
    let id = drive.shares().await.unwrap()[0].id;
    let to = Browser::location(
        &browser
            .post_form("/do/revoke", &[("id", "not-an-id"), ("back", "/links")])
            .await,
    );
    assert!(to.starts_with("/links?problem="), "{to}");
    let stranger_id = cairn_core::ShareId::random(&mut rand::rng()).to_string();
    let to = Browser::location(
        &browser
            .post_form(
                "/do/revoke",
                &[("id", &stranger_id), ("back", "https://elsewhere.example/")],
            )
            .await,
    );
    assert!(to.starts_with("/links?problem="), "{to}");
    assert_eq!(drive.shares().await.unwrap()[0].state, "live");
    assert_eq!(drive.shares().await.unwrap()[0].id, id);

    // Opening: not a link, a link to nothing, a link that needs its password.
    for (text, status) in [
        ("hello", 400),
        (
            "http://127.0.0.1:9/s/00000000000000000000000000000000#abc",
            400,
        ),
    ] {
        let answer = browser.post_form("/open", &[("link", text)]).await;
        assert_eq!(answer.status(), status, "{text}");
        assert!(answer.text().await.unwrap().contains("role=\"alert\""));
    }
    let mut nowhere = drive.shares().await.unwrap()[0].link.clone().unwrap();
    nowhere.id = cairn_core::ShareId::random(&mut rand::rng());
    let answer = browser
        .post_form("/open", &[("link", &nowhere.to_string())])
        .await;
    assert_eq!(answer.status(), 404);
    let mut guarded = nowhere.clone();
    guarded.password = true;
    let answer = browser
        .post_form("/open", &[("link", &guarded.to_string())])
        .await;
    assert_eq!(answer.status(), 401);
    assert!(answer.text().await.unwrap().contains("password"));
    assert_eq!(drive.shares().await.unwrap()[0].downloads, 0);
}
