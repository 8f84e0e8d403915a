//! `cairn webdav` against real `cairn pool` and `cairn peer` processes: the `litmus`
//! WebDAV suite (basic, copymove, http, locks, props) passes; `rclone` copies a tree of
//! two thousand files up, finds it identical byte for byte, and copies it back down; a
//! gigabyte PUT keeps the client's memory bounded; bad requests (a wrong secret, a
//! foreign host, a missing parent, a PUT cut short, a full quota) change nothing; desktop
//! junk is never uploaded; a PUT cut short is finished by the next PUT of the same file,
//! which sends the peers only what they lack. `litmus` and `rclone` are Debian packages
//! `.ci/run` installs: a missing one fails these tests, never skips them.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use cairn_testkit::wait_until;
use common::{World, wait_online};

/// `cairn webdav` on a home, and the address it printed.
struct Dav {
    child: Child,
    url: String,
}

impl Dav {
    fn start(home: &Path) -> Self {
        let (child, url) = common::start_printing(&["webdav"], home, "webdav at ");
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "{url}"
        );
        Self { child, url }
    }

    /// `host:port` of the server.
    fn authority(&self) -> String {
        self.url["http://".len()..]
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    }

    /// Peak resident memory of the process, bytes.
    fn peak_memory(&self) -> u64 {
        common::memory(self.child.id()).0
    }
}

impl Drop for Dav {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn world(peers: usize, flags: &[(&str, &str)]) -> World {
    World::start(peers, flags)
}

/// Runs a tool the tests need, failing (never skipping) when it is missing.
fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is missing: install the Debian package `{package}` (.ci/run does)"
    );
    Command::new(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litmus_passes_every_suite_against_a_real_network() {
    // About the protocol, not health: no peer counts as gone if a busy machine delays
    // its heartbeats (a COPY or PUT needs all six).
    let world = world(6, &[("--offline-after", "30s"), ("--repair-after", "60s")]);
    wait_online(world.pool.url(), 6).await;
    let dav = Dav::start(&world.client.home);
    let output = tool("litmus", "litmus")
        .arg(&dav.url)
        .current_dir(world.dir.path())
        .env("TESTS", "basic copymove props locks http")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    for suite in ["basic", "copymove", "props", "locks", "http"] {
        let summary = out
            .lines()
            .find(|l| l.starts_with(&format!("<- summary for `{suite}'")))
            .unwrap_or_else(|| panic!("no summary for {suite}:\n{out}"));
        assert!(
            summary.contains(" 0 failed") && summary.ends_with("100.0%"),
            "{summary}\n{out}"
        );
    }
    assert!(output.status.success(), "{out}");
}

/// Files of mixed sizes under `root`: many small, some of a few hundred KiB, a few MiB.
fn tree(root: &Path, files: usize) -> Vec<PathBuf> {
    let mut stream = blake3::Hasher::new().update(b"webdav tree").finalize_xof();
    (0..files)
        .map(|i| {
            let len = match i % 200 {
                0 => 1_500_000 + i * 7,
                1..=19 => 60_000 + i * 13,
                _ => i * 37 % 5_000,
            };
            let path = root
                .join(format!("folder {}", i % 20))
                .join(format!("sub{}", i % 3))
                .join(format!("file-{i}.bin"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut bytes = vec![0u8; len];
            stream.fill(&mut bytes);
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// `rclone` with a WebDAV remote `cairn:` at `url` (no config file).
fn rclone(url: &str) -> Command {
    let mut command = tool("rclone", "rclone");
    command
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_CAIRN_TYPE", "webdav")
        .env("RCLONE_CONFIG_CAIRN_URL", url)
        .env("RCLONE_CONFIG_CAIRN_VENDOR", "other")
        .args(["--transfers", "4", "--checkers", "4", "--retries", "1"]);
    command
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_copies_a_tree_up_and_back_down_unchanged() {
    let world = world(6, &[("--offline-after", "30s"), ("--repair-after", "60s")]);
    wait_online(world.pool.url(), 6).await;
    let dav = Dav::start(&world.client.home);
    let local = world.dir.path().join("tree");
    let files = tree(&local, 2_000);

    run_ok(rclone(&dav.url).args(["copy", local.to_str().unwrap(), "cairn:tree"]));
    // Byte for byte: WebDAV offers no hashes, so rclone reads every file back.
    let checked = run_ok(rclone(&dav.url).args([
        "check",
        "--download",
        local.to_str().unwrap(),
        "cairn:tree",
    ]));
    assert!(checked.contains("0 differences found"), "{checked}");
    // The drive holds them as any file: the command line lists and reads them.
    let listed = world.client.ok(&["ls", "/tree/folder 0/sub0"]);
    assert!(listed.contains("file-0.bin"), "{listed}");

    let back = world.dir.path().join("back");
    run_ok(rclone(&dav.url).args(["copy", "cairn:tree", back.to_str().unwrap()]));
    for file in &files {
        let relative = file.strip_prefix(&local).unwrap();
        assert_eq!(
            std::fs::read(back.join(relative)).unwrap(),
            std::fs::read(file).unwrap(),
            "{}",
            relative.display()
        );
    }
}

/// A request to the WebDAV server, answered.
async fn request(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(body).send().await.unwrap()
}

/// The names a `PROPFIND` with `Depth: 1` of `url` lists.
async fn listed(http: &reqwest::Client, url: &str) -> String {
    let answer = request(http, "PROPFIND", url, &[("Depth", "1")], Vec::new()).await;
    assert_eq!(answer.status(), 207);
    answer.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_change_nothing_and_junk_stays_local() {
    let world = world(6, &[("--account-quota", "4MiB")]);
    wait_online(world.pool.url(), 6).await;
    let dav = Dav::start(&world.client.home);
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", dav.url);

    // Only this run's address, on this machine's name for it.
    let authority = dav.authority();
    for wrong in [
        format!("http://{authority}/"),
        format!("http://{authority}/guess/"),
    ] {
        let answer = request(&http, "PROPFIND", &wrong, &[("Depth", "0")], Vec::new()).await;
        assert_eq!(answer.status(), 403, "{wrong}");
    }
    let rebound = request(
        &http,
        "PROPFIND",
        &url(""),
        &[("Host", "evil.example"), ("Depth", "0")],
        Vec::new(),
    )
    .await;
    assert_eq!(rebound.status(), 421);

    // A missing parent: 409, nothing made.
    assert_eq!(
        request(&http, "MKCOL", &url("no/such"), &[], Vec::new())
            .await
            .status(),
        409
    );
    assert_eq!(
        request(&http, "PUT", &url("no/such.txt"), &[], b"x".to_vec())
            .await
            .status(),
        409
    );
    assert_eq!(
        request(&http, "MKCOL", &url("docs"), &[], Vec::new())
            .await
            .status(),
        201
    );
    let put = request(&http, "PUT", &url("docs/a.txt"), &[], b"alpha".to_vec()).await;
    assert_eq!(put.status(), 201);
    let got = request(
        &http,
        "GET",
        &url("docs/a.txt"),
        &[("Range", "bytes=1-3")],
        Vec::new(),
    )
    .await;
    assert_eq!(got.status(), 206);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"lph");

    // A PUT of unknown length (chunked) is spooled in the home, stored, and the spool goes.
    let parts = futures_util::stream::iter(
        ["spooled ", "in ", "the ", "home"].map(|p| Ok::<_, std::io::Error>(p.as_bytes().to_vec())),
    );
    let chunked = http
        .put(url("docs/chunked.txt"))
        .body(reqwest::Body::wrap_stream(parts))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 201);
    assert_eq!(
        world.client.ok(&["get", "/docs/chunked.txt", "-"]),
        "spooled in the home"
    );
    let spooled: Vec<_> = std::fs::read_dir(&world.client.home)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".dav-put-"))
        .collect();
    assert!(spooled.is_empty(), "the spool file is gone");

    // A PUT cut short: nothing listed, nothing stored.
    {
        let mut socket = std::net::TcpStream::connect(&authority).unwrap();
        let path = dav.url.splitn(4, '/').nth(3).unwrap();
        write!(
            socket,
            "PUT /{path}docs/cut.bin HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 3000000\r\n\r\n"
        )
        .unwrap();
        socket.write_all(&vec![7u8; 1_000_000]).unwrap();
        socket.flush().unwrap();
        // The body ends two thirds short; the server answers or hangs up once it sees that
        // (read until it does, within a deadline).
        socket.shutdown(std::net::Shutdown::Write).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut socket, &mut answer);
    }
    wait_until("the cut PUT to end", Duration::from_secs(10), || async {
        (!listed(&http, &url("docs/")).await.contains("cut.bin")).then_some(())
    })
    .await
    .unwrap();
    let names = world.client.ok(&["ls", "/docs"]);
    assert!(!names.contains("cut.bin"), "{names}");

    // The account's quota, as file managers show free space.
    let asked = br#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"#;
    let answer = request(
        &http,
        "PROPFIND",
        &url(""),
        &[("Depth", "0")],
        asked.to_vec(),
    )
    .await;
    assert_eq!(answer.status(), 207);
    let text = answer.text().await.unwrap();
    let number = |name: &str| -> u64 {
        let at = text
            .find(&format!("{name}>"))
            .unwrap_or_else(|| panic!("{name} in {text}"));
        let rest = &text[at + name.len() + 1..];
        rest[..rest.find('<').unwrap()].trim().parse().unwrap()
    };
    let (used, available) = (number("quota-used-bytes"), number("quota-available-bytes"));
    assert!(used > 0, "{text}");
    assert_eq!(used + available, 4 << 20, "{text}");

    // Over the account's quota: 507, and nothing listed.
    let big = request(&http, "PUT", &url("docs/big.bin"), &[], vec![1u8; 6 << 20]).await;
    assert_eq!(big.status(), 507);
    assert!(!listed(&http, &url("docs/")).await.contains("big.bin"));

    // Desktop junk: readable over WebDAV while the server runs, never in the drive.
    for junk in ["docs/._a.txt", "docs/.DS_Store", "Thumbs.db"] {
        assert_eq!(
            request(&http, "PUT", &url(junk), &[], b"finder notes".to_vec())
                .await
                .status(),
            201,
            "{junk}"
        );
        let got = request(&http, "GET", &url(junk), &[], Vec::new()).await;
        assert_eq!(got.bytes().await.unwrap().as_ref(), b"finder notes");
    }
    assert!(listed(&http, &url("docs/")).await.contains("._a.txt"));
    let names = world.client.ok(&["ls", "/docs"]);
    assert!(
        !names.contains("._a.txt") && !names.contains("DS_Store"),
        "{names}"
    );
    assert!(!world.client.ok(&["ls", "/"]).contains("Thumbs.db"));
    assert_eq!(world.client.ok(&["get", "/docs/a.txt", "-"]), "alpha");
}

const GIB: u64 = 1 << 30;
/// What `cairn webdav` may grow by while a gigabyte goes through it: well under the
/// gigabyte a file held whole would need (measured: about 170 MiB for the PUT, 210 MiB
/// with the GET after it).
const CLIENT_BOUND: u64 = 384 << 20;

/// The bytes of the gigabyte, chunk `i` of 1 MiB.
fn chunk(i: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; 1 << 20];
    blake3::Hasher::new()
        .update(b"a gigabyte over webdav")
        .update(&i.to_le_bytes())
        .finalize_xof()
        .fill(&mut bytes);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_put_and_get_keep_the_client_memory_bounded() {
    let world = world(6, &[("--offline-after", "60s"), ("--repair-after", "120s")]);
    wait_online(world.pool.url(), 6).await;
    let dav = Dav::start(&world.client.home);
    let before = dav.peak_memory();
    let chunks = GIB >> 20;
    let body = futures_util::stream::iter((0..chunks).map(|i| Ok::<_, std::io::Error>(chunk(i))));
    let put = reqwest::Client::new()
        .put(format!("{}big.bin", dav.url))
        .header("Content-Length", GIB)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let after_put = dav.peak_memory();

    // Read back, streamed, compared chunk by chunk.
    let mut got = reqwest::get(format!("{}big.bin", dav.url)).await.unwrap();
    assert_eq!(got.status(), 200);
    let (mut expected, mut index, mut total) = (Vec::new(), 0u64, 0u64);
    while let Some(data) = got.chunk().await.unwrap() {
        total += data.len() as u64;
        expected.extend_from_slice(&data);
        while expected.len() >= 1 << 20 {
            let rest = expected.split_off(1 << 20);
            assert!(expected == chunk(index), "chunk {index} differs");
            expected = rest;
            index += 1;
        }
    }
    assert_eq!((total, index), (GIB, chunks));
    let peak = dav.peak_memory();
    eprintln!(
        "1 GiB over WebDAV: cairn webdav peak {} MiB after the PUT, {} MiB after the GET (from {} MiB)",
        after_put >> 20,
        peak >> 20,
        before >> 20
    );
    assert!(
        peak.saturating_sub(before) < CLIENT_BOUND,
        "cairn webdav grew by {} MiB",
        (peak - before) >> 20
    );
}

/// PUT of `size` bytes (the gigabyte's first chunks) to `url`, the body failing after
/// `cut_after` chunks when given.
async fn put_chunks(url: &str, size: u64, cut_after: Option<u64>) -> Option<u16> {
    let chunks = size >> 20;
    let body = futures_util::stream::iter((0..chunks).map(move |i| match cut_after {
        Some(cut) if i >= cut => Err(std::io::Error::other("the connection dropped")),
        _ => Ok(chunk(i)),
    }));
    let sent = reqwest::Client::new()
        .put(url)
        .header("Content-Length", size)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    sent.ok().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_cut_short_is_finished_by_the_next_put_of_the_file() {
    const SIZE: u64 = 256 << 20;
    let world = world(6, &[("--offline-after", "60s"), ("--repair-after", "120s")]);
    wait_online(world.pool.url(), 6).await;
    let dav = Dav::start(&world.client.home);

    // A whole PUT elsewhere: what one costs the peers.
    let before = world.traffic().await.0;
    let whole_put = put_chunks(&format!("{}whole.bin", dav.url), SIZE, None).await;
    assert_eq!(whole_put, Some(201));
    let whole = world.traffic().await.0 - before;

    // Cut at 75%, then sent again whole: the peers take only what they lacked (a
    // quarter, and the segments in flight at the cut).
    let before = world.traffic().await.0;
    let cut = put_chunks(
        &format!("{}big.bin", dav.url),
        SIZE,
        Some((SIZE * 3 / 4) >> 20),
    )
    .await;
    assert_ne!(cut, Some(201));
    let first = world.traffic().await.0 - before;
    let listed = listed(&reqwest::Client::new(), &dav.url).await;
    assert!(!listed.contains("big.bin"), "a cut PUT is listed: {listed}");
    let before = world.traffic().await.0;
    assert_eq!(
        put_chunks(&format!("{}big.bin", dav.url), SIZE, None).await,
        Some(201)
    );
    let second = world.traffic().await.0 - before;
    eprintln!("PUT of 256 MiB: whole {whole}; cut {first}, then {second}");
    assert!(
        second < whole * 6 / 10,
        "the PUT after a cut one sent {second} piece bytes; a whole one {whole}"
    );
    let mut got = reqwest::get(format!("{}big.bin", dav.url)).await.unwrap();
    let mut index = 0;
    let mut pending = Vec::new();
    while let Some(data) = got.chunk().await.unwrap() {
        pending.extend_from_slice(&data);
        while pending.len() >= 1 << 20 {
            let rest = pending.split_off(1 << 20);
            assert!(pending == chunk(index), "chunk {index} differs");
            pending = rest;
            index += 1;
        }
    }
    assert_eq!(index, SIZE >> 20);
}
