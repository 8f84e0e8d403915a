//! Issue 17 with the real binaries: `cairn share` makes a link to a file or a folder,
//! `cairn get LINK` opens it on a machine with no client home; a password, a download
//! count and an expiry hold; a tampered link or a wrong password opens nothing; a
//! revoked link is refused; `cairn share --list [--json]` says where each stands.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_open_without_an_account_and_stop_when_they_should() {
    let net = Network::start(6, &[]).await;
    let (owner, _) = Client::init(net.root.join("home"), net.pool.url());
    let photo = random_file(&net.root, "photo.jpg", 200_000);
    let photo_path = photo.to_str().unwrap();
    owner.ok(&["put", photo_path, "/photo.jpg"]);
    let trip = net.root.join("trip");
    std::fs::create_dir_all(trip.join("day 2")).unwrap();
    std::fs::write(trip.join("notes.txt"), "the sea was warm\n").unwrap();
    let video = random_file(&trip.join("day 2"), "clip.bin", 120_000);
    owner.ok(&["put", "-r", trip.to_str().unwrap(), "/trip"]);
    owner.ok(&[
        "put",
        trip.join("notes.txt").to_str().unwrap(),
        "/notes.txt",
    ]);

    // A file, received by someone with no client home.
    let link = owner.ok(&["share", "/photo.jpg"]);
    assert_eq!(link.lines().count(), 1, "one line: {link}");
    let link = link.trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/s/", net.pool.url())),
        "{link}"
    );
    let nobody = Client::at(net.root.join("nobody"));
    let got = net.root.join("got.jpg");
    let out = nobody.ok(&["get", &link, got.to_str().unwrap()]);
    assert!(out.contains("wrote"), "{out}");
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&photo).unwrap());
    assert!(!net.root.join("nobody").exists(), "no home was made");
    // Opened in a browser, the link's address (the browser keeps the key) gets a page
    // saying how to open it, the same for every id, with no script.
    let page = |address: String| async move {
        let answer = reqwest::get(address).await.unwrap();
        assert_eq!(answer.status(), 200);
        let header = |name: &str| answer.headers()[name].to_str().unwrap().to_owned();
        assert!(header("content-type").starts_with("text/html"));
        assert!(header("content-security-policy").starts_with("default-src 'none'"));
        answer.text().await.unwrap()
    };
    let (address, _key) = link.split_once('#').unwrap();
    let shown = page(address.to_owned()).await;
    assert!(
        shown.contains("cairn get") && shown.contains("Open a link"),
        "{shown}"
    );
    assert!(!shown.contains("<script"));
    let id = address.rsplit('/').next().unwrap();
    let other = address.replace(id, &"0".repeat(32));
    assert_eq!(page(other).await, shown, "no page tells which shares exist");
    // To standard output.
    let notes = owner.ok(&["share", "/notes.txt"]);
    let run = nobody.run(&["get", notes.trim(), "-"]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, "the sea was warm\n");

    // A folder, as it is.
    let link = owner.ok(&["share", "/trip"]);
    let copy = net.root.join("trip-copy");
    let out = nobody.ok(&["get", link.trim(), copy.to_str().unwrap()]);
    assert!(out.contains("2 files"), "{out}");
    assert_eq!(
        std::fs::read(copy.join("notes.txt")).unwrap(),
        b"the sea was warm\n"
    );
    assert_eq!(
        std::fs::read(copy.join("day 2").join("clip.bin")).unwrap(),
        std::fs::read(&video).unwrap()
    );
    // To standard output, a folder is one zip.
    let zipped = nobody.output(&["get", link.trim(), "-"]);
    assert!(zipped.status.success());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped.stdout)).unwrap();
    let mut clip = Vec::new();
    std::io::Read::read_to_end(
        &mut archive.by_name("trip/day 2/clip.bin").unwrap(),
        &mut clip,
    )
    .unwrap();
    assert_eq!(clip, std::fs::read(&video).unwrap());
    assert!(archive.by_name("trip/notes.txt").is_ok());

    // A password: asked of whoever opens the link; useless without the link, and the
    // link useless without it.
    let guarded = owner
        .clone()
        .with_env("CAIRN_SHARE_PASSWORD", "correct horse")
        .ok(&["share", "/photo.jpg", "--password"]);
    let guarded = guarded.trim();
    let out_path = net.root.join("guarded.jpg");
    let out = out_path.to_str().unwrap();
    let err = nobody.fails(&["get", guarded, out]);
    assert!(err.contains("CAIRN_SHARE_PASSWORD"), "{err}");
    let err = nobody
        .clone()
        .with_env("CAIRN_SHARE_PASSWORD", "wrong horse")
        .fails(&["get", guarded, out]);
    assert!(err.contains("does not open"), "{err}");
    assert!(!out_path.exists(), "nothing written");
    nobody
        .clone()
        .with_env("CAIRN_SHARE_PASSWORD", "correct horse")
        .ok(&["get", guarded, out]);
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        std::fs::read(&photo).unwrap()
    );

    // A tampered link: another key opens nothing; a cut one is called damaged.
    let (address, key) = link.trim().split_once('#').unwrap();
    let flipped = if key.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{address}#{flipped}{}", &key[1..]);
    let err = nobody.fails(&["get", &tampered, copy.join("x").to_str().unwrap()]);
    assert!(err.contains("does not open"), "{err}");
    let cut = format!("{address}#{}", &key[..10]);
    let err = nobody.fails(&["get", &cut, copy.join("x").to_str().unwrap()]);
    assert!(err.contains("damaged"), "{err}");

    // A download count.
    let once = owner.ok(&["share", "/notes.txt", "--max-downloads", "1"]);
    nobody.ok(&["get", once.trim(), net.root.join("once").to_str().unwrap()]);
    let err = nobody.fails(&["get", once.trim(), net.root.join("twice").to_str().unwrap()]);
    assert!(err.contains("as many times"), "{err}");

    // An expiry.
    let brief = owner.ok(&["share", "/notes.txt", "--expires", "1s"]);
    let expired = cairn_testkit::wait_until("the link to expire", Duration::from_secs(20), || {
        let run = nobody.run(&["get", brief.trim(), "-"]);
        async move { (!run.ok).then_some(run.stderr) }
    })
    .await
    .unwrap();
    assert!(expired.contains("expired"), "{expired}");

    // Revocation: refused from then on.
    let id = link
        .trim()
        .split("/s/")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap();
    let out = owner.ok(&["share", "--revoke", id]);
    assert!(out.contains("revoked"), "{out}");
    let err = nobody.fails(&["get", link.trim(), net.root.join("late").to_str().unwrap()]);
    assert!(err.contains("revoked"), "{err}");

    // The owner deletes, then replaces, what a live link shares: it still serves the
    // version it shared, and the owner's drive does not show what the pool keeps for it.
    let kept = owner.ok(&["share", "/photo.jpg"]);
    owner.ok(&["rm", "/photo.jpg"]);
    owner.ok(&[
        "put",
        trip.join("notes.txt").to_str().unwrap(),
        "/photo.jpg",
    ]);
    let after = net.root.join("after.jpg");
    nobody.ok(&["get", kept.trim(), after.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&after).unwrap(),
        std::fs::read(&photo).unwrap()
    );
    let names: Vec<String> = owner.ls("/").into_iter().map(|(name, _, _)| name).collect();
    assert!(
        names.iter().all(|n| !n.contains("kept")),
        "the drive shows what shares keep: {names:?}"
    );
    let health = owner.ok(&["status"]);
    assert!(health.contains("0 degraded, 0 unreadable"), "{health}");

    // The owner's list.
    let listed: serde_json::Value =
        serde_json::from_str(&owner.ok(&["share", "--list", "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 7);
    let trip_link = listed.iter().find(|s| s["id"] == id).unwrap();
    assert_eq!(trip_link["path"], "/trip");
    assert_eq!(trip_link["state"], "revoked");
    // Opened twice: saved, and zipped to standard output (a tampered link opened nothing).
    assert_eq!(trip_link["downloads"], 2);
    assert!(trip_link["created"].as_str().unwrap().ends_with('Z'));
    assert!(trip_link["expires"].is_null());
    let states: Vec<&str> = listed
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    for state in ["live", "revoked", "expired", "exhausted"] {
        assert!(states.contains(&state), "{states:?}");
    }
    let human = owner.ok(&["share", "--list"]);
    assert_eq!(human.lines().count(), 7, "{human}");
    assert!(human.contains(id) && human.contains("/trip"), "{human}");

    // Bad input: clear errors, nothing made.
    let err = owner.fails(&["share", "/nope"]);
    assert!(err.contains("/nope"), "{err}");
    let err = owner.fails(&["share", "--revoke", "xyz"]);
    assert!(err.contains("not a link id"), "{err}");
    let err = owner.fails(&["share", "--revoke", &"0".repeat(32)]);
    assert!(err.contains("no share"), "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&owner.ok(&["share", "--list", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        7
    );
}
