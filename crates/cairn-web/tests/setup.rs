//! Before the drive opens, in the page: a first run creates an account on a pool (its
//! recovery phrase shown once, then confirmed as written down) or recovers one from its
//! phrase; a locked home asks for its passphrase in a form, and a wrong one changes
//! nothing.

mod common;

use cairn_client::{Drive, Home, Progress};
use cairn_core::{MasterSecret, RecoveryPhrase, RemotePath};
use common::{Browser, network, options, pattern, serve};

/// The words of the phrase page, in order.
fn words_of(page: &str) -> Vec<String> {
    let list = page.split("<ol class=\"phrase\"").nth(1).unwrap();
    let list = list.split("</ol>").next().unwrap();
    list.split("<li>")
        .skip(1)
        .map(|w| w.split("</li>").next().unwrap().to_owned())
        .collect()
}

/// Which word the confirmation asks for (1-based in the page).
fn asked(page: &str) -> usize {
    let at = page.find("type word number ").unwrap() + "type word number ".len();
    page[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_first_run_creates_an_account_and_shows_its_phrase_once() {
    let net = network().await;
    let home = net.dir.path().join("new-home");
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let first = browser.get("/drive/").await;
    assert_eq!(first.status(), 303);
    assert_eq!(Browser::location(&first), "/setup");
    assert!(
        browser
            .get("/setup")
            .await
            .text()
            .await
            .unwrap()
            .contains("Create my account")
    );

    // Mistakes are said in the page and leave no home behind.
    let differ = browser
        .post_form(
            "/setup/create",
            &[
                ("pool", &net.url),
                ("passphrase", "correct horse"),
                ("repeat", "correct horsf"),
            ],
        )
        .await;
    assert_eq!(differ.status(), 400);
    assert!(differ.text().await.unwrap().contains("differ"));
    let nowhere = browser
        .post_form(
            "/setup/create",
            &[
                ("pool", "http://127.0.0.1:9"),
                ("passphrase", "correct horse"),
                ("repeat", "correct horse"),
            ],
        )
        .await;
    assert_eq!(nowhere.status(), 400);
    assert!(nowhere.text().await.unwrap().contains("does not answer"));
    assert!(!Home::exists(&home));

    let made = browser
        .post_form(
            "/setup/create",
            &[
                ("pool", &net.url),
                ("passphrase", "correct horse"),
                ("repeat", "correct horse"),
            ],
        )
        .await;
    assert_eq!(made.status(), 303);
    assert_eq!(Browser::location(&made), "/setup/phrase");
    assert!(Home::exists(&home) && Home::open(&home).unwrap().needs_passphrase());
    let page = browser.get("/setup/phrase").await.text().await.unwrap();
    let words = words_of(&page);
    assert_eq!(words.len(), 24);
    // Until it is confirmed, the drive waits.
    assert_eq!(
        Browser::location(&browser.get("/drive/").await),
        "/setup/phrase"
    );
    let n = asked(&page);
    let unticked = browser
        .post_form("/setup/phrase", &[("word", &words[n - 1])])
        .await;
    assert_eq!(unticked.status(), 400);
    let wrong = browser
        .post_form("/setup/phrase", &[("word", "banana"), ("written", "yes")])
        .await;
    assert_eq!(wrong.status(), 400);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains(&format!("Word number {n}"))
    );
    let right = browser
        .post_form(
            "/setup/phrase",
            &[("word", &words[n - 1]), ("written", "yes")],
        )
        .await;
    assert_eq!(right.status(), 303);
    assert!(Browser::location(&right).starts_with("/drive/"));
    assert_eq!(browser.get("/drive/").await.status(), 200);
    // Shown once: the phrase is gone from the server.
    assert_eq!(Browser::location(&browser.get("/setup/phrase").await), "/");
    assert!(
        !browser
            .get("/drive/")
            .await
            .text()
            .await
            .unwrap()
            .contains(&words.join(" "))
    );
    let stored = browser.upload("/hello.txt", b"hello", 1024).await;
    assert_eq!(stored["stored"], true);
    ui.shutdown().await;

    // The phrase brings the account back in a second home, from the page.
    let again = net.dir.path().join("recovered-home");
    let (ui, mut browser) = serve(&again).await;
    browser.sign_in().await;
    let bad = browser
        .post_form(
            "/setup/recover",
            &[
                ("phrase", "not the words"),
                ("pool", &net.url),
                ("passphrase", "another one"),
                ("repeat", "another one"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert!(!Home::exists(&again));
    let recovered = browser
        .post_form(
            "/setup/recover",
            &[
                ("phrase", &words.join(" ")),
                ("pool", &net.url),
                ("passphrase", "another one"),
                ("repeat", "another one"),
            ],
        )
        .await;
    assert_eq!(recovered.status(), 303);
    let listing = browser.get("/drive/").await.text().await.unwrap();
    assert!(
        listing.contains("data-path=\"/hello.txt\""),
        "the recovered drive lists the file"
    );
    ui.shutdown().await;
}

#[tokio::test]
async fn a_locked_home_opens_with_its_passphrase_typed_in_the_page() {
    let net = network().await;
    let (home, drive) = net.home("locked", Some("open sesame")).await;
    drive
        .mkdir(&RemotePath::parse("/inside").unwrap(), false)
        .await
        .unwrap();
    let (ui, mut browser) = serve(&home).await;
    assert!(!ui.url().contains("sesame"));
    browser.sign_in().await;
    assert_eq!(Browser::location(&browser.get("/drive/").await), "/unlock");
    let api = browser
        .post_json(
            "/api/uploads",
            serde_json::json!({ "path": "/x", "size": 1 }),
        )
        .await;
    assert_eq!(api.status(), 409, "scripts are told the drive is locked");

    let wrong = browser
        .post_form("/unlock", &[("passphrase", "open barley")])
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("wrong"));
    assert_eq!(
        Browser::location(&browser.get("/drive/").await),
        "/unlock",
        "still locked"
    );

    let right = browser
        .post_form("/unlock", &[("passphrase", "open sesame")])
        .await;
    assert_eq!(right.status(), 303);
    let listing = browser.get("/drive/").await.text().await.unwrap();
    assert!(listing.contains("data-path=\"/inside\""));
    ui.shutdown().await;
}

/// Issue 16: the pool lost its store; restoring the account from its phrase in the page
/// gives the pool back the account's records from its ledger on the peers, so the drive
/// shows its files at once.
#[tokio::test]
async fn a_drive_restored_in_the_page_gets_its_files_back_from_a_pool_that_lost_its_store() {
    let mut net = network().await;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = Drive::new(&net.url, &secret, options()).unwrap();
    drive.register().await.unwrap();
    let bytes = pattern(100_000, 3);
    drive
        .put_reader(
            &RemotePath::parse("/kept.bin").unwrap(),
            bytes.len() as u64,
            std::io::Cursor::new(bytes.clone()),
            &Progress::silent(),
        )
        .await
        .unwrap();
    net.lose_store().await;

    let home = net.dir.path().join("restored");
    let (ui, mut browser) = serve(&home).await;
    browser.sign_in().await;
    let words = RecoveryPhrase::from_secret(&secret).words().to_string();
    let restored = browser
        .post_form(
            "/setup/recover",
            &[
                ("phrase", &words),
                ("pool", &net.url),
                ("passphrase", "another one"),
                ("repeat", "another one"),
            ],
        )
        .await;
    assert_eq!(restored.status(), 303);
    let listing = browser.get("/drive/").await.text().await.unwrap();
    assert!(
        listing.contains("data-path=\"/kept.bin\""),
        "the restored drive lists the file"
    );
    let raw = browser.get("/raw/kept.bin").await;
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.bytes().await.unwrap().to_vec(), bytes);
    ui.shutdown().await;
}
