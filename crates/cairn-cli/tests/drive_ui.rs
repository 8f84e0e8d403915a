//! The web drive in a real browser: Debian's Chromium, driven through chromedriver,
//! against real `cairn pool`, `cairn peer` and `cairn ui` processes. A person's steps —
//! sign in from the printed address, make folders, upload files and folders, download,
//! rename, move (by form and by dragging), trash and restore, zip a folder, preview an image
//! and seek in a video, watch health follow the peers — each checked on what the page and
//! the drive then hold. A missing browser fails these tests; it never skips them.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use cairn_testkit::browser::{self, Browser};
use cairn_testkit::wait_until;
use common::{World, hash_file, peer_info, wait_online};
use fantoccini::Locator;

const SHORT: Duration = Duration::from_secs(30);

/// `cairn ui --no-open` on a home, and the address it printed.
struct Ui {
    child: Child,
    url: String,
}

impl Ui {
    fn start(home: &Path) -> Self {
        let (child, url) = common::start_printing(&["ui", "--no-open"], home, "drive at ");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self { child, url }
    }

    fn base(&self) -> &str {
        let rest = &self.url["http://".len()..];
        let end = "http://".len() + rest.find('/').unwrap();
        &self.url[..end]
    }

    /// Peak and current resident memory of the `cairn ui` process, bytes.
    fn memory(&self) -> (u64, u64) {
        common::memory(self.child.id())
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn world(peers: usize) -> World {
    World::start(peers, &[])
}

/// [`world`] with the test pool's repair delay set to `repair_after` instead.
fn world_with(peers: usize, repair_after: Option<&str>) -> World {
    world_timed(peers, &[("--repair-after", repair_after)])
}

/// [`world`] with the test pool's timers (`--offline-after`, `--repair-after`) set as given.
fn world_timed(peers: usize, timers: &[(&str, Option<&str>)]) -> World {
    let set: Vec<(&str, &str)> = timers
        .iter()
        .filter_map(|(flag, value)| value.map(|v| (*flag, v)))
        .collect();
    World::start(peers, &set)
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn exists(browser: &Browser, css: &str) -> bool {
    browser.client.find(Locator::Css(css)).await.is_ok()
}

/// Clicks `css` as a person would: scrolled to the middle of the screen first, clear of
/// the transfer panel in the corner.
async fn click(browser: &Browser, css: &str) {
    let element = browser.wait_for(css, SHORT).await;
    browser
        .client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'}); return true;",
            vec![serde_json::to_value(&element).unwrap()],
        )
        .await
        .unwrap();
    element.click().await.unwrap();
}

/// Waits, reloading the page, until `css` matches (or, with `gone`, no longer matches).
async fn reload_until(browser: &Browser, url: &str, css: &str, gone: bool, deadline: Duration) {
    let start = Instant::now();
    loop {
        browser.goto(url).await;
        if exists(browser, css).await != gone {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "{css} {} within {deadline:?}",
            if gone { "gone" } else { "shown" }
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Opens an entry's action menu and submits one of its forms, filling `field` first.
async fn menu_action(browser: &Browser, path: &str, action: &str, field: Option<(&str, &str)>) {
    let row = format!("tr[data-path=\"{path}\"]");
    click(browser, &format!("{row} details.menu summary")).await;
    let form = format!("{row} form[action=\"{action}\"]");
    if let Some((name, value)) = field {
        let input = browser
            .wait_for(&format!("{form} input[name=\"{name}\"]"), SHORT)
            .await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    click(browser, &format!("{form} button[type=submit]")).await;
}

fn write_png(path: &Path, width: u32, height: u32) {
    // An uncompressed (stored-deflate) RGB PNG, built by hand so the test needs no encoder.
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0);
        for x in 0..width {
            raw.extend([(x * 255 / width) as u8, (y * 255 / height) as u8, 150]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    for (i, block) in raw.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= raw.len();
        zlib.push(u8::from(last));
        let len = block.len() as u16;
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32fast::hash(&body).to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &zlib));
    png.extend(chunk(b"IEND", &[]));
    std::fs::write(path, png).unwrap();
}

/// Bytes that differ from offset to offset.
fn pattern_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(seed ^ (i >> 9) as u8)
        })
        .collect()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Where screenshots go: `CAIRN_SCREENSHOTS` (e.g. `docs/screenshots` to refresh the
/// docs), else a temp dir; each is checked to be a PNG.
async fn screenshot(browser: &Browser, dir: &Path, name: &str) {
    let target = match std::env::var_os("CAIRN_SCREENSHOTS") {
        Some(d) => PathBuf::from(d).join(format!("{name}.png")),
        None => dir.join(format!("{name}.png")),
    };
    browser.screenshot(&target).await;
    let bytes = std::fs::read(&target).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{name} is a PNG");
}

/// Every form control the page shows has a name a screen reader reads out.
async fn every_control_is_labelled(browser: &Browser) {
    let unlabelled = browser
        .eval(
            r#"return [...document.querySelectorAll('input:not([type=hidden]), textarea, select, button, summary, a')]
                .filter(el => {
                  if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
                  if (el.labels && el.labels.length) return false;
                  if (el.tagName === 'A' || el.tagName === 'BUTTON' || el.tagName === 'SUMMARY') return !el.textContent.trim() && !el.querySelector('img[alt]:not([alt=""])');
                  return true;
                }).map(el => el.outerHTML.slice(0, 80));"#,
        )
        .await;
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "controls without a label"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_uses_the_drive_in_a_browser() {
    let world = world(6);
    wait_online(world.pool.url(), 6).await;
    let ui = Ui::start(&world.client.home);
    let downloads = world.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let shots = world.dir.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser::start(&downloads).await;
    let base = ui.base().to_owned();

    // Signed in by the printed address; the secret leaves the address bar.
    browser.goto(&ui.url).await;
    browser.wait_for("[data-dir=\"/\"]", SHORT).await;
    let here = browser.client.current_url().await.unwrap();
    assert_eq!(here.path(), "/drive/");
    assert!(here.query().is_none(), "no secret left in {here}");
    assert!(
        browser
            .cookie_names()
            .await
            .contains(&"cairn_drive".to_owned())
    );
    every_control_is_labelled(&browser).await;

    // A folder, made in the page.
    let name = browser.wait_for("#new-folder-name", SHORT).await;
    name.send_keys("Photos").await.unwrap();
    click(&browser, "form.new-folder button[type=submit]").await;
    browser.wait_for("tr[data-path=\"/Photos\"]", SHORT).await;
    assert!(text_of(&browser, ".note.done").await.contains("Photos"));

    // Files through the file input; the listing refreshes when they are stored.
    let local = world.dir.path().join("local");
    std::fs::create_dir_all(local.join("album/2024")).unwrap();
    write_png(&local.join("sunset.png"), 320, 200);
    std::fs::write(
        local.join("notes.txt"),
        "milk, eggs, and the recovery phrase is NOT here\n".repeat(500),
    )
    .unwrap();
    std::fs::write(local.join("album/a.jpg"), pattern_bytes(300_000, 1)).unwrap();
    std::fs::write(local.join("album/2024/b.jpg"), pattern_bytes(90_000, 2)).unwrap();
    std::fs::write(local.join("album/2024/c.txt"), b"third").unwrap();
    std::fs::write(
        local.join("evil.html"),
        "<html><body><script>document.title='pwned';fetch('/api/transfers').then(()=>document.title='reached')</script>evil</body></html>",
    )
    .unwrap();
    std::fs::copy(fixture("clip.webm"), local.join("clip.webm")).unwrap();
    let picked = [
        local.join("sunset.png"),
        local.join("notes.txt"),
        local.join("evil.html"),
        local.join("clip.webm"),
    ];
    browser
        .upload_files(
            "#upload-files",
            &picked.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        )
        .await;
    for name in ["sunset.png", "notes.txt", "evil.html", "clip.webm"] {
        browser
            .wait_for(&format!("tr[data-path=\"/{name}\"]"), SHORT)
            .await;
    }
    // And a whole folder, by the folder input.
    browser
        .upload_dir("#upload-folder", &local.join("album"))
        .await;
    browser.wait_for("tr[data-path=\"/album\"]", SHORT).await;
    wait_until("the album's files listed", SHORT, || async {
        world
            .client
            .run(&["ls", "/album/2024"])
            .stdout
            .contains("c.txt")
            .then_some(())
    })
    .await
    .unwrap();
    // The transfer panel lists each upload, done; then it is cleared away.
    for name in ["/sunset.png", "/album/2024/b.jpg"] {
        browser
            .wait_for(
                &format!("#transfer-list li[data-transfer=\"{name}\"][data-state=\"done\"]"),
                SHORT,
            )
            .await;
    }
    screenshot(&browser, &shots, "drive").await;
    click(&browser, "#transfers-clear").await;
    wait_until("the panel cleared", SHORT, || async {
        let hidden = browser
            .eval("return document.getElementById('transfers').hidden;")
            .await;
        (hidden == true).then_some(())
    })
    .await
    .unwrap();

    // Files dropped on the page upload into the folder shown.
    browser.goto(&format!("{base}/drive/Photos/")).await;
    browser.wait_for("[data-dir=\"/Photos\"]", SHORT).await;
    browser
        .eval(
            r#"const data = new DataTransfer();
               data.items.add(new File(["dropped on the page\n"], "dropped.txt", { type: "text/plain" }));
               document.body.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: data }));
               document.body.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
               return true;"#,
        )
        .await;
    browser
        .wait_for("tr[data-path=\"/Photos/dropped.txt\"]", SHORT)
        .await;
    assert_eq!(
        world.client.ok(&["get", "/Photos/dropped.txt", "-"]),
        "dropped on the page\n"
    );
    browser.goto(&format!("{base}/drive/")).await;
    browser
        .wait_for("tr[data-path=\"/notes.txt\"]", SHORT)
        .await;

    // Download equals upload, byte for byte.
    click(&browser, "tr[data-path=\"/notes.txt\"] a[download]").await;
    let got = browser.wait_download("notes.txt", SHORT).await;
    assert_eq!(
        std::fs::read(got).unwrap(),
        std::fs::read(local.join("notes.txt")).unwrap()
    );

    // The folder as one zip unpacks to the same tree.
    click(&browser, "tr[data-path=\"/album\"] a[download]").await;
    let zipped = browser.wait_download("album.zip", SHORT).await;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zipped).unwrap()).unwrap();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        if !entry.is_dir() {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            assert_eq!(bytes, std::fs::read(local.join(&name)).unwrap(), "{name}");
        }
        names.push(name);
    }
    names.sort();
    // (A folder picker lists files only: an empty folder in it never reaches the page.)
    assert_eq!(
        names,
        [
            "album/",
            "album/2024/b.jpg",
            "album/2024/c.txt",
            "album/a.jpg"
        ]
    );

    // Rename, then move by the menu, then by dragging onto a folder.
    menu_action(
        &browser,
        "/notes.txt",
        "/do/rename",
        Some(("name", "shopping.txt")),
    )
    .await;
    browser
        .wait_for("tr[data-path=\"/shopping.txt\"]", SHORT)
        .await;
    assert!(!exists(&browser, "tr[data-path=\"/notes.txt\"]").await);
    menu_action(
        &browser,
        "/shopping.txt",
        "/do/move",
        Some(("to", "/Photos")),
    )
    .await;
    browser.wait_for(".note.done", SHORT).await;
    assert!(!exists(&browser, "tr[data-path=\"/shopping.txt\"]").await);
    browser
        .eval(
            r#"const row = document.querySelector('tr[data-path="/sunset.png"]');
               const folder = document.querySelector('tr[data-path="/Photos"] [data-drop]');
               const data = new DataTransfer();
               row.dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: data }));
               const target = folder.closest('tr');
               target.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: data }));
               target.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
               return true;"#,
        )
        .await;
    // The page moves it and refreshes its listing; leaving before then would abandon the
    // request the drop made.
    wait_until("the dragged row left the listing", SHORT, || async {
        (!exists(&browser, "tr[data-path=\"/sunset.png\"]").await).then_some(())
    })
    .await
    .unwrap();
    reload_until(
        &browser,
        &format!("{base}/drive/Photos/"),
        "tr[data-path=\"/Photos/sunset.png\"]",
        false,
        SHORT,
    )
    .await;
    browser
        .wait_for("tr[data-path=\"/Photos/shopping.txt\"]", SHORT)
        .await;

    // Delete into the trash, and restore to where it was.
    menu_action(&browser, "/Photos/shopping.txt", "/do/delete", None).await;
    browser.wait_for(".note.done", SHORT).await;
    assert!(!exists(&browser, "tr[data-path=\"/Photos/shopping.txt\"]").await);
    browser.goto(&format!("{base}/trash")).await;
    browser
        .wait_for("tr[data-path=\"/Photos/shopping.txt\"]", SHORT)
        .await;
    screenshot(&browser, &shots, "trash").await;
    click(
        &browser,
        "tr[data-path=\"/Photos/shopping.txt\"] form[action=\"/do/restore\"] button",
    )
    .await;
    browser.wait_for_text(".note.done", "Restored", SHORT).await;
    browser.goto(&format!("{base}/drive/Photos/")).await;
    browser
        .wait_for("tr[data-path=\"/Photos/shopping.txt\"]", SHORT)
        .await;
    assert_eq!(
        world.client.ok(&["ls", "/.trash"]).trim(),
        "",
        "the restored item left nothing in the trash"
    );

    // Preview: an image decodes; a video plays from a seek.
    browser
        .goto(&format!("{base}/file/Photos/sunset.png"))
        .await;
    browser.wait_for(".preview img", SHORT).await;
    wait_until("the image decoded", SHORT, || async {
        let width = browser.eval("const i = document.querySelector('.preview img'); return i.complete ? i.naturalWidth : 0;").await;
        (width == 320).then_some(())
    })
    .await
    .unwrap();
    assert!(
        exists(&browser, ".badge.full").await,
        "a new file is at full redundancy"
    );
    screenshot(&browser, &shots, "preview").await;
    browser.goto(&format!("{base}/file/clip.webm")).await;
    browser.wait_for(".preview video", SHORT).await;
    wait_until("the video's metadata", SHORT, || async {
        let ready = browser
            .eval("return document.querySelector('video').readyState;")
            .await;
        (ready.as_u64().unwrap_or(0) >= 1).then_some(())
    })
    .await
    .unwrap();
    browser.eval("const v = document.querySelector('video'); v.muted = true; v.currentTime = 5.5; return true;").await;
    wait_until("the video seeked to 5.5 s", SHORT, || async {
        let state = browser
            .eval("const v = document.querySelector('video'); return [v.seeking, v.currentTime, v.readyState, v.error && v.error.message];")
            .await;
        let settled = state[0] == false && (state[1].as_f64().unwrap_or(0.0) - 5.5).abs() < 0.25 && state[2].as_u64().unwrap_or(0) >= 2;
        assert!(state[3].is_null(), "the video failed: {state}");
        settled.then_some(())
    })
    .await
    .unwrap();

    // An uploaded page cannot run script in the drive's origin: it is shown as text.
    browser.goto(&format!("{base}/raw/evil.html")).await;
    let title = browser.eval("return document.title;").await;
    assert_ne!(title, "pwned");
    assert_ne!(title, "reached");
    let text = browser.eval("return document.body.innerText;").await;
    assert!(
        text.as_str().unwrap().contains("<script>"),
        "shown as text: {text}"
    );

    // Emptying the trash removes for good what is in it, after asking.
    browser.goto(&format!("{base}/drive/")).await;
    menu_action(&browser, "/evil.html", "/do/delete", None).await;
    browser.wait_for(".note.done", SHORT).await;
    browser.goto(&format!("{base}/trash")).await;
    browser
        .wait_for("tr[data-path=\"/evil.html\"]", SHORT)
        .await;
    browser
        .eval("window.confirm = () => true; return true;")
        .await;
    click(&browser, "form[action=\"/do/empty-trash\"] button").await;
    browser.wait_for_text(".note.done", "Emptied", SHORT).await;
    assert!(!exists(&browser, "tr[data-path=\"/evil.html\"]").await);
    assert!(!world.client.ok(&["ls", "/"]).contains("evil.html"));

    // Search finds by name, anywhere.
    browser.goto(&format!("{base}/search?q=shop")).await;
    browser
        .wait_for("tr[data-path=\"/Photos/shopping.txt\"]", SHORT)
        .await;

    // The network page, and a phone-sized screen without sideways scrolling.
    browser.goto(&format!("{base}/network")).await;
    browser.wait_for("tr[data-state=\"online\"]", SHORT).await;
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css("tr[data-peer]"))
            .await
            .unwrap()
            .len(),
        6
    );
    screenshot(&browser, &shots, "network").await;
    browser.set_viewport(390, 844).await;
    browser.goto(&format!("{base}/drive/")).await;
    browser.wait_for("tr[data-path=\"/album\"]", SHORT).await;
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "no sideways scrolling on a phone: {overflow}"
    );
    screenshot(&browser, &shots, "phone").await;
    browser.close().await;
}

/// Types `text` into the field `css`, replacing what it held.
async fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = browser.wait_for(css, SHORT).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// The value of the field `css`.
async fn value_of(browser: &Browser, css: &str) -> String {
    let field = browser.wait_for(css, SHORT).await;
    field.prop("value").await.unwrap().unwrap_or_default()
}

/// The share id in a link (`POOL/s/ID[/POOL_ID]#KEY`).
fn share_id(link: &str) -> String {
    let after = link.split("/s/").nth(1).unwrap();
    after.split(['#', '/']).next().unwrap().to_owned()
}

/// Sharing in the page: the owner makes links in the share dialog (copy, expiry, password,
/// download limit) and finds them listed with their state; a second browser profile, on a
/// `cairn ui` with no account at all, pastes each link and downloads what it shares; a
/// revoked link, and a wrong password, open nothing there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_made_in_the_page_opens_in_another_browser() {
    let world = world(6);
    wait_online(world.pool.url(), 6).await;
    let local = world.dir.path().join("local");
    std::fs::create_dir_all(local.join("album/day 1")).unwrap();
    std::fs::create_dir_all(local.join("album/empty")).unwrap();
    std::fs::write(local.join("report.pdf"), pattern_bytes(700_000, 5)).unwrap();
    std::fs::write(local.join("album/day 1/a.jpg"), pattern_bytes(120_000, 6)).unwrap();
    std::fs::write(local.join("album/b.txt"), b"hello from the album").unwrap();
    let client = &world.client;
    client.ok(&[
        "put",
        local.join("report.pdf").to_str().unwrap(),
        "/report.pdf",
    ]);
    client.ok(&["put", "-r", local.join("album").to_str().unwrap(), "/album"]);
    let shots = world.dir.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();

    // The owner, in the share dialog of a file: a link that expires in a week.
    let ui = Ui::start(&client.home);
    let base = ui.base().to_owned();
    let owner = Browser::start(&world.dir.path().join("owner-downloads")).await;
    owner.goto(&ui.url).await;
    click(
        &owner,
        "tr[data-path=\"/report.pdf\"] a[href=\"/share/report.pdf\"]",
    )
    .await;
    owner.wait_for("[data-shared=\"/report.pdf\"]", SHORT).await;
    every_control_is_labelled(&owner).await;
    owner
        .wait_for("#share-expires", SHORT)
        .await
        .select_by_value("7d")
        .await
        .unwrap();
    click(&owner, ".share-form button[type=submit]").await;
    owner.wait_for("#share-link", SHORT).await;
    let file_link = value_of(&owner, "#share-link").await;
    assert!(
        file_link.starts_with(&format!("{}/s/", world.pool.url())),
        "{file_link}"
    );
    assert!(!file_link.ends_with(".pw"), "{file_link}");
    click(&owner, "button[data-copy=\"share-link\"]").await;
    wait_until("the link copied", SHORT, || async {
        let copied = owner
            .eval("return document.querySelector('button[data-copy=\"share-link\"]').dataset.copied || null;")
            .await;
        copied.as_str().map(str::to_owned)
    })
    .await
    .map(|copied| assert_eq!(copied, "yes", "the browser refused the clipboard"))
    .unwrap();
    // What the clipboard holds, pasted as a person would (the page may not read it).
    let search = owner.wait_for("#search-box", SHORT).await;
    search
        .send_keys(&format!("{}v", char::from(fantoccini::key::Key::Control)))
        .await
        .unwrap();
    assert_eq!(value_of(&owner, "#search-box").await, file_link);
    search.clear().await.unwrap();
    screenshot(&owner, &shots, "share-dialog").await;
    let file_id = share_id(&file_link);
    let listed: serde_json::Value =
        serde_json::from_str(&client.ok(&["share", "--list", "--json"])).unwrap();
    let expires = listed[0]["expires"].as_str().unwrap_or_default().to_owned();
    assert_eq!(listed[0]["id"], file_id.as_str(), "{listed}");
    assert!(!expires.is_empty(), "the week's expiry is kept: {listed}");

    // A folder's link, from the folder's page, with a password and one download.
    owner.goto(&format!("{base}/drive/album/")).await;
    click(&owner, "a[href=\"/share/album\"]").await;
    owner.wait_for("[data-shared=\"/album\"]", SHORT).await;
    type_into(&owner, "#share-password", "open sesame").await;
    type_into(&owner, "#share-max", "1").await;
    click(&owner, ".share-form button[type=submit]").await;
    owner.wait_for("#share-link", SHORT).await;
    let folder_link = value_of(&owner, "#share-link").await;
    assert!(folder_link.ends_with(".pw"), "{folder_link}");

    // Both listed, live, each with its link to copy again.
    owner.goto(&format!("{base}/links")).await;
    for link in [&file_link, &folder_link] {
        let id = share_id(link);
        let row = format!("tr[data-share=\"{id}\"][data-state=\"live\"]");
        owner.wait_for(&row, SHORT).await;
        assert_eq!(&value_of(&owner, &format!("{row} input.link")).await, link);
    }
    every_control_is_labelled(&owner).await;
    screenshot(&owner, &shots, "links").await;
    // On a phone, the links and their buttons fit the screen.
    owner.set_viewport(390, 844).await;
    owner.goto(&format!("{base}/links")).await;
    owner.wait_for("tr.link-row", SHORT).await;
    let overflow = owner
        .eval("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "no sideways scrolling: {overflow}"
    );
    screenshot(&owner, &shots, "links-phone").await;
    owner.set_viewport(1280, 800).await;

    // A second browser profile, on a drive with no account: it opens the file's link.
    let stranger_home = world.dir.path().join("stranger");
    let stranger_ui = Ui::start(&stranger_home);
    let stranger_base = stranger_ui.base().to_owned();
    let downloads = world.dir.path().join("stranger-downloads");
    let stranger = Browser::start(&downloads).await;
    stranger.goto(&stranger_ui.url).await;
    click(&stranger, "a[href=\"/open\"]").await;
    type_into(&stranger, "#open-link", &file_link).await;
    click(&stranger, "form.open-link button[type=submit]").await;
    stranger
        .wait_for("[data-received=\"report.pdf\"]", SHORT)
        .await;
    screenshot(&stranger, &shots, "received-file").await;
    click(&stranger, ".received a[download]").await;
    let got = stranger.wait_download("report.pdf", SHORT).await;
    assert_eq!(
        std::fs::read(got).unwrap(),
        std::fs::read(local.join("report.pdf")).unwrap()
    );

    // The folder's link: without its password, with a wrong one, then right.
    stranger.goto(&format!("{stranger_base}/open")).await;
    type_into(&stranger, "#open-link", &folder_link).await;
    click(&stranger, "form.open-link button[type=submit]").await;
    assert!(
        text_of(&stranger, ".note.problem")
            .await
            .contains("password")
    );
    type_into(&stranger, "#open-password", "open says me").await;
    click(&stranger, "form.open-link button[type=submit]").await;
    assert!(
        text_of(&stranger, ".note.problem")
            .await
            .contains("password"),
        "{}",
        text_of(&stranger, ".note.problem").await
    );
    type_into(&stranger, "#open-password", "open sesame").await;
    click(&stranger, "form.open-link button[type=submit]").await;
    stranger.wait_for("[data-received=\"album\"]", SHORT).await;
    stranger
        .wait_for("tr[data-shared-path=\"day 1/a.jpg\"]", SHORT)
        .await;
    screenshot(&stranger, &shots, "received-folder").await;
    click(&stranger, ".received .toolbar a[download]").await;
    let zipped = stranger.wait_download("album.zip", SHORT).await;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zipped).unwrap()).unwrap();
    let mut bytes = Vec::new();
    archive
        .by_name("album/day 1/a.jpg")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(
        bytes,
        std::fs::read(local.join("album/day 1/a.jpg")).unwrap()
    );
    assert!(
        archive.by_name("album/empty/").is_ok(),
        "the empty folder is kept"
    );
    // One download allowed: the next opening is refused, the owner sees it used up.
    stranger.goto(&format!("{stranger_base}/open")).await;
    type_into(&stranger, "#open-link", &folder_link).await;
    type_into(&stranger, "#open-password", "open sesame").await;
    click(&stranger, "form.open-link button[type=submit]").await;
    stranger.wait_for(".note.problem", SHORT).await;
    let folder_id = share_id(&folder_link);
    owner.goto(&format!("{base}/links")).await;
    owner
        .wait_for(
            &format!("tr[data-share=\"{folder_id}\"][data-state=\"exhausted\"]"),
            SHORT,
        )
        .await;

    // The owner revokes the file's link in the page: it opens no more.
    owner
        .eval("window.confirm = () => true; return true;")
        .await;
    click(
        &owner,
        &format!("tr[data-share=\"{file_id}\"] form[action=\"/do/revoke\"] button"),
    )
    .await;
    owner
        .wait_for(
            &format!("tr[data-share=\"{file_id}\"][data-state=\"revoked\"]"),
            SHORT,
        )
        .await;
    assert!(text_of(&owner, ".note.done").await.contains("revoked"));
    stranger.goto(&format!("{stranger_base}/open")).await;
    type_into(&stranger, "#open-link", &file_link).await;
    click(&stranger, "form.open-link button[type=submit]").await;
    let refused = text_of(&stranger, ".note.problem").await;
    assert!(refused.contains("revoked"), "{refused}");
    // Nothing of any of it made the stranger an account.
    assert!(!cairn_client::Home::exists(&stranger_home));

    stranger.close().await;
    owner.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_badge_follows_the_peers() {
    // Repairs wait 10 s after a peer is lost, so the page has time to show the loss.
    let mut world = world_with(7, Some("10s"));
    wait_online(world.pool.url(), 7).await;
    let data = world.dir.path().join("data.bin");
    std::fs::write(&data, pattern_bytes(200_000, 9)).unwrap();
    // Six pieces on seven peers: the seventh has room for what the repair rebuilds.
    world.client.ok(&[
        "put",
        data.to_str().unwrap(),
        "/data.bin",
        "--redundancy",
        "ec:3+3",
    ]);
    let ui = Ui::start(&world.client.home);
    let browser = Browser::start(&world.dir.path().join("downloads")).await;
    browser.goto(&ui.url).await;
    browser
        .wait_for("tr[data-path=\"/data.bin\"] .badge.full", SHORT)
        .await;

    // A peer holding a piece dies: the badge says degraded until the network repairs it.
    let status: serde_json::Value =
        serde_json::from_str(&world.client.ok(&["status", "/data.bin", "--json"])).unwrap();
    let holder = status["segments"][0]["pieces"][0]["peer"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut victim = None;
    for (i, peer) in world.peers.iter().enumerate() {
        if peer_info(peer.url()).await.peer.to_string() == holder {
            victim = Some(i);
        }
    }
    let mut dead = world
        .peers
        .remove(victim.expect("the holder is one of the peers"));
    dead.kill();
    // The folder's badges follow by themselves (the page asks for health every few
    // seconds); the file's own page says the same.
    browser
        .wait_for(
            "tr[data-path=\"/data.bin\"] [data-health=\"degraded\"]",
            SHORT,
        )
        .await;
    browser.goto(&format!("{}/file/data.bin", ui.base())).await;
    assert!(exists(&browser, ".badge.degraded").await);
    browser.goto(&format!("{}/drive/", ui.base())).await;
    browser
        .wait_for(
            "tr[data-path=\"/data.bin\"] [data-health=\"full\"]",
            Duration::from_secs(60),
        )
        .await;
    browser.close().await;
}

/// Writes `len` pseudo-random bytes (BLAKE3's output stream of a seed) to `path`.
fn write_random(path: &Path, len: u64, seed: &str) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut stream = blake3::Hasher::new().update(seed.as_bytes()).finalize_xof();
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        stream.fill(&mut block[..n]);
        out.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    out.flush().unwrap();
}

/// The client's memory bound for a put or get, as the CLI's memory tests hold it.
const CLIENT_BOUND: u64 = 256 << 20;
/// A browser that held the file would need more than this.
const BROWSER_BOUND: u64 = 1 << 30;
const GIB: u64 = 1 << 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_goes_up_and_down_through_the_page_in_bounded_memory() {
    // A gigabyte through a debug build and a browser fills both cores for minutes: a peer's
    // heartbeat may lag past the tests' usual 3 s, so no peer counts as gone here (this
    // test is about the page's memory and bytes, not about health).
    let world = world_timed(
        6,
        &[
            ("--offline-after", Some("60s")),
            ("--repair-after", Some("120s")),
        ],
    );
    wait_online(world.pool.url(), 6).await;
    let big = world.dir.path().join("big.bin");
    write_random(&big, GIB, "a gigabyte through the page");
    let ui = Ui::start(&world.client.home);
    let downloads = world.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let browser = Browser::start(&downloads).await;
    browser.goto(&ui.url).await;
    browser.wait_for("[data-dir=\"/\"]", SHORT).await;
    let (_, before) = ui.memory();

    // The browser's share of memory, sampled while the file moves.
    let peak_browser = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, on, marker) = (peak_browser.clone(), sampling.clone(), browser.marker());
        std::thread::spawn(move || {
            while on.load(std::sync::atomic::Ordering::Relaxed) {
                let pss = browser::pss_of(&marker);
                peak.fetch_max(pss, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };

    let started = Instant::now();
    browser
        .upload_files("#upload-files", &[big.as_path()])
        .await;
    browser
        .wait_for(
            "#transfer-list li[data-transfer=\"/big.bin\"][data-state=\"done\"]",
            Duration::from_secs(900),
        )
        .await;
    let up = started.elapsed();
    browser.wait_for("tr[data-path=\"/big.bin\"]", SHORT).await;
    let started = Instant::now();
    click(&browser, "tr[data-path=\"/big.bin\"] a[download]").await;
    let got = browser
        .wait_download("big.bin", Duration::from_secs(900))
        .await;
    let down = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();

    assert_eq!(
        hash_file(&got),
        hash_file(&big),
        "the download equals the upload"
    );
    let (peak, _) = ui.memory();
    let browser_peak = peak_browser.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "1 GiB through the page: up {up:.1?}, down {down:.1?}; cairn ui peak {} MiB (from {} MiB), browser peak PSS {} MiB",
        peak >> 20,
        before >> 20,
        browser_peak >> 20
    );
    assert!(
        peak.saturating_sub(before) < CLIENT_BOUND,
        "cairn ui grew by {} MiB",
        (peak - before) >> 20
    );
    assert!(
        browser_peak > 0 && browser_peak < BROWSER_BOUND,
        "the browser peaked at {} MiB",
        browser_peak >> 20
    );
    browser.close().await;
}
